-- Disputes on any charge of a user's Stripe customer (credit pack or
-- subscription invoice), refunds of subscription charges, and webhook events
-- rejected because they did not pay a pack's price.
-- Not exposed (schema private) and granted to no one: only the billing
-- functions (service_role) reach the new tables.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

-- 'rejected': a payment event acknowledged to Stripe that granted nothing (see outcome).
-- The new check only widens the old one, which every existing row satisfies: it is added
-- NOT VALID (no scan of the table under its lock) and holds for every row written from now.
-- squawk-ignore ban-drop-constraint
alter table public.stripe_webhook_events drop constraint stripe_webhook_events_status_check;
alter table public.stripe_webhook_events
  add constraint stripe_webhook_events_status_check
  check (status in ('processed', 'ignored', 'rejected', 'failed')) not valid;

create table private.disputes (
  id text primary key,                 -- Stripe dispute id (dp_…)
  user_id uuid references public.users (id) on delete set null,
  stripe_charge_id text not null,
  stripe_payment_intent_id text,
  payment_id bigint references public.payments (id),  -- null: not a credit pack payment
  amount_cents integer not null check (amount_cents >= 0),
  currency text not null,
  reason text not null,                -- Stripe's reason (fraudulent, duplicate, …)
  status text not null,                -- Stripe's dispute status (needs_response, won, lost, …)
  -- the users.restricted_reason this dispute set (null: the account was restricted already)
  restriction text,
  created_at timestamptz not null default now(),
  closed_at timestamptz,
  updated_at timestamptz not null default now()
);
comment on table private.disputes is
  'Every Stripe dispute of a user''s charge, and the account restriction it set.';

create index disputes_user_id_idx on private.disputes (user_id);

create table private.subscription_refunds (
  stripe_charge_id text primary key,
  user_id uuid references public.users (id) on delete set null,
  stripe_customer_id text,
  stripe_payment_intent_id text,
  amount_cents integer not null check (amount_cents >= 0),
  -- cumulative, as Stripe reports it; never moves down when events arrive out of order
  amount_refunded_cents integer not null check (amount_refunded_cents >= 0),
  currency text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table private.subscription_refunds is
  'Refunded charges that bought no credit pack (subscription invoices): recorded, nothing clawed back.';

create index subscription_refunds_user_id_idx on private.subscription_refunds (user_id);
