-- Stripe payments and received webhook events.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

create table public.payments (
  id bigint generated always as identity primary key,
  stripe_payment_intent_id text not null unique,
  stripe_checkout_session_id text unique,
  stripe_charge_id text unique,
  user_id uuid references public.users (id) on delete set null,
  pack_id text,
  amount_cents integer not null check (amount_cents >= 0),
  amount_refunded_cents integer not null default 0 check (amount_refunded_cents >= 0),
  currency text not null,
  credits_granted integer not null check (credits_granted >= 0),
  credits_clawed_back integer not null default 0,
  status text not null default 'paid'
    check (status in ('paid', 'partially_refunded', 'refunded', 'disputed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint payments_clawback_range
    check (credits_clawed_back between 0 and credits_granted)
);
comment on table public.payments is 'One row per Stripe payment that granted credits.';

create index payments_user_id_idx on public.payments (user_id);

create table public.stripe_webhook_events (
  id text primary key,
  type text not null,
  stripe_created timestamptz not null,
  status text not null default 'processed' check (status in ('processed', 'ignored', 'failed')),
  attempts integer not null default 1 check (attempts > 0),
  last_error text,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  updated_at timestamptz not null default now()
);
comment on table public.stripe_webhook_events is 'Every Stripe event received, and what became of it.';

create index stripe_webhook_events_status_idx on public.stripe_webhook_events (status, received_at);

alter table public.payments enable row level security;
alter table public.stripe_webhook_events enable row level security;
