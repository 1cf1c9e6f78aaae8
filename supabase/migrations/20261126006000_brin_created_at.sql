-- The analyses and the ledger are appended in time order, and their created_at
-- is only ever searched by range (the admin metrics' days). A BRIN index answers
-- those ranges from a few pages of block summaries; a btree took one more entry,
-- on every action and every ledger row, on the hottest write path.
-- Plain `create index`: migrations run in one transaction per file, where
-- `concurrently` is impossible, and the tables are new in this release.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

-- squawk-ignore require-concurrent-index-creation
create index analyses_created_at_brin on public.analyses using brin (created_at);
-- squawk-ignore require-concurrent-index-creation
create index credits_transactions_created_at_brin on public.credits_transactions
  using brin (created_at);

-- squawk-ignore require-concurrent-index-deletion
drop index public.analyses_created_at_idx;
-- squawk-ignore require-concurrent-index-deletion
drop index public.credits_transactions_created_at_idx;
