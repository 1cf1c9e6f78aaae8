-- Admin area: who may administer, the admin RPCs, the daily metrics roll-up and the
-- CLI's account views.
--
-- Admin RPCs answer admin users (users.role = 'admin', through PostgREST) and
-- the service role (the CLI, or PostgREST with the service key); everyone
-- else gets PT403 forbidden. Metrics days are UTC dates.

-- ---------------------------------------------------------------------------
-- Who may administer
-- ---------------------------------------------------------------------------

-- True for the service role (SET ROLE or a service-role JWT) and for admin users.
create or replace function private.is_admin_or_service() returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  -- SECURITY DEFINER changes current_user, not the session's `role` setting,
  -- which is what the CLI (`set role`) and PostgREST (`set local role`) set.
  select coalesce(current_setting('role', true), '') = 'service_role'
      or coalesce(auth.role(), '') = 'service_role'
      or private.is_admin()
$$;
grant execute on function private.is_admin_or_service() to authenticated, service_role;

-- Raise PT403 forbidden unless the caller is an admin user or the service role.
create or replace function private.require_admin() returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not private.is_admin_or_service() then
    perform private.raise_api_error(403, 'forbidden', '{}'::jsonb,
      'Only administrators can do this.');
  end if;
end
$$;
grant execute on function private.require_admin() to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Metrics
-- ---------------------------------------------------------------------------

-- Raise PT400 invalid_input unless from_date..to_date is a range of at most 366 days.
create or replace function private.check_date_range(from_date date, to_date date) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if from_date is null or to_date is null or from_date > to_date or to_date - from_date > 365 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'from_date', 'from_date', from_date, 'to_date', to_date,
                         'max_days', 366),
      'from_date and to_date must be set, from_date <= to_date, at most 366 days apart.');
  end if;
end
$$;
grant execute on function private.check_date_range(date, date) to authenticated, service_role;

-- Recompute admin_metrics for every UTC day in the range (up to today); returns the days written.
create or replace function private.refresh_admin_metrics(from_date date, to_date date)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_today date := (pg_catalog.now() at time zone 'utc')::date;
  v_last date := least(to_date, v_today);
  v_lo timestamptz := from_date::timestamp at time zone 'utc';
  v_hi timestamptz := (least(to_date, v_today) + 1)::timestamp at time zone 'utc';
  v_subscriptions integer;
  v_days integer;
