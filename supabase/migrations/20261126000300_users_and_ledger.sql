-- Users (one per auth.users row) and the append-only credits ledger.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

create table public.users (
  id uuid primary key references auth.users (id) on delete cascade,
  email text,
  tier text not null references public.tiers (id),
  daily_credits integer not null default 0 check (daily_credits >= 0),
  -- below zero only after a refund/dispute clawback: a debt
  purchased_credits integer not null default 0,
  credits_remaining integer generated always as (daily_credits + purchased_credits) stored,
  daily_reset_on date not null,
  stripe_customer_id text unique,
  subscription_id text unique,
  subscription_status text,
  -- Stripe `created` of the newest subscription event applied (ordering guard)
  subscription_event_at timestamptz,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  restricted_reason text,
  role text not null default 'user' check (role in ('user', 'admin')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
) with (fillfactor = 80);
comment on table public.users is 'Account, credit buckets and billing state of each auth user.';

create index users_tier_idx on public.users (tier);
create index users_daily_reset_on_idx on public.users (daily_reset_on);

create table public.credits_transactions (
  id bigint generated always as identity primary key,
  user_id uuid references public.users (id) on delete set null,
  daily_delta integer not null default 0,
  purchased_delta integer not null default 0,
  kind text not null check (kind in (
    'signup_bonus', 'daily_reset', 'action', 'action_refund', 'purchase',
    'subscription_grant', 'admin_adjust', 'refund_clawback', 'dispute_clawback'
  )),
  balance_after integer not null,
  reference text,
  idempotency_key text,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
comment on table public.credits_transactions is
  'Append-only ledger: every change to a credit bucket writes exactly one row.';

create index credits_transactions_user_id_idx on public.credits_transactions (user_id, id);
create unique index credits_transactions_idempotency_key_idx
  on public.credits_transactions (idempotency_key) where idempotency_key is not null;
create index credits_transactions_created_at_idx on public.credits_transactions (created_at);

-- The ledger is append-only. The one update allowed is the anonymisation done
-- by `on delete set null` when an account is deleted.
create function private.guard_ledger_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE'
     and old.user_id is not null and new.user_id is null
     and (old.id, old.daily_delta, old.purchased_delta, old.kind, old.balance_after,
          old.reference, old.idempotency_key, old.metadata, old.created_at)
         is not distinct from
         (new.id, new.daily_delta, new.purchased_delta, new.kind, new.balance_after,
          new.reference, new.idempotency_key, new.metadata, new.created_at) then
    return new;
  end if;
  raise exception using
    errcode = '42501',
    message = 'ledger_append_only',
    hint = 'credits_transactions rows are never changed or deleted.';
end
$$;

create trigger credits_transactions_append_only
  before update or delete on public.credits_transactions
  for each row execute function private.guard_ledger_append_only();

alter table public.users enable row level security;
alter table public.credits_transactions enable row level security;
