-- Typed RPC results: the user-facing RPCs return composite types or tables
-- instead of jsonb, so that the generated database.types.ts describes every
-- result (supabase/types/database.types.ts). PostgREST renders a composite as
-- a JSON object and a `returns table` as an array of rows, with the same field
-- names as before.
--
-- The RPCs that return one row whose fields are never null (get_credits,
-- perform_action, delete_saved_reply, admin_adjust_credits) are `returns table`
-- (the generator types those columns as not null; clients call `.single()`);
-- their private implementations return the row types below, in `private`.
-- The others return the composite types below, in `public` so that the
-- generator lists them under CompositeTypes.
--
-- A function's return type cannot be changed in place: the old jsonb versions
-- are dropped here and supabase/functions_sql recreates them (with grants) in
-- the same `db migrate`.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

-- squawk-ignore-file ban-drop-function
-- The same names, parameters and field names; the four `returns table` RPCs now answer
-- an array of one row (supabase-js: `.single()`).
drop function if exists public.get_credits();
drop function if exists private.get_credits();
drop function if exists public.perform_action(text, jsonb, text);
drop function if exists private.perform_action(text, jsonb, text);
drop function if exists public.get_history(integer, text);
drop function if exists private.get_history(integer, text);
drop function if exists public.get_analysis(uuid);
drop function if exists private.get_analysis(uuid);
drop function if exists public.save_reply(uuid, text);
drop function if exists private.save_reply(uuid, text);
drop function if exists public.get_saved_replies(integer, text);
drop function if exists private.get_saved_replies(integer, text);
drop function if exists public.delete_saved_reply(uuid);
drop function if exists private.delete_saved_reply(uuid);
drop function if exists public.admin_get_metrics(date, date);
drop function if exists private.admin_get_metrics(date, date);
drop function if exists public.admin_list_users(text, text, integer, integer);
drop function if exists private.admin_list_users(text, text, integer, integer);
drop function if exists public.admin_adjust_credits(uuid, integer, text);
drop function if exists private.admin_adjust_credits(uuid, integer, text);
drop function if exists public.export_my_data();
drop function if exists private.export_my_data();
drop function if exists private.export_user_data(uuid);

-- ---------------------------------------------------------------------------
-- Rows of the `returns table` RPCs (private: the public RPCs list their columns)
-- ---------------------------------------------------------------------------

-- get_credits
create type private.credit_balance as (
  credits_remaining integer,
  daily_credits integer,
  purchased_credits integer,
  daily_limit integer,
  tier text,
  next_reset_at timestamptz,
  restricted boolean
);

-- perform_action
create type private.action_receipt as (
  analysis_id uuid,
  status text,
  cost integer,
  credits_remaining integer,
  daily_credits integer,
  purchased_credits integer,
  replayed boolean
);

-- delete_saved_reply
create type private.deleted_reply as (
  id uuid,
  deleted boolean
);

-- admin_adjust_credits
create type private.credit_adjustment as (
  user_id uuid,
  delta integer,
  transaction_id bigint,
  daily_credits integer,
  purchased_credits integer,
  credits_remaining integer
);

-- ---------------------------------------------------------------------------
-- Results rendered as objects (public: the generator lists them)
-- ---------------------------------------------------------------------------

-- get_analysis: one analysis in full (input, result and usage are JSON documents).
create type public.analysis_detail as (
  analysis_id uuid,
  action_type text,
  status text,
  cost integer,
  input jsonb,
  result jsonb,
  error text,
  model text,
  usage jsonb,
  created_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz
);

-- get_history: one analysis in the list.
create type public.history_item as (
  analysis_id uuid,
  action_type text,
  status text,
  cost integer,
  created_at timestamptz,
  finished_at timestamptz
);

-- get_history: one page; next_cursor is null on the last page.
create type public.history_page as (
  items public.history_item[],
  next_cursor text
);

-- save_reply, get_saved_replies: one saved reply.
create type public.saved_reply as (
  id uuid,
  analysis_id uuid,
  reply text,
  created_at timestamptz
);

-- get_saved_replies: one page; next_cursor is null on the last page.
create type public.saved_replies_page as (
  items public.saved_reply[],
  next_cursor text
);

-- admin_list_users: one account.
create type public.admin_user as (
  id uuid,
  email text,
  tier text,
  role text,
  daily_credits integer,
  purchased_credits integer,
  credits_remaining integer,
  subscription_status text,
  restricted_reason text,
  created_at timestamptz
);

-- admin_list_users: one page and the number of matching accounts.
create type public.admin_users_page as (
  items public.admin_user[],
  total bigint,
  page_size integer,
  page_offset integer
);

-- admin_get_metrics: sums over the range; the two maps are {action_type|currency: number}.
create type public.admin_metrics_totals as (
  signups bigint,
  credits_spent bigint,
  credits_purchased bigint,
  credits_granted bigint,
  purchases bigint,
  failed_analyses bigint,
  ai_prompt_tokens bigint,
  ai_completion_tokens bigint,
  actions_by_type jsonb,
  revenue_cents jsonb
);

-- admin_get_metrics: the days of the range (admin_metrics rows) and their totals.
create type public.admin_metrics_report as (
  from_date date,
  to_date date,
  days public.admin_metrics[],
  totals public.admin_metrics_totals
);

-- export_my_data: everything stored about the caller, as table rows.
create type public.data_export as (
  exported_at timestamptz,
  account public.users,
  credits_transactions public.credits_transactions[],
  analyses public.analyses[],
  saved_replies public.saved_replies[],
  payments public.payments[]
);

-- Types are usable by PUBLIC by default; say who needs them instead.
revoke all on type private.credit_balance, private.action_receipt, private.deleted_reply,
  private.credit_adjustment from public;
grant usage on type private.credit_balance, private.action_receipt, private.deleted_reply,
  private.credit_adjustment to authenticated, service_role;
revoke all on type public.analysis_detail, public.history_item, public.history_page,
  public.saved_reply, public.saved_replies_page, public.admin_user, public.admin_users_page,
  public.admin_metrics_totals, public.admin_metrics_report, public.data_export from public;
grant usage on type public.analysis_detail, public.history_item, public.history_page,
  public.saved_reply, public.saved_replies_page, public.admin_user, public.admin_users_page,
  public.admin_metrics_totals, public.admin_metrics_report, public.data_export
  to authenticated, service_role;