begin
  perform private.check_date_range(from_date, to_date);
  if from_date > v_last then
    return 0;
  end if;

  -- Subscriptions have no history table: this is a snapshot, kept for days
  -- that are over (see the `on conflict` below).
  select count(*) into v_subscriptions
    from public.users u
   where u.subscription_status in ('active', 'trialing');

  with days as (
    select g::date as day
      from pg_catalog.generate_series(from_date::timestamp, v_last::timestamp, interval '1 day') g
  ), signups as (
    select (u.created_at at time zone 'utc')::date as day, count(*) as n
      from public.users u
     where u.created_at >= v_lo and u.created_at < v_hi
     group by 1
  ), analyses_grouped as (
    -- one scan: per day (action_type rolled up) and per day and action_type
    select (a.created_at at time zone 'utc')::date as day, a.action_type,
           grouping(a.action_type) = 1 as whole_day,
           count(*) as n,
           count(distinct a.user_id) as active_users,
           count(*) filter (where a.status = 'failed') as failed,
           coalesce(sum(case when jsonb_typeof(a.usage -> 'prompt_tokens') = 'number'
                             then (a.usage ->> 'prompt_tokens')::numeric end), 0) as prompt_tokens,
           coalesce(sum(case when jsonb_typeof(a.usage -> 'completion_tokens') = 'number'
                             then (a.usage ->> 'completion_tokens')::numeric end), 0)
             as completion_tokens
      from public.analyses a
     where a.created_at >= v_lo and a.created_at < v_hi
     group by grouping sets (((a.created_at at time zone 'utc')::date),
                             ((a.created_at at time zone 'utc')::date, a.action_type))
  ), analyses_by_day as (
    select g.* from analyses_grouped g where g.whole_day
  ), actions as (
    select g.day, jsonb_object_agg(g.action_type, g.n order by g.action_type) as by_type
      from analyses_grouped g
     where not g.whole_day
     group by 1
  ), ledger as (
    select (t.created_at at time zone 'utc')::date as day,
           -coalesce(sum(t.daily_delta + t.purchased_delta)
                       filter (where t.kind in ('action', 'action_refund')), 0) as spent,
           coalesce(sum(t.purchased_delta) filter (where t.kind = 'purchase'), 0) as purchased,
           coalesce(sum(greatest(t.daily_delta + t.purchased_delta, 0))
                       filter (where t.kind in ('signup_bonus', 'daily_reset',
                                                'subscription_grant', 'admin_adjust')), 0)
             as granted
      from public.credits_transactions t
     where t.created_at >= v_lo and t.created_at < v_hi
     group by 1
  ), payments_by_currency as (
    select (p.created_at at time zone 'utc')::date as day, p.currency,
           sum(p.amount_cents) as cents, count(*) as n
      from public.payments p
     where p.created_at >= v_lo and p.created_at < v_hi
     group by 1, 2
  ), revenue as (
    select r.day, jsonb_object_agg(r.currency, r.cents order by r.currency) as cents,
           sum(r.n) as purchases
      from payments_by_currency r
     group by 1
  ), written as (
    insert into public.admin_metrics as m
      (day, signups, active_users, actions_by_type, credits_spent, credits_purchased,
       credits_granted, revenue_cents, purchases, active_subscriptions, failed_analyses,
       ai_prompt_tokens, ai_completion_tokens, computed_at)
    select d.day, coalesce(s.n, 0), coalesce(a.active_users, 0), coalesce(x.by_type, '{}'),
           coalesce(l.spent, 0), coalesce(l.purchased, 0), coalesce(l.granted, 0),
           coalesce(r.cents, '{}'), coalesce(r.purchases, 0), v_subscriptions,
           coalesce(a.failed, 0), coalesce(a.prompt_tokens, 0), coalesce(a.completion_tokens, 0),
           pg_catalog.now()
      from days d
      left join signups s on s.day = d.day
      left join analyses_by_day a on a.day = d.day
      left join actions x on x.day = d.day
      left join ledger l on l.day = d.day
      left join revenue r on r.day = d.day
    on conflict (day) do update
      set signups = excluded.signups,
          active_users = excluded.active_users,
          actions_by_type = excluded.actions_by_type,
          credits_spent = excluded.credits_spent,
          credits_purchased = excluded.credits_purchased,
          credits_granted = excluded.credits_granted,
          revenue_cents = excluded.revenue_cents,
          purchases = excluded.purchases,
          -- a day that is over keeps the last snapshot taken while it was current
          active_subscriptions = case when m.day < v_today then m.active_subscriptions
                                      else excluded.active_subscriptions end,
          failed_analyses = excluded.failed_analyses,
          ai_prompt_tokens = excluded.ai_prompt_tokens,
          ai_completion_tokens = excluded.ai_completion_tokens,
          computed_at = excluded.computed_at
    returning 1
  )
  select count(*) into v_days from written;
  return v_days;
end
$$;
grant execute on function private.refresh_admin_metrics(date, date) to service_role;

-- Metrics for a UTC date range: days not yet computed after they ended are recomputed first.
create or replace function private.admin_get_metrics(from_date date, to_date date)
returns public.admin_metrics_report
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_day date;
  v_days public.admin_metrics[];
  v_totals public.admin_metrics_totals;
begin
  perform private.require_admin();
  perform private.check_date_range(from_date, to_date);

  for v_day in
    select g::date
      from pg_catalog.generate_series(from_date::timestamp,
             least(to_date, (pg_catalog.now() at time zone 'utc')::date)::timestamp,
             interval '1 day') g
     where not exists (
       select from public.admin_metrics m
        where m.day = g::date and m.computed_at >= (g::date + 1)::timestamp at time zone 'utc'
     )
  loop
    perform private.refresh_admin_metrics(v_day, v_day);
  end loop;

  select coalesce(array_agg(m order by m.day), '{}') into v_days
    from public.admin_metrics m
   where m.day between from_date and to_date;

  select coalesce(sum(m.signups), 0)::bigint,
         coalesce(sum(m.credits_spent), 0)::bigint,
         coalesce(sum(m.credits_purchased), 0)::bigint,
         coalesce(sum(m.credits_granted), 0)::bigint,
         coalesce(sum(m.purchases), 0)::bigint,
         coalesce(sum(m.failed_analyses), 0)::bigint,
         coalesce(sum(m.ai_prompt_tokens), 0)::bigint,
         coalesce(sum(m.ai_completion_tokens), 0)::bigint,
         coalesce((
          select jsonb_object_agg(k, n order by k) from (
            select e.key as k, sum(e.value::bigint) as n
              from public.admin_metrics m2, jsonb_each_text(m2.actions_by_type) e
             where m2.day between from_date and to_date group by 1) t), '{}'),
         coalesce((
          select jsonb_object_agg(k, n order by k) from (
            select e.key as k, sum(e.value::bigint) as n
              from public.admin_metrics m2, jsonb_each_text(m2.revenue_cents) e
             where m2.day between from_date and to_date group by 1) t), '{}')
    into v_totals
    from public.admin_metrics m
   where m.day between from_date and to_date;

  return row(from_date, to_date, v_days, v_totals)::public.admin_metrics_report;
