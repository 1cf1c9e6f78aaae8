-- Shared helpers: API errors, settings, the credit day, admin check.
-- Re-applied on every `db migrate` (CREATE OR REPLACE), like repeatable migrations.

-- Raise an error PostgREST turns into HTTP `status`: message = stable code, detail = JSON.
create or replace function private.raise_api_error(
  status integer, code text, detail jsonb default '{}'::jsonb, hint text default null
) returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception using
    errcode = 'PT' || status::text,
    message = code,
    detail = coalesce(detail, '{}'::jsonb)::text,
    hint = coalesce(hint, code);
end
$$;
grant execute on function private.raise_api_error(integer, text, jsonb, text) to authenticated, service_role;

-- One run-time setting from app_settings (synced from config.toml).
-- Helpers and the public RPC wrappers are plpgsql: a SQL function that pins search_path is
-- planned again at each call.
create or replace function private.setting(setting_key text) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return (select s.value from public.app_settings s where s.key = setting_key);
end
$$;
grant execute on function private.setting(text) to authenticated, service_role;

-- A setting every install has (config sync writes it from config.toml, the one place its
-- value is written): raises, naming the fix, when app_settings lacks it.
create or replace function private.required_setting(setting_key text) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_value jsonb := private.setting(setting_key);
begin
  if v_value is null then
    raise exception 'app_settings.% is not set', setting_key
      using hint = 'Run `flirt-admin config sync` (or `db migrate`) to write config.toml.';
  end if;
  return v_value;
end
$$;
grant execute on function private.required_setting(text) to authenticated, service_role;

-- The credit day containing `at`: local date in reset.timezone of at - reset.hour hours.
create or replace function private.credit_day(at timestamptz default now()) returns date
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return ((at - make_interval(hours => (private.setting('reset_hour') #>> '{}')::integer))
          at time zone (private.setting('reset_timezone') #>> '{}'))::date;
end
$$;
grant execute on function private.credit_day(timestamptz) to authenticated, service_role;

-- The first instant at which the credit day is later than `day`.
create or replace function private.next_reset_at(day date) returns timestamptz
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  -- local midnight after `day`, plus reset.hour, read in reset.timezone
  return ((day + 1)::timestamp at time zone (private.setting('reset_timezone') #>> '{}'))
         + make_interval(hours => (private.setting('reset_hour') #>> '{}')::integer);
end
$$;
grant execute on function private.next_reset_at(date) to authenticated, service_role;

-- True when the caller's JWT belongs to an admin user (used by policies and admin RPCs).
create or replace function private.is_admin() returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.users u where u.id = (select auth.uid()) and u.role = 'admin'
  )
$$;
grant execute on function private.is_admin() to authenticated, service_role;

-- The advisory lock key of the queue gate: perform_action holds it shared while it may
-- skip its NOTIFY, claim_analyses takes it exclusively before its second pass.
create or replace function private.queue_gate_lock_key() returns bigint
language sql
immutable
parallel safe
set search_path = ''
as $$
  select 7346150001::bigint
$$;
grant execute on function private.queue_gate_lock_key() to authenticated, service_role, flirt_worker;
