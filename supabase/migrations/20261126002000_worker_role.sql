-- The analysis worker's own role: it may execute the worker functions and
-- nothing else, so a worker (or a provider response that tricks it) never
-- reads accounts, ledgers or payments. DATABASE_URL's role switches to it
-- with `set role flirt_worker`.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

do $$
begin
  -- roles are cluster-wide: another database of the cluster may have made it
  if not exists (select from pg_catalog.pg_roles where rolname = 'flirt_worker') then
    create role flirt_worker nologin noinherit;
  end if;
end
$$;

grant flirt_worker to postgres;
grant usage on schema private to flirt_worker;