end
$$;
grant execute on function private.admin_get_metrics(date, date) to authenticated, service_role;

-- Daily metrics between two UTC dates (admins and service role only).
create or replace function public.admin_get_metrics(from_date date, to_date date)
returns public.admin_metrics_report
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return private.admin_get_metrics(from_date, to_date);
end
$$;
revoke all on function public.admin_get_metrics(date, date) from public, anon;
grant execute on function public.admin_get_metrics(date, date) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Users and credits
-- ---------------------------------------------------------------------------

-- One page of accounts, newest first, filtered by email/id text and tier.
create or replace function private.admin_list_users(
  search text default null, tier text default null,
  page_size integer default 50, page_offset integer default 0
) returns public.admin_users_page
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_pattern text;
  v_result public.admin_users_page;
begin
  perform private.require_admin();
  if page_size is null or page_size not between 1 and 100 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'page_size', 'min', 1, 'max', 100),
      'page_size must be between 1 and 100.');
  end if;
  if page_offset is null or page_offset < 0 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'page_offset', 'min', 0), 'page_offset must be 0 or more.');
  end if;
  -- the search text is matched literally, never as a LIKE pattern
  v_pattern := '%' || replace(replace(replace(nullif(btrim(search), ''), '\', '\\'), '%', '\%'),
                              '_', '\_') || '%';

  with matching as (
    select u.* from public.users u
     where (admin_list_users.tier is null or u.tier = admin_list_users.tier)
       and (v_pattern is null or u.email ilike v_pattern
            or u.id::text = btrim(admin_list_users.search))
  ), page as (
    select m.* from matching m
     order by m.created_at desc, m.id desc
     limit admin_list_users.page_size offset admin_list_users.page_offset
  )
  select coalesce((
           select array_agg(row(p.id, p.email, p.tier, p.role, p.daily_credits,
                                p.purchased_credits, p.credits_remaining, p.subscription_status,
                                p.restricted_reason, p.created_at)::public.admin_user
                            order by p.created_at desc, p.id desc)
             from page p), '{}'),
         (select count(*) from matching),
         admin_list_users.page_size,
         admin_list_users.page_offset
    into v_result;
  return v_result;
end
$$;
grant execute on function private.admin_list_users(text, text, integer, integer)
  to authenticated, service_role;

-- Accounts matching search (email or id) and tier, paginated (admins and service role only).
create or replace function public.admin_list_users(
  search text default null, tier text default null,
  page_size integer default 50, page_offset integer default 0
) returns public.admin_users_page
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return private.admin_list_users(search, tier, page_size, page_offset);
end
$$;
revoke all on function public.admin_list_users(text, text, integer, integer) from public, anon;
grant execute on function public.admin_list_users(text, text, integer, integer)
  to authenticated, service_role;

-- Who is acting, for audit metadata: the admin's user id, or the service role and its client.
create or replace function private.admin_actor() returns text
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(
    auth.uid()::text,
    'service_role' || coalesce(' (' || nullif(current_setting('application_name', true), '') || ')',
                               '')
  )
$$;
grant execute on function private.admin_actor() to authenticated, service_role;

-- delta is numeric so that any JSON number (or CLI argument) reaches the range check below
-- and gets a PT400, instead of failing in the call's own conversion to integer.
drop function if exists public.admin_adjust_credits(uuid, integer, text);
drop function if exists private.admin_adjust_credits(uuid, integer, text);

-- Move a user's purchased bucket by delta with one admin_adjust ledger row; never below zero.
create or replace function private.admin_adjust_credits(user_id uuid, delta numeric, reason text)
returns private.credit_adjustment
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user public.users;
  v_tx public.credits_transactions;
  v_delta integer;
begin
  perform private.require_admin();
  if nullif(btrim(reason), '') is null or char_length(reason) > 500 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'reason', 'max_length', 500),
      'A reason (1-500 characters) is required for every credit adjustment.');
  end if;
  if delta is null or delta = 0 or delta <> trunc(delta) or abs(delta) > 1000000000 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'delta', 'max_abs', 1000000000),
      'delta must be a non-zero whole number of credits, at most 1000000000 either way.');
  end if;
  v_delta := delta::integer;

  select u.* into v_user from public.users u where u.id = admin_adjust_credits.user_id for update;
  if not found then
    perform private.raise_api_error(404, 'user_not_found',
      jsonb_build_object('user_id', admin_adjust_credits.user_id), 'No account has this id.');
  end if;
  -- a debt (negative bucket) may be reduced, but nothing may create or deepen one
  if v_delta < 0 and v_user.purchased_credits + v_delta < 0 then
    perform private.raise_api_error(400, 'would_go_negative',
      jsonb_build_object('purchased_credits', v_user.purchased_credits, 'delta', v_delta),
      'The purchased bucket cannot go below zero.');
  end if;
  -- the bucket is an integer column: a grant that would overflow it is refused as well
  if v_user.purchased_credits::bigint + v_delta > 2147483647 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'delta', 'purchased_credits', v_user.purchased_credits,
                         'max_purchased_credits', 2147483647),
      'This grant would take the purchased bucket beyond its range.');
  end if;

  v_tx := private.move_credits(v_user.id, 0, v_delta, 'admin_adjust', 'admin', null,
    jsonb_build_object('reason', btrim(reason), 'by', private.admin_actor()));

  -- user_id, delta, transaction_id, daily_credits, purchased_credits, credits_remaining
  return row(v_user.id, v_delta, v_tx.id, v_user.daily_credits, v_user.purchased_credits + v_delta,
             v_tx.balance_after)::private.credit_adjustment;
