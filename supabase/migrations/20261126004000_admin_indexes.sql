-- Indexes for the admin area: signups per day (metrics) and the input
-- retention job, which only looks at finished analyses that still hold input.
-- Plain `create index`: migrations run in one transaction per file, where
-- `concurrently` is impossible, and both tables are new in this release.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

-- squawk-ignore require-concurrent-index-creation
create index users_created_at_idx on public.users (created_at);

-- squawk-ignore require-concurrent-index-creation
create index analyses_input_retention_idx on public.analyses (finished_at)
  where input is not null and status in ('done', 'failed');
