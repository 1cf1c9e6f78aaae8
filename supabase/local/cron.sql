-- Local stack only (never part of the migrations). Hosted Supabase lets `postgres`, which
-- is not a superuser, enable pg_cron itself (supautils' privileged extensions) and then
-- grants it the cron schema. PostgreSQL alone lets only a superuser create pg_cron, so an
-- event trigger does the same here for pg_cron alone: when a non-superuser runs
-- `create extension … pg_cron`, the bootstrap superuser creates it first (the statement
-- then finds it there) and grants `postgres` what hosted Supabase grants. pg_cron itself
-- still allows only the database named by cron.database_name. Applied to every database.

-- Create pg_cron as the bootstrap superuser and give postgres the cron schema.
create or replace function extensions.enable_pg_cron() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  create extension if not exists pg_cron with schema pg_catalog;
  grant usage on schema cron to postgres with grant option;
  grant all on all tables in schema cron to postgres with grant option;
  grant all on all sequences in schema cron to postgres with grant option;
  grant execute on all functions in schema cron to postgres with grant option;
end
$$;
revoke all on function extensions.enable_pg_cron() from public;
grant execute on function extensions.enable_pg_cron() to postgres;

-- Event trigger: a non-superuser's CREATE EXTENSION of pg_cron goes through enable_pg_cron().
create or replace function extensions.create_privileged_extension() returns event_trigger
language plpgsql
set search_path = ''
as $$
begin
  if not (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user)
     and current_query() ~* 'create\s+extension\s+(if\s+not\s+exists\s+)?"?pg_cron\M' then
    perform extensions.enable_pg_cron();
  end if;
end
$$;
revoke all on function extensions.create_privileged_extension() from public;

drop event trigger if exists create_privileged_extension;
create event trigger create_privileged_extension on ddl_command_start
  when tag in ('CREATE EXTENSION')
  execute function extensions.create_privileged_extension();
