-- Screenshot uploads: a signed-in user may upload, read and delete objects of the
-- screenshot bucket ([storage] screenshot_bucket) only in their own folder `<user id>/`,
-- the only place perform_action accepts an image_path from. Uploads are one level deep
-- (`<user id>/<file name>`), as image_path must be. No update policy: a screenshot is
-- uploaded once under a fresh name, never overwritten (so no upsert either).
-- On hosted Supabase storage.objects belongs to supabase_storage_admin; postgres may
-- manage its policies (supautils.policy_grants) and nothing else, so this file only
-- creates policies there.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

-- The screenshot bucket's id (app_settings, synced from config.toml) for the policies below.
create or replace function private.screenshot_bucket() returns text
language sql
stable
security definer
set search_path = ''
as $$
  select s.value #>> '{}' from public.app_settings s where s.key = 'screenshot_bucket'
$$;
revoke all on function private.screenshot_bucket() from public;
grant execute on function private.screenshot_bucket() to authenticated, service_role;

create policy "Users upload screenshots only into their own folder" on storage.objects
  for insert to authenticated
  with check (
    bucket_id = (select private.screenshot_bucket())
    and split_part(name, '/', 1) = (select auth.uid())::text
    -- the file names perform_action accepts for image_path: [A-Za-z0-9._-], not . or ..
    and name ~ '^[^/]+/[A-Za-z0-9._-]+$'
    and split_part(name, '/', 2) not in ('.', '..')
  );

create policy "Users read only the screenshots in their own folder" on storage.objects
  for select to authenticated
  using (
    bucket_id = (select private.screenshot_bucket())
    and split_part(name, '/', 1) = (select auth.uid())::text
  );

create policy "Users delete only the screenshots in their own folder" on storage.objects
  for delete to authenticated
  using (
    bucket_id = (select private.screenshot_bucket())
    and split_part(name, '/', 1) = (select auth.uid())::text
  );
