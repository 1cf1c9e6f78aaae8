-- Screenshot cleanup: the database queues what must go from Storage, the worker deletes it
-- through the Storage API (pyworker.worker, ScreenshotStore.delete) and reports back.

-- A deleted account's folder, '<user id>/': every screenshot the user uploaded.
create or replace function private.queue_account_screenshots() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.screenshot_deletions (path, user_id, reason)
  values (old.id::text || '/', old.id, 'account_deleted');
  return old;
end
$$;

create or replace trigger on_user_deleted_queue_screenshots
  before delete on public.users
  for each row execute function private.queue_account_screenshots();

-- Take up to max_count due deletions. A screenshot that an analysis with a kept input
-- names again (uploaded anew under the same name) is no longer to be deleted: its entry
-- goes instead. Each claim also schedules the next try (5, 10, 20 … minutes, at most a
-- day): a worker that dies mid-way leaves nothing stuck, a failure is retried later.
create or replace function private.claim_screenshot_deletions(max_count integer default 5)
returns table (deletion_id bigint, path text, queued_at timestamptz, attempts integer)
language plpgsql
security definer
set search_path = ''
as $$
begin
  if max_count is null or max_count < 1 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('max_count', max_count), 'max_count must be positive.');
  end if;
  delete from private.screenshot_deletions d
   where d.id in (
     select q.id from private.screenshot_deletions q
      where q.run_after <= now() and q.reason = 'retention'
        and exists (select from public.analyses b
                     where b.user_id = q.user_id and b.input ->> 'image_path' = q.path)
        for update skip locked);
  return query
  with due as (
    select d.id from private.screenshot_deletions d
     where d.run_after <= now()
     order by d.run_after, d.id
     limit max_count
       for update skip locked
  )
  update private.screenshot_deletions d
     set attempts = d.attempts + 1,
         run_after = now() + least(make_interval(mins => 5) * power(2, least(d.attempts, 9)),
                                   interval '1 day')
    from due
   where d.id = due.id
  returning d.id, d.path, d.queued_at, d.attempts;
end
$$;
grant execute on function private.claim_screenshot_deletions(integer) to service_role, flirt_worker;

-- Report one claimed deletion: done (error null: the entry goes) or failed (kept for the
-- retry its claim scheduled). True when the entry was there.
create or replace function private.finish_screenshot_deletion(deletion_id bigint, error text default null)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  if error is null then
    delete from private.screenshot_deletions d where d.id = deletion_id;
  else
    update private.screenshot_deletions d
       set last_error = left(error, 500)
     where d.id = deletion_id;
  end if;
  return found;
end
$$;
grant execute on function private.finish_screenshot_deletion(bigint, text) to service_role, flirt_worker;

-- The screenshot bucket's id (app_settings, synced from config.toml); the Storage policies
-- on storage.objects (migration 20261205005100) compare bucket_id with it.
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
