-- Daily admin metrics, recomputed from the source tables by pg_cron.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

create table public.admin_metrics (
  day date primary key,
  signups integer not null default 0,
  active_users integer not null default 0,
  actions_by_type jsonb not null default '{}'::jsonb,
  credits_spent bigint not null default 0,
  credits_purchased bigint not null default 0,
  credits_granted bigint not null default 0,
  revenue_cents jsonb not null default '{}'::jsonb,
  purchases integer not null default 0,
  active_subscriptions integer not null default 0,
  failed_analyses integer not null default 0,
  ai_prompt_tokens bigint not null default 0,
  ai_completion_tokens bigint not null default 0,
  computed_at timestamptz not null default now()
);
comment on table public.admin_metrics is 'One row per day, recomputed (never incremented) from source tables.';

alter table public.admin_metrics enable row level security;
