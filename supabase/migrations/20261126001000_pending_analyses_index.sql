-- perform_action counts a user's unfinished analyses (queued + processing) on
-- every call; this small partial index keeps that count to a few entries
-- however long the user's history grows.
-- Plain `create index`: migrations run in one transaction per file, where
-- `concurrently` is impossible, and the table is new in this release.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

-- squawk-ignore require-concurrent-index-creation
create index analyses_user_pending_idx on public.analyses (user_id)
  where status in ('queued', 'processing');
