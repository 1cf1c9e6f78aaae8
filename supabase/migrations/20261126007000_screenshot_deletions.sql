-- Screenshots live in Supabase Storage, which only its API may delete from
-- (rows removed from storage.objects in SQL would leave the files). The database
-- decides what goes: a deleted account's whole folder, and a screenshot whose
-- analysis input retention purged. The worker deletes them through the Storage
-- API and removes the entry once done (private.claim_screenshot_deletions).
-- Not exposed (schema private) and granted to no one: only the functions reach it.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

create table private.screenshot_deletions (
  id bigint generated always as identity primary key,
  -- an object path in the screenshot bucket, or a folder: '<user id>/'
  path text not null check (path <> '' and path !~ '(^/|//|(^|/)\.\.?(/|$))'),
  -- whose screenshot (no foreign key: the account may be gone)
  user_id uuid,
  reason text not null check (reason in ('account_deleted', 'retention')),
  queued_at timestamptz not null default now(),
  attempts integer not null default 0,
  run_after timestamptz not null default now(),
  last_error text
);
comment on table private.screenshot_deletions is
  'Screenshots the worker still has to delete from Storage (API only: no SQL delete there).';

create index screenshot_deletions_run_after_idx on private.screenshot_deletions (run_after);
