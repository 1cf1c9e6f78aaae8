-- Schemas and default privileges.
-- `private` holds SECURITY DEFINER implementations and policy helpers; it is
-- not exposed by PostgREST. Nothing is executable or readable by the API roles
-- unless a later file grants it explicitly (functions by full signature).

set local lock_timeout = '5s';
set local statement_timeout = '60s';

create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

-- Per-schema default privileges cannot take away a global default, so the
-- implicit EXECUTE for PUBLIC is revoked globally for this owner.
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;
alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke all on sequences from anon, authenticated;