end
$$;
grant execute on function private.admin_adjust_credits(uuid, numeric, text)
  to authenticated, service_role;

-- Add (or take back) purchased credits with a reason (admins and service role only); one row.
create or replace function public.admin_adjust_credits(user_id uuid, delta numeric, reason text)
returns table (
  user_id uuid, delta integer, transaction_id bigint, daily_credits integer,
  purchased_credits integer, credits_remaining integer
)
language sql  -- not plpgsql: its result columns repeat the parameters' names
security invoker
set search_path = ''
as $$
  select * from private.admin_adjust_credits(user_id, delta, reason)
$$;
revoke all on function public.admin_adjust_credits(uuid, numeric, text) from public, anon;
grant execute on function public.admin_adjust_credits(uuid, numeric, text)
  to authenticated, service_role;

-- One account for the CLI: the row, analyses by status, payments and the newest ledger rows.
create or replace function private.admin_get_user(user_id uuid) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user public.users;
begin
  perform private.require_admin();
  select u.* into v_user from public.users u where u.id = admin_get_user.user_id;
  if not found then
    perform private.raise_api_error(404, 'user_not_found',
      jsonb_build_object('user_id', admin_get_user.user_id), 'No account has this id.');
  end if;
  return jsonb_build_object(
    'account', to_jsonb(v_user),
    'analyses_by_status', coalesce((
      select jsonb_object_agg(s.status, s.n) from (
        select a.status, count(*) as n from public.analyses a
         where a.user_id = v_user.id group by 1) s), '{}'),
    'payments', coalesce((
      select jsonb_agg(to_jsonb(p) order by p.id) from public.payments p
       where p.user_id = v_user.id), '[]'),
    'saved_replies', (select count(*) from public.saved_replies r where r.user_id = v_user.id),
    'ledger_rows', (select count(*) from public.credits_transactions t
                     where t.user_id = v_user.id)
  );
end
$$;
grant execute on function private.admin_get_user(uuid) to service_role;

-- A user's ledger, newest first, page_size rows older than before_id (null: from the newest).
create or replace function private.admin_credit_history(
  user_id uuid, page_size integer default 50, before_id bigint default null
) returns setof public.credits_transactions
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  if not exists (select from public.users u where u.id = admin_credit_history.user_id) then
    perform private.raise_api_error(404, 'user_not_found',
      jsonb_build_object('user_id', admin_credit_history.user_id), 'No account has this id.');
  end if;
  if page_size is null or page_size not between 1 and 10000 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'page_size', 'min', 1, 'max', 10000),
      'page_size must be between 1 and 10000.');
  end if;
  return query
    select t.* from public.credits_transactions t
     where t.user_id = admin_credit_history.user_id
       and (before_id is null or t.id < before_id)
     order by t.id desc
     limit page_size;
end
$$;
grant execute on function private.admin_credit_history(uuid, integer, bigint) to service_role;
