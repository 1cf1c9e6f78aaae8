-- Configuration tables, synced from config.toml by `flirt-admin config sync`.
-- Readable by everyone (the frontend shows tiers and prices), writable by none.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

create table public.tiers (
  id text primary key check (id ~ '^[a-z][a-z0-9_]{0,31}$'),
  name text not null check (length(name) between 1 and 100),
  daily_credits integer not null check (daily_credits >= 0),
  stripe_price_id text unique,
  sort_order integer not null default 0,
  active boolean not null default true
);
comment on table public.tiers is 'Subscription tiers and their daily credit allowance.';

create table public.action_costs (
  action_type text primary key check (action_type ~ '^[a-z][a-z0-9_]{0,31}$'),
  cost integer not null check (cost > 0),
  max_input_chars integer not null check (max_input_chars >= 0),
  enabled boolean not null default true
);
comment on table public.action_costs is 'Credit cost and input limit of each analysis action.';

create table public.credit_packs (
  id text primary key check (id ~ '^[a-z][a-z0-9_]{0,31}$'),
  name text not null check (length(name) between 1 and 100),
  credits integer not null check (credits > 0),
  bonus_credits integer not null default 0 check (bonus_credits >= 0),
  price_cents integer not null check (price_cents > 0),
  currency text not null check (currency ~ '^[a-z]{3}$'),
  stripe_price_id text unique,
  active boolean not null default true
);
comment on table public.credit_packs is 'One-off credit packs sold through Stripe.';

create table public.app_settings (
  key text primary key,
  value jsonb not null
);
comment on table public.app_settings is 'Run-time settings the SQL needs, synced from config.toml.';

alter table public.tiers enable row level security;
alter table public.action_costs enable row level security;
alter table public.credit_packs enable row level security;
alter table public.app_settings enable row level security;
