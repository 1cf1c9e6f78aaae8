-- Idempotency keys are optional: most analyses have none. A partial unique
-- index enforces "unique per user" for the rows that carry a key and leaves
-- the others out, so queuing an analysis maintains one index entry fewer.
-- Plain `create index`: migrations run in one transaction per file, where
-- `concurrently` is impossible, and the table is new in this release.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

-- squawk-ignore require-concurrent-index-creation
create unique index analyses_user_idempotency_key_idx on public.analyses (user_id, idempotency_key)
  where idempotency_key is not null;

-- The guarantee stays: the index above enforces the same uniqueness (rows
-- without a key were never constrained, NULLs being distinct).
-- squawk-ignore ban-drop-constraint
alter table public.analyses drop constraint analyses_idempotency_key_unique;
