-- Analyses: the work queue and the user's history, plus saved replies.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

create table public.analyses (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.users (id) on delete cascade,
  action_type text not null,
  cost integer not null check (cost >= 0),
  daily_cost integer not null default 0 check (daily_cost >= 0),
  purchased_cost integer not null default 0 check (purchased_cost >= 0),
  input jsonb,
  status text not null default 'queued'
    check (status in ('queued', 'processing', 'done', 'failed')),
  result jsonb,
  error text,
  attempts integer not null default 0 check (attempts >= 0),
  max_attempts integer not null default 3 check (max_attempts > 0),
  run_after timestamptz not null default now(),
  locked_by text,
  locked_until timestamptz,
  model text,
  prompt_version text,
  usage jsonb,
  refunded_at timestamptz,
  input_purged_at timestamptz,
  idempotency_key text check (length(idempotency_key) between 1 and 200),
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  constraint analyses_cost_split check (daily_cost + purchased_cost = cost),
  constraint analyses_idempotency_key_unique unique (user_id, idempotency_key)
);
comment on table public.analyses is 'Analysis queue and history; written only by the service.';

create index analyses_user_history_idx on public.analyses (user_id, created_at desc, id desc);
create index analyses_queued_idx on public.analyses (run_after) where status = 'queued';
create index analyses_processing_idx on public.analyses (locked_until) where status = 'processing';
create index analyses_created_at_idx on public.analyses (created_at);

create table public.saved_replies (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.users (id) on delete cascade,
  analysis_id uuid references public.analyses (id) on delete set null,
  reply text not null check (char_length(reply) between 1 and 2000),
  created_at timestamptz not null default now()
);
comment on table public.saved_replies is 'Replies a user kept from an analysis.';

-- md5: a 2000-character reply can exceed the btree entry size limit.
create unique index saved_replies_dedup_idx
  on public.saved_replies (user_id, analysis_id, md5(reply)) nulls not distinct;
create index saved_replies_user_list_idx on public.saved_replies (user_id, created_at desc, id desc);
create index saved_replies_analysis_id_idx on public.saved_replies (analysis_id);

alter table public.analyses enable row level security;
alter table public.saved_replies enable row level security;

-- The frontend watches its own analyses finish through Realtime.
alter publication supabase_realtime add table public.analyses;
