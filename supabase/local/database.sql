-- Local stack only (never part of the migrations): what a hosted Supabase
-- database provides before the project's migrations run. Applied by the
-- bootstrap superuser to each local database; idempotent.

create schema if not exists extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;

-- auth: owned by Supabase's auth role, as on hosted Supabase.
create schema if not exists auth authorization supabase_auth_admin;
grant usage on schema auth to postgres, anon, authenticated, service_role;

create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key,
  aud varchar(255) default 'authenticated',
  role varchar(255) default 'authenticated',
  email varchar(255) unique,
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  phone text unique,
  raw_app_meta_data jsonb default '{}'::jsonb,
  raw_user_meta_data jsonb default '{}'::jsonb,
  is_anonymous boolean not null default false,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  deleted_at timestamptz
);
alter table auth.users owner to supabase_auth_admin;
grant all on auth.users to postgres with grant option;
grant all on auth.users to service_role;

-- The same definitions Supabase ships: claims come from request.jwt.claims.
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;
grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to postgres, anon, authenticated, service_role;

-- storage: buckets and objects, owned by Supabase's storage role.
create schema if not exists storage authorization supabase_storage_admin;
grant usage on schema storage to postgres, anon, authenticated, service_role;
create table if not exists storage.buckets (
  id text primary key,
  name text not null unique,
  owner uuid,
  public boolean default false,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
create table if not exists storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets (id),
  name text,
  owner uuid,
  metadata jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  unique (bucket_id, name)
);
-- hosted Supabase's upload limits of a bucket (older local clusters lack them)
alter table storage.buckets add column if not exists file_size_limit bigint;
alter table storage.buckets add column if not exists allowed_mime_types text[];
alter table storage.buckets owner to supabase_storage_admin;
alter table storage.objects owner to supabase_storage_admin;
alter table storage.objects enable row level security;
-- Supabase's grants: the API roles get all on storage tables (RLS decides), and postgres
-- gets them with grant option, not ownership (supabase/postgres migrations 20250623125453
-- and 20250709135250; membership in supabase_storage_admin was revoked in 20240606060239).
grant usage on schema storage to postgres with grant option;
grant all on storage.buckets, storage.objects to postgres with grant option;
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;

-- Hosted Supabase lets postgres manage the policies of storage.objects without owning it
-- (supautils.policy_grants, a server hook this cluster lacks). Locally postgres gets that
-- through the owner's role, and the event triggers below refuse whatever else the owner's
-- rights would let it do in storage, with the error hosted Supabase gives: a migration
-- that alters storage tables fails here first. (roles.sql grants the role.)
create schema if not exists supabase_local;
revoke all on schema supabase_local from public;

create or replace function supabase_local.storage_policy_grants_only() returns event_trigger
language plpgsql
set search_path = ''
as $$
declare
  cmd record;
begin
  if session_user::text <> 'postgres' then
    return;
  end if;
  for cmd in select * from pg_catalog.pg_event_trigger_ddl_commands() loop
    if cmd.schema_name = 'storage'
       and cmd.command_tag not in ('CREATE POLICY', 'ALTER POLICY', 'DROP POLICY',
                                   'CREATE TRIGGER', 'GRANT', 'REVOKE') then
      raise exception 'must be owner of %', cmd.object_identity
        using errcode = '42501',
              hint = 'On hosted Supabase postgres may only manage policies in storage.';
    end if;
  end loop;
end
$$;

create or replace function supabase_local.storage_drops_policies_only() returns event_trigger
language plpgsql
set search_path = ''
as $$
declare
  obj record;
begin
  if session_user::text <> 'postgres' then
    return;
  end if;
  for obj in select * from pg_catalog.pg_event_trigger_dropped_objects() loop
    if obj.schema_name = 'storage' and obj.object_type not in ('policy', 'trigger') then
      raise exception 'must be owner of %', obj.object_identity
        using errcode = '42501',
              hint = 'On hosted Supabase postgres may only manage policies in storage.';
    end if;
  end loop;
end
$$;

drop event trigger if exists supabase_local_storage_ddl;
create event trigger supabase_local_storage_ddl on ddl_command_end
  execute function supabase_local.storage_policy_grants_only();
drop event trigger if exists supabase_local_storage_drop;
create event trigger supabase_local_storage_drop on sql_drop
  execute function supabase_local.storage_drops_policies_only();

-- Realtime's publication belongs to postgres on hosted Supabase.
do $$
begin
  if not exists (select from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;
alter publication supabase_realtime owner to postgres;

-- Hosted Supabase's default privileges: new objects in public are open to the
-- API roles, and each migration must take back what it does not mean to give.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
