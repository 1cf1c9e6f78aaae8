-- pg_cron jobs. Scheduled by `config sync` (intervals come from config.toml)
-- when pg_cron is installed in this database; re-scheduling is idempotent.

-- The daily reset loop, as the one command both pg_cron and `flirt-admin reset-daily` run.
-- A DO block rather than a procedure: it COMMITs after each batch so no batch holds row
-- locks for long, and PostgreSQL allows COMMIT in a procedure only without
-- `SET search_path`, which every stored routine here must have. The block names
-- everything schema-qualified and runs as whoever sends it (pg_cron: the job owner).
-- batch_size null: reset.batch_size; progress: each batch as a NOTICE (the CLI's
-- progress bar) instead of a server LOG line. The last NOTICE is the summary.
create or replace function private.daily_reset_command(
  batch_size integer default null, progress boolean default false
) returns text
language sql
immutable
set search_path = ''
as $fn$
  select format($job$do $reset$
declare
  v_day date := private.credit_day(now());
  v_batch integer := coalesce(%s, private.required_setting('reset_batch_size')::integer);
  v_n integer;
  v_users bigint := 0;
  v_batches integer := 0;
  v_started timestamptz;
begin
  loop
    v_started := clock_timestamp();
    v_n := private.reset_due_users(v_day, v_batch);
    commit;
    exit when v_n = 0;
    v_users := v_users + v_n;
    v_batches := v_batches + 1;
    raise %s 'daily_reset_batch day=%% rows=%% ms=%%', v_day, v_n,
      round(extract(epoch from clock_timestamp() - v_started) * 1000, 1);
  end loop;
  raise notice 'daily_reset day=%% users=%% batches=%%', v_day, v_users, v_batches;
end
$reset$$job$,
    coalesce(batch_size::text, 'null'),
    case when progress then 'notice' else 'log' end)
$fn$;
grant execute on function private.daily_reset_command(integer, boolean) to service_role;

-- The flirt_* jobs: name, schedule and the exact command pg_cron runs (one definition).
create or replace function private.cron_jobs(reset_every_minutes integer)
returns table (jobname text, schedule text, command text)
language sql
immutable
set search_path = ''
as $fn$
  values
    ('flirt_daily_reset', format('*/%s * * * *', reset_every_minutes),
     private.daily_reset_command()),
    ('flirt_reap_expired_leases', '* * * * *', 'select private.reap_expired_leases()'),
    ('flirt_refresh_metrics', '*/10 * * * *',
     'select private.refresh_admin_metrics(current_date - 1, current_date)'),
    ('flirt_retention', '17 3 * * *', 'select private.purge_expired_inputs()')
$fn$;
grant execute on function private.cron_jobs(integer) to service_role;

-- Schedule (or re-schedule) every flirt_* job where pg_cron is enabled; returns the job names.
create or replace function private.schedule_jobs(reset_every_minutes integer) returns text[]
language plpgsql
set search_path = ''
as $$
declare
  v_job record;
  v_names text[] := '{}'::text[];
begin
  if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
    return v_names;
  end if;
  for v_job in select * from private.cron_jobs(reset_every_minutes) loop
    -- cron.schedule(name, …) updates a job of the same name in place. Named at run time:
    -- the cron schema exists only where pg_cron is enabled, and this function is created
    -- (and checked by plpgsql_check) in every database.
    execute format('select %I.schedule($1, $2, $3)', 'cron')
      using v_job.jobname, v_job.schedule, v_job.command;
    v_names := v_names || v_job.jobname;
  end loop;
  return v_names;
end
$$;
