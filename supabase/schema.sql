-- The current schema of the project's schemas (public, private), as a fresh `db migrate`
-- leaves it. Generated: do not edit; regenerate with `flirt-admin db schema --write`.
-- The migrations in supabase/migrations and supabase/functions_sql are the source.

-- Name: private; Type: SCHEMA; Schema: -; Owner: -

CREATE SCHEMA private;

-- Name: public; Type: SCHEMA; Schema: -; Owner: -

CREATE SCHEMA public;

-- Name: SCHEMA public; Type: COMMENT; Schema: -; Owner: -

COMMENT ON SCHEMA public IS 'standard public schema';

-- Name: action_receipt; Type: TYPE; Schema: private; Owner: -

CREATE TYPE private.action_receipt AS (
	analysis_id uuid,
	status text,
	cost integer,
	credits_remaining integer,
	daily_credits integer,
	purchased_credits integer,
	replayed boolean
);

-- Name: credit_adjustment; Type: TYPE; Schema: private; Owner: -

CREATE TYPE private.credit_adjustment AS (
	user_id uuid,
	delta integer,
	transaction_id bigint,
	daily_credits integer,
	purchased_credits integer,
	credits_remaining integer
);

-- Name: credit_balance; Type: TYPE; Schema: private; Owner: -

CREATE TYPE private.credit_balance AS (
	credits_remaining integer,
	daily_credits integer,
	purchased_credits integer,
	daily_limit integer,
	tier text,
	next_reset_at timestamp with time zone,
	restricted boolean
);

-- Name: deleted_reply; Type: TYPE; Schema: private; Owner: -

CREATE TYPE private.deleted_reply AS (
	id uuid,
	deleted boolean
);

-- Name: admin_metrics_totals; Type: TYPE; Schema: public; Owner: -

CREATE TYPE public.admin_metrics_totals AS (
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

-- Name: admin_metrics; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.admin_metrics (
    day date NOT NULL,
    signups integer DEFAULT 0 NOT NULL,
    active_users integer DEFAULT 0 NOT NULL,
    actions_by_type jsonb DEFAULT '{}'::jsonb NOT NULL,
    credits_spent bigint DEFAULT 0 NOT NULL,
    credits_purchased bigint DEFAULT 0 NOT NULL,
    credits_granted bigint DEFAULT 0 NOT NULL,
    revenue_cents jsonb DEFAULT '{}'::jsonb NOT NULL,
    purchases integer DEFAULT 0 NOT NULL,
    active_subscriptions integer DEFAULT 0 NOT NULL,
    failed_analyses integer DEFAULT 0 NOT NULL,
    ai_prompt_tokens bigint DEFAULT 0 NOT NULL,
    ai_completion_tokens bigint DEFAULT 0 NOT NULL,
    computed_at timestamp with time zone DEFAULT now() NOT NULL
);

-- Name: TABLE admin_metrics; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.admin_metrics IS 'One row per day, recomputed (never incremented) from source tables.';

-- Name: admin_metrics_report; Type: TYPE; Schema: public; Owner: -

CREATE TYPE public.admin_metrics_report AS (
	from_date date,
	to_date date,
	days public.admin_metrics[],
	totals public.admin_metrics_totals
);

-- Name: admin_user; Type: TYPE; Schema: public; Owner: -

CREATE TYPE public.admin_user AS (
	id uuid,
	email text,
	tier text,
	role text,
	daily_credits integer,
	purchased_credits integer,
	credits_remaining integer,
	subscription_status text,
	restricted_reason text,
	created_at timestamp with time zone
);

-- Name: admin_users_page; Type: TYPE; Schema: public; Owner: -

CREATE TYPE public.admin_users_page AS (
	items public.admin_user[],
	total bigint,
	page_size integer,
	page_offset integer
);

-- Name: analysis_detail; Type: TYPE; Schema: public; Owner: -

CREATE TYPE public.analysis_detail AS (
	analysis_id uuid,
	action_type text,
	status text,
	cost integer,
	input jsonb,
	result jsonb,
	error text,
	model text,
	usage jsonb,
	created_at timestamp with time zone,
	started_at timestamp with time zone,
	finished_at timestamp with time zone
);

-- Name: analyses; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.analyses (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    action_type text NOT NULL,
    cost integer NOT NULL,
    daily_cost integer DEFAULT 0 NOT NULL,
    purchased_cost integer DEFAULT 0 NOT NULL,
    input jsonb,
    status text DEFAULT 'queued'::text NOT NULL,
    result jsonb,
    error text,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 3 NOT NULL,
    run_after timestamp with time zone DEFAULT now() NOT NULL,
    locked_by text,
    locked_until timestamp with time zone,
    model text,
    prompt_version text,
    usage jsonb,
    refunded_at timestamp with time zone,
    input_purged_at timestamp with time zone,
    idempotency_key text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    charges integer DEFAULT 1 NOT NULL,
    charged_on date,
    CONSTRAINT analyses_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT analyses_charges_positive CHECK ((charges > 0)),
    CONSTRAINT analyses_cost_check CHECK ((cost >= 0)),
    CONSTRAINT analyses_cost_split CHECK (((daily_cost + purchased_cost) = cost)),
    CONSTRAINT analyses_daily_cost_check CHECK ((daily_cost >= 0)),
    CONSTRAINT analyses_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 200))),
    CONSTRAINT analyses_max_attempts_check CHECK ((max_attempts > 0)),
    CONSTRAINT analyses_purchased_cost_check CHECK ((purchased_cost >= 0)),
    CONSTRAINT analyses_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'processing'::text, 'done'::text, 'failed'::text])))
);

-- Name: TABLE analyses; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.analyses IS 'Analysis queue and history; written only by the service.';

-- Name: credits_transactions; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.credits_transactions (
    id bigint NOT NULL,
    user_id uuid,
    daily_delta integer DEFAULT 0 NOT NULL,
    purchased_delta integer DEFAULT 0 NOT NULL,
    kind text NOT NULL,
    balance_after integer NOT NULL,
    reference text,
    idempotency_key text,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT credits_transactions_kind_check CHECK ((kind = ANY (ARRAY['signup_bonus'::text, 'daily_reset'::text, 'action'::text, 'action_refund'::text, 'purchase'::text, 'subscription_grant'::text, 'admin_adjust'::text, 'refund_clawback'::text, 'dispute_clawback'::text])))
);

-- Name: TABLE credits_transactions; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.credits_transactions IS 'Append-only ledger: every change to a credit bucket writes exactly one row.';

-- Name: payments; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.payments (
    id bigint NOT NULL,
    stripe_payment_intent_id text NOT NULL,
    stripe_checkout_session_id text,
    stripe_charge_id text,
    user_id uuid,
    pack_id text,
    amount_cents integer NOT NULL,
    amount_refunded_cents integer DEFAULT 0 NOT NULL,
    currency text NOT NULL,
    credits_granted integer NOT NULL,
    credits_clawed_back integer DEFAULT 0 NOT NULL,
    status text DEFAULT 'paid'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT payments_amount_cents_check CHECK ((amount_cents >= 0)),
    CONSTRAINT payments_amount_refunded_cents_check CHECK ((amount_refunded_cents >= 0)),
    CONSTRAINT payments_clawback_range CHECK (((credits_clawed_back >= 0) AND (credits_clawed_back <= credits_granted))),
    CONSTRAINT payments_credits_granted_check CHECK ((credits_granted >= 0)),
    CONSTRAINT payments_status_check CHECK ((status = ANY (ARRAY['paid'::text, 'partially_refunded'::text, 'refunded'::text, 'disputed'::text])))
);

-- Name: TABLE payments; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.payments IS 'One row per Stripe payment that granted credits.';

-- Name: saved_replies; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.saved_replies (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    analysis_id uuid,
    reply text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT saved_replies_reply_check CHECK (((char_length(reply) >= 1) AND (char_length(reply) <= 2000)))
);

-- Name: TABLE saved_replies; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.saved_replies IS 'Replies a user kept from an analysis.';

-- Name: users; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.users (
    id uuid NOT NULL,
    email text,
    tier text NOT NULL,
    daily_credits integer DEFAULT 0 NOT NULL,
    purchased_credits integer DEFAULT 0 NOT NULL,
    credits_remaining integer GENERATED ALWAYS AS ((daily_credits + purchased_credits)) STORED,
    daily_reset_on date NOT NULL,
    stripe_customer_id text,
    subscription_id text,
    subscription_status text,
    subscription_event_at timestamp with time zone,
    current_period_end timestamp with time zone,
    cancel_at_period_end boolean DEFAULT false NOT NULL,
    restricted_reason text,
    role text DEFAULT 'user'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    invoice_event_at timestamp with time zone,
    daily_used integer DEFAULT 0 NOT NULL,
    signup_bonus_pending boolean DEFAULT false NOT NULL,
    CONSTRAINT users_daily_credits_check CHECK ((daily_credits >= 0)),
    CONSTRAINT users_daily_used_nonnegative CHECK ((daily_used >= 0)),
    CONSTRAINT users_role_check CHECK ((role = ANY (ARRAY['user'::text, 'admin'::text])))
)
WITH (fillfactor='80');

-- Name: TABLE users; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.users IS 'Account, credit buckets and billing state of each auth user.';

-- Name: COLUMN users.daily_used; Type: COMMENT; Schema: public; Owner: -

COMMENT ON COLUMN public.users.daily_used IS 'Daily credits used on the credit day daily_reset_on, net of refunds (0 after each reset).';

-- Name: COLUMN users.signup_bonus_pending; Type: COMMENT; Schema: public; Owner: -

COMMENT ON COLUMN public.users.signup_bonus_pending IS 'An anonymous account: the signup bonus is granted once, when it converts to a real one.';

-- Name: data_export; Type: TYPE; Schema: public; Owner: -

CREATE TYPE public.data_export AS (
	exported_at timestamp with time zone,
	account public.users,
	credits_transactions public.credits_transactions[],
	analyses public.analyses[],
	saved_replies public.saved_replies[],
	payments public.payments[]
);

-- Name: history_item; Type: TYPE; Schema: public; Owner: -

CREATE TYPE public.history_item AS (
	analysis_id uuid,
	action_type text,
	status text,
	cost integer,
	created_at timestamp with time zone,
	finished_at timestamp with time zone
);

-- Name: history_page; Type: TYPE; Schema: public; Owner: -

CREATE TYPE public.history_page AS (
	items public.history_item[],
	next_cursor text
);

-- Name: saved_reply; Type: TYPE; Schema: public; Owner: -

CREATE TYPE public.saved_reply AS (
	id uuid,
	analysis_id uuid,
	reply text,
	created_at timestamp with time zone
);

-- Name: saved_replies_page; Type: TYPE; Schema: public; Owner: -

CREATE TYPE public.saved_replies_page AS (
	items public.saved_reply[],
	next_cursor text
);

-- Name: admin_actor(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.admin_actor() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select coalesce(
    auth.uid()::text,
    'service_role' || coalesce(' (' || nullif(current_setting('application_name', true), '') || ')',
                               '')
  )
$$;

-- Name: admin_adjust_credits(uuid, numeric, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.admin_adjust_credits(user_id uuid, delta numeric, reason text) RETURNS private.credit_adjustment
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

-- Name: admin_credit_history(uuid, integer, bigint); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.admin_credit_history(user_id uuid, page_size integer DEFAULT 50, before_id bigint DEFAULT NULL::bigint) RETURNS SETOF public.credits_transactions
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

-- Name: admin_get_metrics(date, date); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.admin_get_metrics(from_date date, to_date date) RETURNS public.admin_metrics_report
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

-- Name: admin_get_user(uuid); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.admin_get_user(user_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

-- Name: admin_list_users(text, text, integer, integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.admin_list_users(search text DEFAULT NULL::text, tier text DEFAULT NULL::text, page_size integer DEFAULT 50, page_offset integer DEFAULT 0) RETURNS public.admin_users_page
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

-- Name: analysis_next_due_seconds(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.analysis_next_due_seconds() RETURNS double precision
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select extract(epoch from min(a.run_after) - clock_timestamp())::double precision
    from public.analyses a
   where a.status = 'queued' and a.run_after > clock_timestamp()
$$;

-- Name: analysis_queue_stats(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.analysis_queue_stats() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select jsonb_build_object(
    'queued', count(*) filter (where a.status = 'queued'),
    'ready', count(*) filter (where a.status = 'queued' and a.run_after <= now()),
    'processing', count(*) filter (where a.status = 'processing'),
    'expired_leases', count(*) filter (where a.status = 'processing' and a.locked_until < now()),
    'oldest_ready_seconds', coalesce(extract(epoch from now() - min(a.run_after)
                              filter (where a.status = 'queued' and a.run_after <= now())), 0),
    -- Storage deletions the worker still has to do (and those whose last try failed)
    'screenshot_deletions', (select count(*) from private.screenshot_deletions),
    'screenshot_deletions_failing',
      (select count(*) from private.screenshot_deletions d where d.last_error is not null)
  )
  from public.analyses a
  where a.status in ('queued', 'processing')
$$;

-- Name: analysis_result_problem(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.analysis_result_problem(result jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
declare
  v_level numeric;
  v_item jsonb;
begin
  if jsonb_typeof(result) is distinct from 'object' then
    return 'result';
  end if;
  if jsonb_typeof(result -> 'summary') is distinct from 'string'
     or btrim(result ->> 'summary') = '' then
    return 'summary';
  end if;
  if jsonb_typeof(result -> 'interest_level') is distinct from 'number' then
    return 'interest_level';
  end if;
  v_level := (result ->> 'interest_level')::numeric;
  if v_level < 0 or v_level > 10 or v_level <> trunc(v_level) then
    return 'interest_level';
  end if;
  if jsonb_typeof(result -> 'tone') is distinct from 'string' or btrim(result ->> 'tone') = '' then
    return 'tone';
  end if;
  if jsonb_typeof(result -> 'red_flags') is distinct from 'array' then
    return 'red_flags';
  end if;
  for i in 0 .. jsonb_array_length(result -> 'red_flags') - 1 loop
    if jsonb_typeof(result -> 'red_flags' -> i) <> 'string' then
      return 'red_flags';
    end if;
  end loop;
  if jsonb_typeof(result -> 'suggestions') is distinct from 'array'
     or jsonb_array_length(result -> 'suggestions') <> 3 then
    return 'suggestions';
  end if;
  for i in 0 .. 2 loop
    v_item := result -> 'suggestions' -> i;
    if jsonb_typeof(v_item) <> 'object'
       or jsonb_typeof(v_item -> 'reply') is distinct from 'string'
       or btrim(v_item ->> 'reply') = ''
       or jsonb_typeof(v_item -> 'style') is distinct from 'string'
       or jsonb_typeof(v_item -> 'rationale') is distinct from 'string' then
      return 'suggestions';
    end if;
  end loop;
  return null;
end
$$;

-- Name: apply_charge_dispute(jsonb, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.apply_charge_dispute(dispute jsonb, event_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_id text := dispute ->> 'id';
  v_charge jsonb := dispute -> 'charge';
  v_charge_id text := private.stripe_id(dispute -> 'charge');
  v_intent text := coalesce(private.stripe_id(dispute -> 'payment_intent'),
                            private.stripe_id(v_charge -> 'payment_intent'));
  v_payment public.payments;
  v_user uuid;
  v_row private.disputes;
  v_delta integer := 0;
  v_restriction text := private.dispute_restriction(v_id, dispute ->> 'reason');
  v_restricted boolean := false;
begin
  perform pg_catalog.pg_advisory_xact_lock(private.payment_intent_lock_key(v_intent));
  select p.* into v_payment
    from public.payments p
   where p.stripe_payment_intent_id = v_intent or p.stripe_charge_id = v_charge_id
   limit 1
   for update;
  if found then
    v_user := v_payment.user_id;  -- null when the account was deleted
  elsif jsonb_typeof(v_charge) = 'object' then
    -- no pack granted for this charge: a subscription invoice, a rejected pack payment, or a
    -- pack whose grant is still to come (which takes it back: take_back_earlier_reversals)
    v_user := private.charge_user(v_charge);
    if v_user is null then
      return private.billing_outcome('ignored', 'no account for charge ' || v_charge_id);
    end if;
  else
    raise exception 'dispute % names charge % but not its customer: expand the charge', v_id,
      v_charge_id;
  end if;

  insert into private.disputes
    (id, user_id, stripe_charge_id, stripe_payment_intent_id, payment_id, amount_cents, currency,
     reason, status)
  values (v_id, v_user, v_charge_id, v_intent, v_payment.id,
          coalesce((dispute ->> 'amount')::integer, 0), coalesce(dispute ->> 'currency', ''),
          coalesce(dispute ->> 'reason', 'unknown'), coalesce(dispute ->> 'status', 'needs_response'))
  on conflict (id) do update
    set payment_id = coalesce(private.disputes.payment_id, excluded.payment_id)
    where private.disputes.payment_id is null and excluded.payment_id is not null;
  select d.* into v_row from private.disputes d where d.id = v_id for update;
  -- Stripe does not guarantee order: a dispute already closed as won (or an inquiry closed)
  -- takes nothing
  if v_row.status in ('won', 'warning_closed') then
    return private.billing_outcome('processed', format('dispute %s already %s', v_id, v_row.status));
  end if;

  if v_payment.id is not null then
    v_delta := private.claw_back_disputed_payment(v_payment.id, v_id, dispute ->> 'reason',
                                                  event_id);
  end if;
  if v_user is not null and v_row.restriction is null then
    update public.users u set restricted_reason = v_restriction, updated_at = now()
     where u.id = v_user and u.restricted_reason is null;
    v_restricted := found;
    if v_restricted then
      update private.disputes d set restriction = v_restriction, updated_at = now()
       where d.id = v_id;
    end if;
  end if;
  return private.billing_outcome('processed', format(
    'dispute %s (%s) on %s charge %s: clawed back %s credits, %s', v_id, dispute ->> 'reason',
    case when v_payment.id is null then 'no pack' else 'pack' end, v_charge_id, v_delta,
    case when v_restricted then 'account restricted'
         when v_user is null then 'no account'
         else 'account already restricted' end),
    jsonb_build_object('clawed_back', v_delta));
end
$$;

-- Name: apply_charge_dispute_closed(jsonb, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.apply_charge_dispute_closed(dispute jsonb, event_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_id text := dispute ->> 'id';
  v_status text := dispute ->> 'status';
  v_row private.disputes;
  v_next private.disputes;
  v_next_restriction text;
  v_lifted boolean := false;
begin
  select d.* into v_row from private.disputes d where d.id = v_id for update;
  if not found then
    -- closed before its creation was applied: record it first (a won one restricts nothing)
    if private.apply_charge_dispute(dispute, event_id) ->> 'status' = 'ignored' then
      return private.billing_outcome('ignored', 'no account for dispute ' || v_id);
    end if;
    select d.* into v_row from private.disputes d where d.id = v_id for update;
  end if;
  update private.disputes d
     set status = v_status, closed_at = coalesce(d.closed_at, now()), updated_at = now()
   where d.id = v_id;
  if v_status in ('won', 'warning_closed') and v_row.restriction is not null then
    select d.* into v_next
      from private.disputes d
     where d.user_id = v_row.user_id and d.id <> v_id
       and d.status not in ('won', 'warning_closed')
     order by d.created_at, d.id
     limit 1
     for update;
    v_next_restriction := case when v_next.id is not null
                               then private.dispute_restriction(v_next.id, v_next.reason) end;
    update public.users u set restricted_reason = v_next_restriction, updated_at = now()
     where u.id = v_row.user_id and u.restricted_reason = v_row.restriction;
    v_lifted := found;
    update private.disputes d set restriction = null, updated_at = now() where d.id = v_id;
    if v_lifted and v_next.id is not null then
      update private.disputes d set restriction = v_next_restriction, updated_at = now()
       where d.id = v_next.id;
    end if;
  end if;
  return private.billing_outcome('processed', format('dispute %s closed as %s%s', v_id, v_status,
    case when not v_lifted then ''
         when v_next.id is null then ': restriction lifted'
         else ': account stays restricted by dispute ' || v_next.id end));
end
$$;

-- Name: apply_charge_refunded(jsonb, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.apply_charge_refunded(charge jsonb, event_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_payment public.payments;
  v_amount integer;
  v_refunded integer := coalesce((charge ->> 'amount_refunded')::integer, 0);
  v_target integer;
  v_delta integer;
begin
  perform pg_catalog.pg_advisory_xact_lock(
    private.payment_intent_lock_key(private.stripe_id(charge -> 'payment_intent')));
  select p.* into v_payment
    from public.payments p
   where p.stripe_payment_intent_id = private.stripe_id(charge -> 'payment_intent')
      or p.stripe_charge_id = charge ->> 'id'
   limit 1
   for update;
  if not found then
    return private.apply_unpaid_charge_refund(charge);
  end if;
  v_amount := coalesce((charge ->> 'amount')::integer, v_payment.amount_cents);
  v_target := least(v_payment.credits_granted,
                    ceil(v_payment.credits_granted::numeric * v_refunded / nullif(v_amount, 0))::integer);
  -- amount_refunded is cumulative; an older (smaller) refund arriving late adds nothing
  v_delta := greatest(coalesce(v_target, 0) - v_payment.credits_clawed_back, 0);

  update public.payments p
     set amount_refunded_cents = greatest(p.amount_refunded_cents, v_refunded),
         stripe_charge_id = coalesce(p.stripe_charge_id, charge ->> 'id'),
         credits_clawed_back = p.credits_clawed_back + v_delta,
         status = case
           when p.status = 'disputed' then 'disputed'
           when greatest(p.amount_refunded_cents, v_refunded) >= v_amount then 'refunded'
           when greatest(p.amount_refunded_cents, v_refunded) > 0 then 'partially_refunded'
           else p.status end,
         updated_at = now()
   where p.id = v_payment.id;
  if v_delta > 0 and v_payment.user_id is not null then
    perform private.clawback_purchased(v_payment.user_id, v_delta, 'refund_clawback',
      'refund_clawback:' || event_id, charge ->> 'id',
      jsonb_build_object('payment_intent_id', v_payment.stripe_payment_intent_id,
                         'amount_refunded', v_refunded, 'amount', v_amount));
  end if;
  return private.billing_outcome('processed', format('refund %s/%s: clawed back %s credits',
    v_refunded, v_amount, v_delta), jsonb_build_object('clawed_back', v_delta));
end
$$;

-- Name: apply_checkout_session(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.apply_checkout_session(session jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user uuid := private.stripe_object_user(session);
  v_pack text := session #>> '{metadata,pack_id}';
  v_pack_row public.credit_packs;
begin
  if session ->> 'mode' is distinct from 'payment' then
    return private.billing_outcome('ignored',
      'subscription checkout: state follows customer.subscription events');
  end if;
  if session ->> 'payment_status' is distinct from 'paid' then
    return private.billing_outcome('ignored', format(
      'payment_status %s: granted when the payment succeeds', session ->> 'payment_status'));
  end if;
  if v_pack is null then
    return private.billing_outcome('ignored', 'no metadata.pack_id: not a credit pack');
  end if;
  if v_user is null then
    return private.billing_outcome('ignored', 'no account for this session');
  end if;
  if private.stripe_id(session -> 'payment_intent') is null then
    raise exception 'paid checkout session % has no payment_intent', session ->> 'id';
  end if;
  -- Events never carry the line items: the API (or billing sync) reads them from Stripe
  -- and adds them in Stripe's expanded shape before applying.
  if jsonb_typeof(session #> '{line_items,data}') is distinct from 'array' then
    raise exception 'checkout session % has no line_items', session ->> 'id';
  end if;
  -- Paid means paid: the session must have sold the pack's own price (metadata alone is a claim).
  select p.* into v_pack_row from public.credit_packs p where p.id = v_pack;
  if found and not exists (
      select 1 from jsonb_array_elements(session #> '{line_items,data}') l
       where private.stripe_id(l -> 'price') = v_pack_row.stripe_price_id
         and coalesce((l ->> 'quantity')::integer, 0) >= 1) then
    return private.billing_outcome('rejected', format(
      'price_mismatch: session %s sold %s, not the price %s of pack %s',
      session ->> 'id',
      coalesce((select string_agg(coalesce(private.stripe_id(l -> 'price'), '?') || ' x'
                                  || coalesce(l ->> 'quantity', '?'), ', ')
                  from jsonb_array_elements(session #> '{line_items,data}') l), 'nothing'),
      v_pack_row.stripe_price_id, v_pack));
  end if;
  return private.grant_purchase(
    v_user, v_pack, private.stripe_id(session -> 'payment_intent'),
    (session ->> 'amount_total')::integer, session ->> 'currency', session ->> 'id', null,
    'checkout.session');
end
$$;

-- Name: apply_daily_reset(uuid, integer, integer, integer, date); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.apply_daily_reset(user_id uuid, old_daily integer, purchased integer, allowance integer, day date) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.users u
     set daily_credits = apply_daily_reset.allowance, daily_reset_on = apply_daily_reset.day,
         daily_used = 0, updated_at = now()
   where u.id = apply_daily_reset.user_id;
  if apply_daily_reset.allowance <> apply_daily_reset.old_daily then
    insert into public.credits_transactions
      (user_id, daily_delta, purchased_delta, kind, balance_after, reference)
    values
      (apply_daily_reset.user_id, apply_daily_reset.allowance - apply_daily_reset.old_daily, 0,
       'daily_reset', apply_daily_reset.allowance + apply_daily_reset.purchased,
       apply_daily_reset.day::text);
  end if;
end
$$;

-- Name: apply_invoice(jsonb, timestamp with time zone, boolean); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.apply_invoice(invoice jsonb, observed_at timestamp with time zone, paid boolean) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  -- since API 2025-03-31 the subscription is under parent.subscription_details
  v_details jsonb := invoice #> '{parent,subscription_details}';
  v_sub text := private.stripe_id(v_details -> 'subscription');
  v_user public.users;
  v_status text;
begin
  if v_sub is null then
    return private.billing_outcome('ignored', 'not a subscription invoice');
  end if;
  select u.* into v_user from public.users u where u.subscription_id = v_sub for update;
  if not found then
    return private.billing_outcome('ignored',
      'subscription ' || v_sub || ' not known yet: its customer.subscription event sets the state');
  end if;
  if greatest(v_user.subscription_event_at, v_user.invoice_event_at) > observed_at then
    return private.billing_outcome('ignored', 'older than the subscription state already applied');
  end if;
  if v_user.subscription_status in ('canceled', 'incomplete_expired') then
    return private.billing_outcome('ignored', 'subscription ' || v_sub || ' has ended');
  end if;
  -- A failed payment only moves active to past_due (a first invoice that fails leaves it
  -- incomplete; an unpaid or paused one stays so). The tier is never taken from an invoice (it
  -- may be an old one of another price): it follows the subscription's price, in its events.
  v_status := case when paid then 'active'
                   when v_user.subscription_status = 'active' then 'past_due'
                   else v_user.subscription_status end;

  update public.users u
     set subscription_status = v_status, invoice_event_at = observed_at, updated_at = now()
   where u.id = v_user.id;
  return private.billing_outcome('processed',
    format('subscription %s %s (invoice %s)', v_sub, v_status, invoice ->> 'id'));
end
$$;

-- Name: apply_payment_intent(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.apply_payment_intent(intent jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user uuid := private.stripe_object_user(intent);
  v_pack text := intent #>> '{metadata,pack_id}';
  v_pack_row public.credit_packs;
begin
  if intent ->> 'status' is distinct from 'succeeded' then
    return private.billing_outcome('ignored', format('status %s', intent ->> 'status'));
  end if;
  if v_pack is null then
    return private.billing_outcome('ignored', 'no metadata.pack_id: not a credit pack');
  end if;
  if v_user is null then
    return private.billing_outcome('ignored', 'no account for this payment');
  end if;
  -- Paid means paid: exactly the pack's price was received (metadata alone is a claim).
  select p.* into v_pack_row from public.credit_packs p where p.id = v_pack;
  if found and ((intent ->> 'amount_received')::bigint is distinct from v_pack_row.price_cents
                or lower(intent ->> 'currency') is distinct from lower(v_pack_row.currency)) then
    return private.billing_outcome('rejected', format(
      'amount_mismatch: %s received %s %s, pack %s costs %s %s', intent ->> 'id',
      coalesce(intent ->> 'amount_received', 'nothing'), intent ->> 'currency', v_pack,
      v_pack_row.price_cents, lower(v_pack_row.currency)));
  end if;
  return private.grant_purchase(
    v_user, v_pack, intent ->> 'id', (intent ->> 'amount_received')::integer,
    intent ->> 'currency', null, private.stripe_id(intent -> 'latest_charge'), 'payment_intent');
end
$$;

-- Name: apply_stripe_event(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.apply_stripe_event(event jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_id text := event ->> 'id';
  v_type text := event ->> 'type';
  v_created timestamptz := private.stripe_time(event -> 'created');
  v_object jsonb := event #> '{data,object}';
  v_status text;
  v_result jsonb;
begin
  if v_id is null or v_type is null or v_created is null
     or jsonb_typeof(v_object) is distinct from 'object' then
    perform private.raise_api_error(400, 'invalid_event',
      jsonb_build_object('id', v_id, 'type', v_type),
      'A Stripe event needs id, type, created and data.object.');
  end if;

  -- A concurrent delivery of the same event waits here until the first one
  -- commits (or rolls back), then finds its row and answers as a duplicate.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('stripe_event:' || v_id, 0));
  select e.status into v_status from public.stripe_webhook_events e where e.id = v_id;
  if found and v_status <> 'failed' then
    return jsonb_build_object('event_id', v_id, 'type', v_type, 'status', v_status,
                              'duplicate', true);
  end if;

  v_result := private.dispatch_stripe_event(v_type, v_object, v_id, v_created);
  v_status := v_result ->> 'status';
  -- one write of the event row, with its outcome (a retried failure counts an attempt)
  insert into public.stripe_webhook_events as e
    (id, type, stripe_created, payload, status, outcome, processed_at)
  values (v_id, v_type, v_created, event, v_status, v_result ->> 'outcome', now())
  on conflict (id) do update
    -- the payload too: a retry may carry what the API read from Stripe since
    set status = excluded.status, outcome = excluded.outcome, last_error = null,
        payload = excluded.payload,
        processed_at = excluded.processed_at, attempts = e.attempts + 1, updated_at = now();
  return jsonb_build_object('event_id', v_id, 'type', v_type, 'status', v_status,
                            'duplicate', false, 'outcome', v_result ->> 'outcome');
end
$$;

-- Name: apply_subscription(jsonb, timestamp with time zone, boolean); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.apply_subscription(subscription jsonb, observed_at timestamp with time zone, deleted boolean DEFAULT false) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user public.users;
  v_user_id uuid := private.stripe_object_user(subscription);
  v_sub text := subscription ->> 'id';
  v_status text := case when deleted then 'canceled' else subscription ->> 'status' end;
  -- since API 2025-03-31 the period lives on the subscription items
  v_item jsonb := subscription #> '{items,data,0}';
  v_price text := private.stripe_id(v_item -> 'price');
  v_tier text;
  v_change jsonb;
begin
  if v_user_id is null then
    return private.billing_outcome('ignored', 'no account for subscription ' || v_sub);
  end if;
  select u.* into v_user from public.users u where u.id = v_user_id for update;
  -- Stripe does not guarantee event order: never apply an older state over a newer one.
  if v_user.subscription_event_at > observed_at then
    return private.billing_outcome('ignored', 'older than the subscription state already applied');
  end if;
  -- The same subscription never goes back a stage within one second, nor comes back once
  -- ended (checkout sends created/incomplete, invoice.paid and updated/active together).
  if v_user.subscription_id = v_sub
     and (private.subscription_stage(v_user.subscription_status) = 2
          or (v_user.subscription_event_at = observed_at
              and private.subscription_stage(v_status)
                  < private.subscription_stage(v_user.subscription_status))) then
    return private.billing_outcome('ignored', format(
      'subscription %s is already %s', v_sub, v_user.subscription_status));
  end if;
  -- The end of a subscription the user has since replaced changes nothing.
  if v_user.subscription_id is distinct from v_sub
     and v_user.subscription_status in ('active', 'trialing', 'past_due')
     and v_status not in ('active', 'trialing') then
    return private.billing_outcome('ignored', format(
      'subscription %s is not the current one (%s)', v_sub, v_user.subscription_id));
  end if;

  -- A newer invoice event knows the newer payment state of a live subscription: a newer paid
  -- invoice makes it active, a newer failed one moves active to past_due; a failed payment never
  -- lifts an unpaid subscription back to past_due.
  if v_user.subscription_id = v_sub and v_user.invoice_event_at > observed_at
     and v_status in ('active', 'past_due', 'unpaid')
     and v_user.subscription_status in ('active', 'past_due', 'unpaid') then
    v_status := case
      when v_user.subscription_status = 'active' then 'active'
      when v_user.subscription_status = 'past_due' and v_status = 'active' then 'past_due'
      else v_status end;
  end if;

  v_tier := case
    when v_status in ('active', 'trialing', 'past_due') then
      (select t.id from public.tiers t where t.stripe_price_id = v_price)
    when v_status in ('canceled', 'unpaid', 'incomplete_expired', 'paused') then
      private.setting('fallback_tier') #>> '{}'
    else v_user.tier  -- incomplete: not paid yet
  end;
  if v_tier is null then
    perform private.raise_api_error(400, 'unknown_price', jsonb_build_object('price', v_price),
      'The subscription price matches no configured tier.');
  end if;
  -- Only a paid-up (active/trialing) subscription moves up: past_due keeps at most its tier.
  if v_status = 'past_due' and v_tier is distinct from v_user.tier
     and (select (t.sort_order, t.daily_credits) from public.tiers t where t.id = v_tier)
         > (select (t.sort_order, t.daily_credits) from public.tiers t where t.id = v_user.tier) then
    v_tier := v_user.tier;
  end if;

  update public.users u
     set subscription_id = v_sub,
         subscription_status = v_status,
         current_period_end = coalesce(private.stripe_time(v_item -> 'current_period_end'),
                                       u.current_period_end),
         cancel_at_period_end = coalesce((subscription ->> 'cancel_at_period_end')::boolean, false),
         subscription_event_at = observed_at,
         updated_at = now()
   where u.id = v_user_id;
  v_change := private.change_tier(v_user_id, v_tier, v_sub,
    jsonb_build_object('subscription_id', v_sub, 'status', v_status));
  if (v_user.subscription_id, v_user.subscription_status, v_user.cancel_at_period_end, v_user.tier)
     is not distinct from
     (v_sub, v_status, coalesce((subscription ->> 'cancel_at_period_end')::boolean, false), v_tier)
     and v_user.current_period_end is not distinct from
         coalesce(private.stripe_time(v_item -> 'current_period_end'), v_user.current_period_end) then
    return private.billing_outcome('processed',
      format('unchanged: subscription %s %s, tier %s', v_sub, v_status, v_tier), v_change);
  end if;
  return private.billing_outcome('processed',
    format('subscription %s %s, tier %s', v_sub, v_status, v_tier), v_change);
end
$$;

-- Name: apply_unpaid_charge_refund(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.apply_unpaid_charge_refund(charge jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_intent text := private.stripe_id(charge -> 'payment_intent');
  v_user uuid := private.charge_user(charge);
  v_pack text := coalesce(charge #>> '{metadata,pack_id}',
                          charge #>> '{payment_intent,metadata,pack_id}');
  v_refunded integer := coalesce((charge ->> 'amount_refunded')::integer, 0);
begin
  -- Recorded even when no account is known: a charge of a customer not yet on file may
  -- belong to a pack whose grant is still to come, and that grant looks here.
  if v_user is null and v_pack is null and v_intent is null then
    return private.billing_outcome('ignored', 'no account for charge ' || (charge ->> 'id'));
  end if;
  insert into private.subscription_refunds as r
    (stripe_charge_id, user_id, stripe_customer_id, stripe_payment_intent_id, amount_cents,
     amount_refunded_cents, currency)
  values (charge ->> 'id', v_user, private.stripe_id(charge -> 'customer'), v_intent,
          coalesce((charge ->> 'amount')::integer, 0), v_refunded,
          coalesce(charge ->> 'currency', ''))
  on conflict (stripe_charge_id) do update
    -- amount_refunded is cumulative: a late, smaller one changes nothing
    set amount_refunded_cents = greatest(r.amount_refunded_cents, excluded.amount_refunded_cents),
        updated_at = now();
  return private.billing_outcome('processed', format(
    'refund %s/%s of charge %s, which granted no credit pack: recorded, nothing clawed back'
    '%s', v_refunded, charge ->> 'amount', charge ->> 'id',
    case when v_pack is not null
         then format(' (a grant of pack %s for %s takes it back)', v_pack, v_intent) else '' end));
end
$$;

-- Name: billing_account(uuid, boolean); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.billing_account(target_user uuid, purchase boolean DEFAULT true) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user public.users;
begin
  select u.* into v_user from public.users u where u.id = target_user;
  if not found then
    perform private.raise_api_error(404, 'user_not_found', jsonb_build_object('user_id', target_user),
      'No account exists for this token.');
  end if;
  if purchase and v_user.restricted_reason is not null then
    perform private.raise_api_error(403, 'account_restricted', '{}'::jsonb,
      'This account is restricted; contact support.');
  end if;
  return jsonb_build_object(
    'user_id', v_user.id, 'email', v_user.email, 'tier', v_user.tier,
    'stripe_customer_id', v_user.stripe_customer_id,
    'subscription_id', v_user.subscription_id,
    'subscription_status', v_user.subscription_status,
    'subscribed', coalesce(v_user.subscription_status in ('active', 'trialing', 'past_due'), false),
    'cancel_at_period_end', v_user.cancel_at_period_end,
    'current_period_end', v_user.current_period_end);
end
$$;

-- Name: billing_outcome(text, text, jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.billing_outcome(status text, outcome text, extra jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  return jsonb_build_object('status', status, 'outcome', outcome) || coalesce(extra, '{}'::jsonb);
end
$$;

-- Name: billing_pack(text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.billing_pack(pack text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_pack public.credit_packs;
begin
  select p.* into v_pack from public.credit_packs p
   where p.id = pack and p.active and p.stripe_price_id is not null;
  if not found then
    perform private.raise_api_error(404, 'pack_not_found', jsonb_build_object('pack_id', pack),
      'No credit pack with this id is on sale.');
  end if;
  return to_jsonb(v_pack);
end
$$;

-- Name: change_tier(uuid, text, text, jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.change_tier(target_user uuid, new_tier text, reference text, metadata jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return private.set_tier(target_user, new_tier, 0, 'subscription_grant', reference, null,
                          metadata);
end
$$;

-- Name: charge_user(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.charge_user(charge jsonb) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user uuid := private.stripe_object_user(charge);
begin
  if v_user is null and jsonb_typeof(charge -> 'payment_intent') = 'object' then
    v_user := private.stripe_object_user(charge -> 'payment_intent');
  end if;
  return v_user;
end
$$;

-- Name: check_date_range(date, date); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.check_date_range(from_date date, to_date date) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  if from_date is null or to_date is null or from_date > to_date or to_date - from_date > 365 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'from_date', 'from_date', from_date, 'to_date', to_date,
                         'max_days', 366),
      'from_date and to_date must be set, from_date <= to_date, at most 366 days apart.');
  end if;
end
$$;

-- Name: check_page_size(integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.check_page_size(page_size integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  if page_size is null or page_size not between 1 and 100 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'page_size', 'reason', 'out_of_range', 'min', 1, 'max', 100),
      'page_size is between 1 and 100.');
  end if;
end
$$;

-- Name: claim_analyses(text, integer, integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.claim_analyses(worker_id text, max_count integer DEFAULT 10, lease_seconds integer DEFAULT 120) RETURNS TABLE(analysis_id uuid, user_id uuid, action_type text, input jsonb, attempts integer, max_attempts integer, locked_until timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_want integer := max_count;
  v_got integer;
  v_now timestamptz;
begin
  if coalesce(btrim(claim_analyses.worker_id), '') = '' or max_count < 1 or lease_seconds < 1 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('max_count', max_count, 'lease_seconds', lease_seconds),
      'worker_id must be set; max_count and lease_seconds must be positive.');
  end if;

  -- A second pass runs when the first one leaves room. perform_action skips its NOTIFY
  -- while an older queued row is waiting (queue not drained), holding the gate lock
  -- shared until it commits; taking the gate exclusively here waits for those
  -- transactions, so a worker that comes back with a partial batch (and then sleeps
  -- until a NOTIFY) has seen every row queued without one. Both sides lock with
  -- `for no key update`, so a row one of them skips the other skips too (a
  -- `save_reply` key-share lock blocks neither).
  for pass in 1..2 loop
    v_now := clock_timestamp();  -- not now(): the second pass comes after the wait
    -- One statement: `picked` reads `expired` only when fewer than v_want queued
    -- rows are due (a crashed worker's analyses come back once its lease is over;
    -- the reaper fails those that already used their last attempt).
    return query
    with due as (
      select a.id from public.analyses a
       where a.status = 'queued' and a.run_after <= v_now
       order by a.run_after
       limit v_want
         for no key update skip locked
    ), expired as (
      select a.id from public.analyses a
       where a.status = 'processing' and a.locked_until < v_now and a.attempts < a.max_attempts
       order by a.locked_until
       limit v_want
         for no key update skip locked
    ), picked as (
      select d.id from due d
      union all
      select e.id from expired e
      limit v_want
    )
    update public.analyses a
       set status = 'processing',
           locked_by = claim_analyses.worker_id,
           locked_until = v_now + make_interval(secs => lease_seconds),
           attempts = a.attempts + 1,
           started_at = coalesce(a.started_at, v_now)
      from picked p
     where a.id = p.id
    returning a.id, a.user_id, a.action_type, a.input, a.attempts, a.max_attempts, a.locked_until;
    get diagnostics v_got = row_count;
    v_want := v_want - v_got;
    exit when v_want = 0 or pass = 2;
    -- Bounded: a perform_action left inside a long transaction must not hold up the
    -- worker, nor for long the perform_actions queued behind this request. Without
    -- the gate this batch stands, and the worker's fallback poll covers the rest.
    perform set_config('lock_timeout', '500ms', true);
    begin
      perform pg_advisory_xact_lock(private.queue_gate_lock_key());
    exception when lock_not_available then
      exit;
    end;
  end loop;
end
$$;

-- Name: claim_screenshot_deletions(integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.claim_screenshot_deletions(max_count integer DEFAULT 5) RETURNS TABLE(deletion_id bigint, path text, queued_at timestamp with time zone, attempts integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if max_count is null or max_count < 1 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('max_count', max_count), 'max_count must be positive.');
  end if;
  delete from private.screenshot_deletions d
   where d.id in (
     select q.id from private.screenshot_deletions q
      where q.run_after <= now() and q.reason = 'retention'
        and exists (select from public.analyses b
                     where b.user_id = q.user_id and b.input ->> 'image_path' = q.path)
        for update skip locked);
  return query
  with due as (
    select d.id from private.screenshot_deletions d
     where d.run_after <= now()
     order by d.run_after, d.id
     limit max_count
       for update skip locked
  )
  update private.screenshot_deletions d
     set attempts = d.attempts + 1,
         run_after = now() + least(make_interval(mins => 5) * power(2, least(d.attempts, 9)),
                                   interval '1 day')
    from due
   where d.id = due.id
  returning d.id, d.path, d.queued_at, d.attempts;
end
$$;

-- Name: claw_back_disputed_payment(bigint, text, text, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.claw_back_disputed_payment(payment bigint, dispute_id text, reason text, ledger_suffix text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_payment public.payments;
  v_delta integer;
begin
  select p.* into v_payment from public.payments p where p.id = payment for update;
  update public.payments p
     set status = 'disputed', credits_clawed_back = p.credits_granted, updated_at = now()
   where p.id = payment;
  v_delta := v_payment.credits_granted - v_payment.credits_clawed_back;
  if v_delta > 0 and v_payment.user_id is not null then
    perform private.clawback_purchased(v_payment.user_id, v_delta, 'dispute_clawback',
      'dispute_clawback:' || ledger_suffix, dispute_id,
      jsonb_build_object('payment_intent_id', v_payment.stripe_payment_intent_id,
                         'reason', reason));
  end if;
  return v_delta;
end
$$;

-- Name: clawback_purchased(uuid, integer, text, text, text, jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.clawback_purchased(target_user uuid, amount integer, kind text, ledger_key text, reference text, metadata jsonb) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  -- null when the account was deleted: the payment row keeps the figures
  return (private.move_credits(target_user, 0, -amount, kind, reference, ledger_key,
                               metadata)).balance_after;
end
$$;

-- Name: complete_analyses(text, jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.complete_analyses(worker_id text, results jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_applied jsonb;
  v_invalid jsonb;
begin
  with items as (
    select r.analysis_id, r.result, r.model, r.usage, r.prompt_version,
           private.analysis_result_problem(r.result) as problem
      from jsonb_to_recordset(coalesce(results, '[]'::jsonb))
           as r(analysis_id uuid, result jsonb, model text, usage jsonb, prompt_version text)
  ), stored as (
    update public.analyses a
       set status = 'done',
           result = i.result,
           model = i.model,
           usage = i.usage,
           prompt_version = coalesce(i.prompt_version, a.prompt_version),
           error = null,
           finished_at = now(),
           locked_by = null,
           locked_until = null
      from items i
     where a.id = i.analysis_id
       and i.problem is null
       and a.status = 'processing'
       and a.locked_by = complete_analyses.worker_id
    returning a.id
  )
  select coalesce((select jsonb_agg(s.id) from stored s), '[]'::jsonb),
         coalesce((select jsonb_agg(jsonb_build_object('analysis_id', i.analysis_id, 'field', i.problem))
                     from items i where i.problem is not null), '[]'::jsonb)
    into v_applied, v_invalid;
  return jsonb_build_object('applied', v_applied, 'invalid', v_invalid);
end
$$;

-- Name: complete_analysis(uuid, text, jsonb, text, jsonb, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.complete_analysis(analysis_id uuid, worker_id text, result jsonb, model text DEFAULT NULL::text, usage jsonb DEFAULT NULL::jsonb, prompt_version text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_problem text := private.analysis_result_problem(complete_analysis.result);
  v_out jsonb;
begin
  if v_problem is not null then
    perform private.raise_api_error(422, 'invalid_result', jsonb_build_object('field', v_problem),
      'The analysis result does not have the required shape; nothing was stored.');
  end if;
  v_out := private.complete_analyses(complete_analysis.worker_id, jsonb_build_array(jsonb_build_object(
    'analysis_id', complete_analysis.analysis_id, 'result', complete_analysis.result,
    'model', complete_analysis.model, 'usage', complete_analysis.usage,
    'prompt_version', complete_analysis.prompt_version)));
  return jsonb_array_length(v_out -> 'applied') = 1;
end
$$;

-- Name: credit_day(timestamp with time zone); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.credit_day(at timestamp with time zone DEFAULT now()) RETURNS date
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return ((at - make_interval(hours => (private.setting('reset_hour') #>> '{}')::integer))
          at time zone (private.setting('reset_timezone') #>> '{}'))::date;
end
$$;

-- Name: cron_jobs(integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.cron_jobs(reset_every_minutes integer) RETURNS TABLE(jobname text, schedule text, command text)
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  values
    ('flirt_daily_reset', format('*/%s * * * *', reset_every_minutes),
     private.daily_reset_command()),
    ('flirt_reap_expired_leases', '* * * * *', 'select private.reap_expired_leases()'),
    ('flirt_refresh_metrics', '*/10 * * * *',
     'select private.refresh_admin_metrics(current_date - 1, current_date)'),
    ('flirt_retention', '17 3 * * *', 'select private.purge_expired_inputs()')
$$;

-- Name: daily_reset_command(integer, boolean); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.daily_reset_command(batch_size integer DEFAULT NULL::integer, progress boolean DEFAULT false) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $_$
  select format($job$do $reset$
declare
  v_day date := private.credit_day(now());
  v_batch integer := coalesce(%s, private.required_setting('reset_batch_size')::integer);
  v_n integer;
  v_users bigint := 0;
  v_batches integer := 0;
  v_started timestamptz;
begin
  loop
    v_started := clock_timestamp();
    v_n := private.reset_due_users(v_day, v_batch);
    commit;
    exit when v_n = 0;
    v_users := v_users + v_n;
    v_batches := v_batches + 1;
    raise %s 'daily_reset_batch day=%% rows=%% ms=%%', v_day, v_n,
      round(extract(epoch from clock_timestamp() - v_started) * 1000, 1);
  end loop;
  raise notice 'daily_reset day=%% users=%% batches=%%', v_day, v_users, v_batches;
end
$reset$$job$,
    coalesce(batch_size::text, 'null'),
    case when progress then 'notice' else 'log' end)
$_$;

-- Name: decode_cursor(text, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.decode_cursor(kind text, cursor text, OUT created_at timestamp with time zone, OUT id uuid) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  v_b64 text;
  v_parts text[];
begin
  begin
    v_b64 := translate(cursor, '-_', '+/');
    v_b64 := v_b64 || repeat('=', (4 - length(v_b64) % 4) % 4);
    v_parts := string_to_array(convert_from(decode(v_b64, 'base64'), 'UTF8'), '|');
    if array_length(v_parts, 1) = 3 and v_parts[1] = kind then
      created_at := v_parts[2]::timestamp at time zone 'UTC';
      id := v_parts[3]::uuid;
    end if;
  exception when others then
    created_at := null;
  end;
  if created_at is null or id is null then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'cursor', 'reason', 'not_a_cursor'),
      'Pass next_cursor from the previous page, or nothing for the first page.');
  end if;
end
$$;

-- Name: delete_saved_reply(uuid); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.delete_saved_reply(reply_id uuid) RETURNS private.deleted_reply
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_uid uuid := private.require_user_id();
begin
  delete from public.saved_replies s
   where s.id = delete_saved_reply.reply_id and s.user_id = v_uid;
  if not found then
    perform private.raise_api_error(404, 'reply_not_found',
      jsonb_build_object('reply_id', delete_saved_reply.reply_id), 'This saved reply does not exist.');
  end if;
  return row(delete_saved_reply.reply_id, true)::private.deleted_reply;
end
$$;

-- Name: dispatch_stripe_event(text, jsonb, text, timestamp with time zone); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.dispatch_stripe_event(event_type text, object jsonb, event_id text, created timestamp with time zone) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return case event_type
    when 'checkout.session.completed' then private.apply_checkout_session(object)
    when 'checkout.session.async_payment_succeeded' then private.apply_checkout_session(object)
    when 'payment_intent.succeeded' then private.apply_payment_intent(object)
    when 'customer.subscription.created' then private.apply_subscription(object, created, false)
    when 'customer.subscription.updated' then private.apply_subscription(object, created, false)
    when 'customer.subscription.deleted' then private.apply_subscription(object, created, true)
    when 'invoice.paid' then private.apply_invoice(object, created, true)
    when 'invoice.payment_failed' then private.apply_invoice(object, created, false)
    when 'charge.refunded' then private.apply_charge_refunded(object, event_id)
    when 'charge.dispute.created' then private.apply_charge_dispute(object, event_id)
    when 'charge.dispute.closed' then private.apply_charge_dispute_closed(object, event_id)
    else private.billing_outcome('ignored', 'event type not handled')
  end;
end
$$;

-- Name: dispute_restriction(text, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.dispute_restriction(dispute_id text, reason text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  return format('payment_disputed:%s:%s', dispute_id, coalesce(reason, 'unknown'));
end
$$;

-- Name: encode_cursor(text, timestamp with time zone, uuid); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.encode_cursor(kind text, created_at timestamp with time zone, id uuid) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select rtrim(translate(encode(convert_to(
           kind || '|' || (created_at at time zone 'UTC')::text || '|' || id::text, 'UTF8'),
           'base64'), E'+/\n', '-_'), '=')
$$;

-- Name: export_my_data(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.export_my_data() RETURNS public.data_export
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_uid uuid := auth.uid();
  v_export public.data_export;
begin
  if v_uid is null then
    perform private.raise_api_error(401, 'not_authenticated', '{}'::jsonb, 'Sign in first.');
  end if;
  v_export := private.export_user_data(v_uid);
  if v_export.account is null then
    perform private.raise_api_error(404, 'user_not_found', '{}'::jsonb,
      'This account no longer exists.');
  end if;
  return v_export;
end
$$;

-- Name: export_user_data(uuid); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.export_user_data(user_id uuid) RETURNS public.data_export
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select pg_catalog.now(), u,
         array(select t from public.credits_transactions t where t.user_id = u.id order by t.id),
         array(select a from public.analyses a where a.user_id = u.id order by a.created_at, a.id),
         array(select r from public.saved_replies r
                where r.user_id = u.id order by r.created_at, r.id),
         array(select p from public.payments p where p.user_id = u.id order by p.id)
    from public.users u
   where u.id = export_user_data.user_id
$$;

-- Name: fail_analysis(uuid, text, text, boolean, double precision); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.fail_analysis(analysis_id uuid, worker_id text, error text, retryable boolean DEFAULT true, retry_after_seconds double precision DEFAULT NULL::double precision) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_an public.analyses;
  v_base double precision := private.required_setting('retry_base_seconds')::float8;
  v_delay double precision;
  v_error text := left(coalesce(fail_analysis.error, 'unknown error'), 500);
begin
  select a.* into v_an
    from public.analyses a
   where a.id = fail_analysis.analysis_id
     and a.status = 'processing'
     and a.locked_by = fail_analysis.worker_id
     for update;
  if not found then
    return null;
  end if;

  if fail_analysis.retryable and v_an.attempts < v_an.max_attempts then
    -- base * 2^(attempt-1), capped at an hour, with up to 20 % jitter
    v_delay := least(v_base * power(2, v_an.attempts - 1), 3600) * (1 + 0.2 * random());
    v_delay := greatest(v_delay, least(coalesce(fail_analysis.retry_after_seconds, 0), 3600));
    update public.analyses a
       set status = 'queued', error = v_error, run_after = now() + make_interval(secs => v_delay),
           locked_by = null, locked_until = null
     where a.id = v_an.id;
    perform pg_notify('analysis_queued', v_an.id::text);
    return 'queued';
  end if;

  update public.analyses a
     set status = 'failed', error = v_error, finished_at = now(),
         locked_by = null, locked_until = null
   where a.id = v_an.id;
  perform private.refund_analysis(v_an.id);
  return 'failed';
end
$$;

-- Name: finish_screenshot_deletion(bigint, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.finish_screenshot_deletion(deletion_id bigint, error text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if error is null then
    delete from private.screenshot_deletions d where d.id = deletion_id;
  else
    update private.screenshot_deletions d
       set last_error = left(error, 500)
     where d.id = deletion_id;
  end if;
  return found;
end
$$;

-- Name: get_analysis(uuid); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.get_analysis(analysis_id uuid) RETURNS public.analysis_detail
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_uid uuid := private.require_user_id();
  v_result public.analysis_detail;
begin
  select a.id, a.action_type, a.status, a.cost, a.input, a.result, a.error, a.model, a.usage,
         a.created_at, a.started_at, a.finished_at
    into v_result
    from public.analyses a
   where a.id = get_analysis.analysis_id and a.user_id = v_uid;
  if not found then
    perform private.raise_api_error(404, 'analysis_not_found',
      jsonb_build_object('analysis_id', get_analysis.analysis_id),
      'This analysis does not exist.');
  end if;
  return v_result;
end
$$;

-- Name: get_credits(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.get_credits() RETURNS private.credit_balance
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_uid uuid := private.require_user_id();
  v_day date := private.credit_day(now());
  v_result private.credit_balance;
begin
  perform private.reset_user_if_due(v_uid, now());
  select u.credits_remaining, u.daily_credits, u.purchased_credits, t.daily_credits, u.tier,
         private.next_reset_at(greatest(u.daily_reset_on, v_day)),
         u.restricted_reason is not null
    into v_result
    from public.users u join public.tiers t on t.id = u.tier
   where u.id = v_uid;
  if not found then
    perform private.raise_api_error(401, 'not_authenticated', '{"reason":"no_account"}'::jsonb,
      'This account no longer exists. Sign in again.');
  end if;
  return v_result;
end
$$;

-- Name: get_history(integer, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.get_history(page_size integer, cursor text) RETURNS public.history_page
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_uid uuid := private.require_user_id();
  -- first page: a position after every row, so one index range scan serves every page
  v_after_at timestamptz := 'infinity'::timestamptz;
  v_after_id uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid;
  v_items public.history_item[];
  v_more boolean;
  v_last_at timestamptz;
  v_last_id uuid;
begin
  perform private.check_page_size(page_size);
  if cursor is not null then
    select c.created_at, c.id into v_after_at, v_after_id from private.decode_cursor('h', cursor) c;
  end if;

  with page as (
    select a.id, a.action_type, a.status, a.cost, a.created_at, a.finished_at
      from public.analyses a
     where a.user_id = v_uid
       and (a.created_at, a.id) < (v_after_at, v_after_id)
     order by a.created_at desc, a.id desc
     limit page_size + 1
  ), numbered as (
    select p.*, row_number() over (order by p.created_at desc, p.id desc) as n from page p
  )
  select coalesce(array_agg(row(n.id, n.action_type, n.status, n.cost, n.created_at,
                                n.finished_at)::public.history_item
           order by n.n) filter (where n.n <= page_size), '{}'),
         count(*) > page_size,
         (array_agg(n.created_at order by n.n desc) filter (where n.n <= page_size))[1],
         (array_agg(n.id order by n.n desc) filter (where n.n <= page_size))[1]
    into v_items, v_more, v_last_at, v_last_id
    from numbered n;

  if not v_more then
    return row(v_items, null)::public.history_page;
  end if;
  return row(v_items, private.encode_cursor('h', v_last_at, v_last_id))::public.history_page;
end
$$;

-- Name: get_saved_replies(integer, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.get_saved_replies(page_size integer, cursor text) RETURNS public.saved_replies_page
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_uid uuid := private.require_user_id();
  -- first page: a position after every row, so one index range scan serves every page
  v_after_at timestamptz := 'infinity'::timestamptz;
  v_after_id uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid;
  v_items public.saved_reply[];
  v_more boolean;
  v_last_at timestamptz;
  v_last_id uuid;
begin
  perform private.check_page_size(page_size);
  if cursor is not null then
    select c.created_at, c.id into v_after_at, v_after_id from private.decode_cursor('s', cursor) c;
  end if;

  with page as (
    select s.id, s.analysis_id, s.reply, s.created_at
      from public.saved_replies s
     where s.user_id = v_uid
       and (s.created_at, s.id) < (v_after_at, v_after_id)
     order by s.created_at desc, s.id desc
     limit page_size + 1
  ), numbered as (
    select p.*, row_number() over (order by p.created_at desc, p.id desc) as n from page p
  )
  select coalesce(array_agg(row(n.id, n.analysis_id, n.reply, n.created_at)::public.saved_reply
           order by n.n) filter (where n.n <= page_size), '{}'),
         count(*) > page_size,
         (array_agg(n.created_at order by n.n desc) filter (where n.n <= page_size))[1],
         (array_agg(n.id order by n.n desc) filter (where n.n <= page_size))[1]
    into v_items, v_more, v_last_at, v_last_id
    from numbered n;

  if not v_more then
    return row(v_items, null)::public.saved_replies_page;
  end if;
  return row(v_items, private.encode_cursor('s', v_last_at, v_last_id))::public.saved_replies_page;
end
$$;

-- Name: grant_purchase(uuid, text, text, integer, text, text, text, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.grant_purchase(target_user uuid, pack text, payment_intent text, amount integer, currency_code text, checkout_session text DEFAULT NULL::text, charge text DEFAULT NULL::text, source text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_pack public.credit_packs;
  v_payment bigint;
  v_credits integer;
  v_balance integer;
  v_taken integer := 0;
begin
  perform pg_catalog.pg_advisory_xact_lock(private.payment_intent_lock_key(payment_intent));
  -- not `active`: a pack retired after the customer paid is still owed
  select p.* into v_pack from public.credit_packs p where p.id = pack;
  if not found then
    perform private.raise_api_error(404, 'pack_not_found', jsonb_build_object('pack_id', pack),
      'The payment names a credit pack that is not configured.');
  end if;
  v_credits := v_pack.credits + v_pack.bonus_credits;

  -- The unique PaymentIntent id makes the grant happen once: a concurrent
  -- grant for the same payment waits here and then does nothing.
  insert into public.payments
    (stripe_payment_intent_id, stripe_checkout_session_id, stripe_charge_id, user_id, pack_id,
     amount_cents, currency, credits_granted)
  values
    (payment_intent, checkout_session, charge, target_user, pack,
     coalesce(amount, v_pack.price_cents), coalesce(currency_code, v_pack.currency), v_credits)
  on conflict (stripe_payment_intent_id) do nothing
  returning id into v_payment;

  if v_payment is null then
    update public.payments p
       set stripe_checkout_session_id = coalesce(p.stripe_checkout_session_id, checkout_session),
           stripe_charge_id = coalesce(p.stripe_charge_id, charge),
           updated_at = now()
     where p.stripe_payment_intent_id = payment_intent
       and ((p.stripe_checkout_session_id is null and checkout_session is not null)
            or (p.stripe_charge_id is null and charge is not null));
    return private.billing_outcome('processed', 'already granted for ' || payment_intent,
      jsonb_build_object('granted', false));
  end if;

  v_balance := (private.move_credits(target_user, 0, v_credits, 'purchase', payment_intent,
    'purchase:' || payment_intent,
    jsonb_build_object('pack_id', pack, 'credits', v_pack.credits,
                       'bonus_credits', v_pack.bonus_credits, 'source', source,
                       'checkout_session_id', checkout_session))).balance_after;
  if v_balance is null then
    perform private.raise_api_error(404, 'user_not_found', jsonb_build_object('user_id', target_user),
      'The payment belongs to no existing account.');
  end if;
  if exists (select 1 from private.subscription_refunds r
              where r.stripe_payment_intent_id = payment_intent)
     or exists (select 1 from private.disputes d
                 where d.payment_id is null and d.stripe_payment_intent_id = payment_intent) then
    v_taken := private.take_back_earlier_reversals(v_payment);
  end if;
  return private.billing_outcome('processed',
    format('granted %s credits (pack %s) for %s%s', v_credits, pack, payment_intent,
           case when v_taken > 0
                then format(', then took back %s for its earlier refund or dispute', v_taken)
                else '' end),
    jsonb_build_object('granted', true, 'credits', v_credits,
                       'credits_remaining', v_balance - v_taken));
end
$$;

-- Name: guard_ledger_append_only(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.guard_ledger_append_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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

-- Name: handle_new_user(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.handle_new_user() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_tier public.tiers;
  v_tier_key text := case when new.is_anonymous then 'anonymous_tier' else 'default_tier' end;
  v_bonus integer := case when new.is_anonymous then 0 else
    coalesce((private.setting('signup_bonus_credits') #>> '{}')::integer, 0) end;
begin
  select t.* into v_tier
    from public.tiers t
   where t.id = private.setting(v_tier_key) #>> '{}';
  if not found then
    raise exception using errcode = 'P0001', message = v_tier_key || '_not_configured',
      hint = 'Run `flirt-admin config sync` before creating users.';
  end if;

  insert into public.users
    (id, email, tier, daily_credits, purchased_credits, daily_reset_on, signup_bonus_pending)
  values (new.id, new.email, v_tier.id, v_tier.daily_credits, v_bonus, private.credit_day(),
          new.is_anonymous);

  insert into public.credits_transactions
    (user_id, daily_delta, purchased_delta, kind, balance_after, reference, metadata)
  values
    (new.id, v_tier.daily_credits, v_bonus, 'signup_bonus', v_tier.daily_credits + v_bonus,
     'signup', case when new.is_anonymous then '{"anonymous":true}'::jsonb else '{}'::jsonb end);
  return new;
end
$$;

-- Name: handle_user_converted(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.handle_user_converted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user record;
  v_tier text;
begin
  select u.tier, u.subscription_status, u.signup_bonus_pending into v_user
    from public.users u where u.id = new.id for update;
  if not found or not v_user.signup_bonus_pending then
    return new;  -- converted before (or never anonymous here): nothing is owed
  end if;
  v_tier := case when v_user.subscription_status in ('active', 'trialing', 'past_due')
                 then v_user.tier
                 else private.setting('default_tier') #>> '{}' end;
  perform private.set_tier(new.id, v_tier,
    coalesce((private.setting('signup_bonus_credits') #>> '{}')::integer, 0),
    'signup_bonus', 'signup', 'signup_bonus:' || new.id::text,
    '{"converted":true}'::jsonb);
  update public.users u set signup_bonus_pending = false where u.id = new.id;
  return new;
end
$$;

-- Name: handle_user_email_change(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.handle_user_email_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.users set email = new.email, updated_at = now() where id = new.id;
  return new;
end
$$;

-- Name: heartbeat_analysis(uuid, text, integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.heartbeat_analysis(analysis_id uuid, worker_id text, lease_seconds integer DEFAULT 120) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.analyses a
     set locked_until = now() + make_interval(secs => heartbeat_analysis.lease_seconds)
   where a.id = heartbeat_analysis.analysis_id
     and a.status = 'processing'
     and a.locked_by = heartbeat_analysis.worker_id;
  return found;
end
$$;

-- Name: is_admin(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.is_admin() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select exists (
    select 1 from public.users u where u.id = (select auth.uid()) and u.role = 'admin'
  )
$$;

-- Name: is_admin_or_service(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.is_admin_or_service() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  -- SECURITY DEFINER changes current_user, not the session's `role` setting,
  -- which is what the CLI (`set role`) and PostgREST (`set local role`) set.
  select coalesce(current_setting('role', true), '') = 'service_role'
      or coalesce(auth.role(), '') = 'service_role'
      or private.is_admin()
$$;

-- Name: keep_open_dispute_restriction(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.keep_open_dispute_restriction() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_open private.disputes;
begin
  select d.* into v_open
    from private.disputes d
   where d.user_id = new.id and d.status not in ('won', 'lost', 'warning_closed')
   order by d.created_at, d.id
   limit 1
   for update;
  if found then
    new.restricted_reason := private.dispute_restriction(v_open.id, v_open.reason);
    update private.disputes d set restriction = new.restricted_reason, updated_at = now()
     where d.id = v_open.id;
  end if;
  return new;
end
$$;

-- Name: ledger_mismatches(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.ledger_mismatches() RETURNS TABLE(user_id uuid, daily_credits integer, ledger_daily bigint, purchased_credits integer, ledger_purchased bigint, credits_remaining integer, last_balance_after integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select p.user_id, p.daily_credits, p.ledger_daily, p.purchased_credits, p.ledger_purchased,
         p.credits_remaining, p.last_balance_after
    from private.ledger_mismatches_page(null, 2147483647) p
   where p.mismatch
$$;

-- Name: ledger_mismatches_page(uuid, integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.ledger_mismatches_page(after_id uuid, page_size integer) RETURNS TABLE(user_id uuid, daily_credits integer, ledger_daily bigint, purchased_credits integer, ledger_purchased bigint, credits_remaining integer, last_balance_after integer, mismatch boolean, users_checked integer, last_user_id uuid)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $_$
begin
  -- EXECUTE plans with the actual page bounds: a generic plan of the page query (unknown
  -- limit) scans whole tables
  return query execute $q$
    with page as (
      select u.id, u.daily_credits, u.purchased_credits, u.credits_remaining
        from public.users u
       -- a plain range (not `after_id is null or …`) so the primary key index serves it
       where u.id > coalesce($1, '00000000-0000-0000-0000-000000000000'::uuid)
       order by u.id
       limit $2
    ), ledger as (
      -- the page is a contiguous id range: one range scan of the (user_id, id) index
      select t.user_id, sum(t.daily_delta) as daily, sum(t.purchased_delta) as purchased,
             max(t.id) as last_id
        from public.credits_transactions t
       where t.user_id between (select min(p.id::text)::uuid from page p)
                           and (select max(p.id::text)::uuid from page p)
       group by t.user_id
    ), checked as (
      select p.id, p.daily_credits, coalesce(l.daily, 0) as ledger_daily,
             p.purchased_credits, coalesce(l.purchased, 0) as ledger_purchased,
             p.credits_remaining, last.balance_after,
             (coalesce(l.daily, 0) <> p.daily_credits
               or coalesce(l.purchased, 0) <> p.purchased_credits
               or last.balance_after is distinct from p.credits_remaining) as mismatch
        from page p
        left join ledger l on l.user_id = p.id
        left join public.credits_transactions last on last.id = l.last_id
    ), summary as (
      select count(*)::integer as n, max(c.id::text)::uuid as last_id from checked c
    )
    -- every mismatching user, plus one summary row (user_id null) carrying the page's extent
    select c.id, c.daily_credits, c.ledger_daily, c.purchased_credits, c.ledger_purchased,
           c.credits_remaining, c.balance_after, true, s.n, s.last_id
      from checked c, summary s
     where c.mismatch
    union all
    select null, null, null, null, null, null, null, false, s.n, s.last_id
      from summary s
  $q$ using after_id, page_size;
end
$_$;

-- Name: list_stripe_events(text, text, integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.list_stripe_events(status_filter text DEFAULT NULL::text, type_filter text DEFAULT NULL::text, max_rows integer DEFAULT 50) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select coalesce(jsonb_agg(to_jsonb(r) order by r.received_at desc, r.id), '[]'::jsonb)
    from (
      select e.id, e.type, e.status, e.attempts, e.outcome, e.last_error, e.stripe_created,
             e.received_at, e.processed_at
        from public.stripe_webhook_events e
       where (status_filter is null or e.status = status_filter)
         and (type_filter is null or e.type = type_filter)
       order by e.received_at desc, e.id
       limit greatest(1, least(max_rows, 1000))
    ) r
$$;

-- Name: move_credits(uuid, integer, integer, text, text, text, jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.move_credits(target_user uuid, daily_delta integer, purchased_delta integer, kind text, reference text, ledger_key text DEFAULT NULL::text, metadata jsonb DEFAULT '{}'::jsonb) RETURNS public.credits_transactions
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_balance integer;
  v_row public.credits_transactions;
begin
  update public.users u
     set daily_credits = u.daily_credits + move_credits.daily_delta,
         purchased_credits = u.purchased_credits + move_credits.purchased_delta,
         daily_used = u.daily_used
                      - case when move_credits.kind in ('action', 'action_refund')
                             then move_credits.daily_delta else 0 end,
         updated_at = now()
   where u.id = target_user
  returning u.credits_remaining into v_balance;
  if not found then
    return v_row;
  end if;
  insert into public.credits_transactions as t
    (user_id, daily_delta, purchased_delta, kind, balance_after, reference, idempotency_key,
     metadata)
  values (target_user, move_credits.daily_delta, move_credits.purchased_delta, move_credits.kind,
          v_balance, move_credits.reference, ledger_key,
          coalesce(move_credits.metadata, '{}'::jsonb))
  returning t.* into v_row;
  return v_row;
end
$$;

-- Name: next_reset_at(date); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.next_reset_at(day date) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  -- local midnight after `day`, plus reset.hour, read in reset.timezone
  return ((day + 1)::timestamp at time zone (private.setting('reset_timezone') #>> '{}'))
         + make_interval(hours => (private.setting('reset_hour') #>> '{}')::integer);
end
$$;

-- Name: pack_payment_exists(text, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.pack_payment_exists(payment_intent text, charge text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return exists (select 1 from public.payments p
                  where p.stripe_payment_intent_id = payment_intent or p.stripe_charge_id = charge);
end
$$;

-- Name: payment_intent_lock_key(text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.payment_intent_lock_key(payment_intent text) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  return pg_catalog.hashtextextended('stripe_payment:' || payment_intent, 0);
end
$$;

-- Name: perform_action(text, jsonb, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.perform_action(action_type text, input jsonb, idempotency_key text DEFAULT NULL::text) RETURNS private.action_receipt
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  v_sub text := coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub');
  v_uid uuid;
  r record;
  v_prev record;
  v_daily integer;
  v_day date;
  v_take_daily integer;
  v_take_purchased integer;
  v_pending integer;
  v_id uuid;
begin
  -- 1. authenticated
  if v_sub is null
     or v_sub !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    perform private.raise_api_error(401, 'not_authenticated', '{}'::jsonb, 'Sign in to continue.');
  end if;
  v_uid := v_sub::uuid;

  -- One statement: the action's cost, the settings, and the caller's row, locked.
  -- The credit day is private.credit_day(now()), computed inline from the same settings.
  select c.cost, c.max_input_chars, c.enabled,
         s.max_pending, s.max_bytes, s.max_attempts,
         ((now() - make_interval(hours => s.reset_hour)) at time zone s.reset_timezone)::date as today,
         u.daily_credits, u.purchased_credits, u.daily_reset_on, u.restricted_reason,
         t.daily_credits as allowance
    into r
    from public.users u
    join public.tiers t on t.id = u.tier
   cross join (
      select (max(a.value #>> '{}') filter (where a.key = 'max_pending_analyses'))::integer as max_pending,
             (max(a.value #>> '{}') filter (where a.key = 'max_input_bytes'))::integer as max_bytes,
             (max(a.value #>> '{}') filter (where a.key = 'max_attempts'))::integer as max_attempts,
             (max(a.value #>> '{}') filter (where a.key = 'reset_hour'))::integer as reset_hour,
             max(a.value #>> '{}') filter (where a.key = 'reset_timezone') as reset_timezone
        from public.app_settings a
       where a.key in ('max_pending_analyses', 'max_input_bytes', 'max_attempts',
                       'reset_hour', 'reset_timezone')) s
    left join public.action_costs c on c.action_type = perform_action.action_type
   where u.id = v_uid
     for update of u;
  if not found then
    perform private.raise_api_error(401, 'not_authenticated', '{"reason":"no_account"}'::jsonb,
      'This account no longer exists. Sign in again.');
  end if;
  -- settings every install has (config sync writes them): a missing one is a clear error
  if r.max_pending is null or r.max_bytes is null or r.max_attempts is null or r.today is null then
    perform private.required_setting(k.key)
       from unnest(array['max_pending_analyses', 'max_input_bytes', 'max_attempts',
                         'reset_hour', 'reset_timezone']) k(key);
  end if;

  -- 2. known and enabled action
  if r.cost is null then
    perform private.raise_api_error(400, 'unknown_action',
      jsonb_build_object('action_type', perform_action.action_type),
      'This kind of analysis does not exist.');
  end if;
  if not r.enabled then
    perform private.raise_api_error(400, 'action_disabled',
      jsonb_build_object('action_type', perform_action.action_type),
      'This kind of analysis is switched off for now.');
  end if;

  -- 3. input shape and limits
  perform private.validate_action_input(perform_action.action_type, perform_action.input,
                                        r.max_input_chars, r.max_bytes, v_uid);
  if perform_action.idempotency_key is not null
     and char_length(perform_action.idempotency_key) not between 1 and 200 then
    perform private.raise_invalid_input('idempotency_key', 'bad_length',
      jsonb_build_object('min_chars', 1, 'max_chars', 200),
      'idempotency_key is 1 to 200 characters.');
  end if;

  -- due daily reset (the row is locked; a later failing check rolls it back)
  v_daily := r.daily_credits;
  -- the credit day whose daily bucket pays: the row's own, which is later than `today`
  -- when a transaction that began after the reset hour reset it while this one waited
  v_day := r.daily_reset_on;
  if r.daily_reset_on < r.today then
    perform private.apply_daily_reset(v_uid, r.daily_credits, r.purchased_credits,
                                      r.allowance, r.today);
    v_daily := r.allowance;
    v_day := r.today;
  end if;

  -- 4. idempotent replay (after the lock, so a concurrent twin has committed by now)
  if perform_action.idempotency_key is not null then
    select a.id, a.status, a.cost, a.action_type, a.input, a.input_purged_at
      into v_prev
      from public.analyses a
     where a.user_id = v_uid and a.idempotency_key = perform_action.idempotency_key;
    if found then
      if v_prev.action_type <> perform_action.action_type
         or (v_prev.input_purged_at is null and v_prev.input <> perform_action.input) then
        perform private.raise_api_error(409, 'idempotency_key_reused',
          jsonb_build_object('analysis_id', v_prev.id),
          'This idempotency key was already used for a different request.');
      end if;
      return row(v_prev.id, v_prev.status, v_prev.cost, v_daily + r.purchased_credits,
                 v_daily, r.purchased_credits, true)::private.action_receipt;
    end if;
  end if;

  -- 5. restriction
  if r.restricted_reason is not null then
    perform private.raise_api_error(403, 'account_restricted', '{}'::jsonb,
      'Your account is restricted. Contact support.');
  end if;

  -- 6. pending limit (counted after the lock: no concurrent request can slip past it)
  select count(*) into v_pending
    from (select from public.analyses a
           where a.user_id = v_uid and a.status in ('queued', 'processing')
           limit r.max_pending) p;
  if v_pending >= r.max_pending then
    perform private.raise_api_error(429, 'too_many_pending',
      jsonb_build_object('pending', v_pending, 'max_pending', r.max_pending),
      'Wait for your running analyses to finish.');
  end if;

  -- 7. balance
  if v_daily + r.purchased_credits < r.cost then
    perform private.raise_api_error(402, 'insufficient_credits',
      jsonb_build_object('required', r.cost, 'available', v_daily + r.purchased_credits),
      'Not enough credits. Buy a pack or wait for your daily credits.');
  end if;

  -- debit: daily bucket first, then purchased
  v_take_daily := least(v_daily, r.cost);
  v_take_purchased := r.cost - v_take_daily;
  -- time-ordered id (UUIDv7 layout: 48-bit ms timestamp, version 7, random rest): new rows
  -- land on the right edge of the primary key instead of on a random page
  v_id := encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
            substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
            from 1 for 6), 52, 1), 53, 1), 'hex')::uuid;

  update public.users u
     set daily_credits = v_daily - v_take_daily,
         purchased_credits = r.purchased_credits - v_take_purchased,
         daily_used = u.daily_used + v_take_daily,
         updated_at = now()
   where u.id = v_uid;

  insert into public.analyses
    (id, user_id, action_type, cost, daily_cost, purchased_cost, input, idempotency_key,
     max_attempts, charged_on)
  values
    (v_id, v_uid, perform_action.action_type, r.cost, v_take_daily, v_take_purchased,
     perform_action.input, perform_action.idempotency_key, r.max_attempts, v_day);

  insert into public.credits_transactions
    (user_id, daily_delta, purchased_delta, kind, balance_after, reference, metadata)
  values
    (v_uid, -v_take_daily, -v_take_purchased, 'action',
     v_daily + r.purchased_credits - r.cost, v_id::text,
     jsonb_build_object('action_type', perform_action.action_type));

  -- Wake the workers, unless one is bound to claim this row anyway. An older queued
  -- row that no claim holds means the queue is not drained, and a worker only goes
  -- to sleep after a claim that took the gate lock exclusively (private.claim_analyses),
  -- that is, after this transaction committed. NOTIFY holds a cluster-wide lock until
  -- the commit is flushed, so skipping it under a backlog lets commits flush together.
  perform pg_advisory_xact_lock_shared(private.queue_gate_lock_key());
  perform from public.analyses a
   where a.status = 'queued' and a.attempts = 0 and a.run_after <= now() and a.id <> v_id
   order by a.run_after desc
   limit 1
     for no key update skip locked;
  if not found then
    perform pg_notify('analysis_queued', v_id::text);
  end if;

  -- analysis_id, status, cost, credits_remaining, daily_credits, purchased_credits, replayed
  return row(v_id, 'queued', r.cost, v_daily + r.purchased_credits - r.cost,
             v_daily - v_take_daily, r.purchased_credits - v_take_purchased,
             false)::private.action_receipt;
end
$_$;

-- Name: plan_subscription(uuid, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.plan_subscription(target_user uuid, tier text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_tier public.tiers;
  v_account jsonb := private.billing_account(target_user, true);
begin
  select t.* into v_tier from public.tiers t where t.id = tier;
  if not found then
    perform private.raise_api_error(404, 'tier_not_found', jsonb_build_object('tier', tier),
      'No tier with this id exists.');
  end if;
  if v_tier.stripe_price_id is null then
    perform private.raise_api_error(400, 'tier_not_purchasable', jsonb_build_object('tier', tier),
      'This tier is not sold as a subscription.');
  end if;
  if not (v_account ->> 'subscribed')::boolean then
    return v_account || jsonb_build_object('action', 'checkout', 'price_id', v_tier.stripe_price_id,
                                           'target_tier', v_tier.id);
  end if;
  -- a plan change only while paid up: a past_due subscription pays its open invoice first
  if v_account ->> 'subscription_status' not in ('active', 'trialing') then
    perform private.raise_api_error(409, 'subscription_not_active',
      jsonb_build_object('status', v_account ->> 'subscription_status'),
      'The subscription has an unpaid invoice; pay it before changing the plan.');
  end if;
  if v_account ->> 'tier' = v_tier.id and not (v_account ->> 'cancel_at_period_end')::boolean then
    perform private.raise_api_error(409, 'already_subscribed', jsonb_build_object('tier', tier),
      'You are already subscribed to this tier.');
  end if;
  return v_account || jsonb_build_object('action', 'modify', 'price_id', v_tier.stripe_price_id,
                                         'target_tier', v_tier.id);
end
$$;

-- Name: purge_expired_inputs(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.purge_expired_inputs() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_days integer := private.required_setting('input_retention_days')::integer;
  v_count integer;
begin
  -- A purged screenshot is queued for deletion from Storage, unless another analysis
  -- whose input is still kept names the same file.
  with expired as (
    select a.id, a.user_id, a.input ->> 'image_path' as image_path
      from public.analyses a
     where a.input is not null
       and a.status in ('done', 'failed')
       and a.finished_at < pg_catalog.now() - make_interval(days => v_days)
       for no key update
  ), purged as (
    update public.analyses a
       set input = null, input_purged_at = pg_catalog.now()
      from expired e
     where a.id = e.id
    returning e.user_id, e.image_path
  ), screenshots as (
    insert into private.screenshot_deletions (path, user_id, reason)
    select distinct p.image_path, p.user_id, 'retention'
      from purged p
     where p.image_path is not null
       and not exists (
         select from public.analyses b
          where b.user_id = p.user_id
            and b.input ->> 'image_path' = p.image_path
            and not exists (select from expired e where e.id = b.id))
  )
  select count(*) into v_count from purged;
  return v_count;
end
$$;

-- Name: queue_account_screenshots(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.queue_account_screenshots() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  insert into private.screenshot_deletions (path, user_id, reason)
  values (old.id::text || '/', old.id, 'account_deleted');
  return old;
end
$$;

-- Name: queue_gate_lock_key(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.queue_gate_lock_key() RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path TO ''
    AS $$
  select 7346150001::bigint
$$;

-- Name: raise_api_error(integer, text, jsonb, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.raise_api_error(status integer, code text, detail jsonb DEFAULT '{}'::jsonb, hint text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  raise exception using
    errcode = 'PT' || status::text,
    message = code,
    detail = coalesce(detail, '{}'::jsonb)::text,
    hint = coalesce(hint, code);
end
$$;

-- Name: raise_invalid_input(text, text, jsonb, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.raise_invalid_input(field text, reason text, detail jsonb, hint text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  perform private.raise_api_error(400, 'invalid_input',
    jsonb_build_object('field', field, 'reason', reason) || coalesce(detail, '{}'::jsonb), hint);
end
$$;

-- Name: reap_expired_leases(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.reap_expired_leases() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_id uuid;
  v_failed integer := 0;
  v_requeued uuid[];
begin
  for v_id in
    select a.id from public.analyses a
     where a.status = 'processing' and a.locked_until < now() and a.attempts >= a.max_attempts
       for update skip locked
  loop
    update public.analyses a
       set status = 'failed', error = 'lease_expired: the worker stopped before finishing',
           finished_at = now(), locked_by = null, locked_until = null
     where a.id = v_id;
    perform private.refund_analysis(v_id);
    v_failed := v_failed + 1;
  end loop;

  -- Attempts left: show them as queued again (a worker would reclaim them anyway).
  with expired as (
    select a.id from public.analyses a
     where a.status = 'processing' and a.locked_until < now() and a.attempts < a.max_attempts
       for update skip locked
  ), requeued as (
    update public.analyses a
       set status = 'queued', locked_by = null, locked_until = null, run_after = now()
      from expired e
     where a.id = e.id
    returning a.id
  )
  select coalesce(array_agg(r.id), '{}') into v_requeued from requeued r;
  foreach v_id in array v_requeued loop
    perform pg_notify('analysis_queued', v_id::text);
  end loop;
  return v_failed;
end
$$;

-- Name: record_stripe_event_failure(jsonb, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.record_stripe_event_failure(event jsonb, error text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_id text := event ->> 'id';
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('stripe_event:' || v_id, 0));
  insert into public.stripe_webhook_events as e (id, type, stripe_created, payload, status, last_error)
  values (v_id, event ->> 'type', coalesce(private.stripe_time(event -> 'created'), now()), event,
          'failed', error)
  on conflict (id) do update
    set last_error = excluded.last_error, attempts = e.attempts + 1, updated_at = now()
  where e.status = 'failed';
  return jsonb_build_object('event_id', v_id, 'type', event ->> 'type', 'status', 'failed',
                            'duplicate', false, 'error', error);
end
$$;

-- Name: redact_deleted_user_events(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.redact_deleted_user_events() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.stripe_webhook_events e
     set payload = jsonb_build_object(
           'id', e.payload -> 'id', 'type', e.payload -> 'type',
           'created', e.payload -> 'created', 'redacted', true,
           'data', jsonb_build_object('object', jsonb_build_object(
             'id', e.payload #> '{data,object,id}',
             'object', e.payload #> '{data,object,object}'))),
         updated_at = pg_catalog.now()
   where not coalesce((e.payload ->> 'redacted')::boolean, false)
     -- the objects stripe_object_user attributes to this user (by the user it names or
     -- by its customer), compared without a lookup per event
     and (private.stripe_object_user_ref(e.payload -> 'data' -> 'object') = old.id::text
          or private.stripe_id(e.payload #> '{data,object,customer}') = old.stripe_customer_id
          -- refunds and disputes name only the payment (and carry billing details)
          or e.payload #>> '{data,object,payment_intent}' in (
               select p.stripe_payment_intent_id from public.payments p where p.user_id = old.id)
          or e.payload #>> '{data,object,charge}' in (
               select p.stripe_charge_id from public.payments p where p.user_id = old.id));
  return old;
end
$$;

-- Name: refresh_admin_metrics(date, date); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.refresh_admin_metrics(from_date date, to_date date) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

-- Name: refund_analysis(uuid); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.refund_analysis(analysis_id uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_an record;
  v_user record;
  v_daily integer := 0;
  v_metadata jsonb;
begin
  update public.analyses a
     set refunded_at = now()
   where a.id = refund_analysis.analysis_id and a.refunded_at is null and a.cost > 0
     and a.status = 'failed'  -- a delivered result is never refunded
  returning a.id, a.user_id, a.action_type, a.daily_cost, a.purchased_cost, a.charges,
            coalesce(a.charged_on, private.credit_day(a.created_at)) as charged_on
    into v_an;
  if not found then
    return false;
  end if;

  -- a due daily reset first: it decides whether the charge's credit day is over
  perform private.reset_user_if_due(v_an.user_id, now());
  select u.daily_credits, u.daily_used, u.daily_reset_on, t.daily_credits as allowance
    into v_user
    from public.users u join public.tiers t on t.id = u.tier
   where u.id = v_an.user_id
     for update of u;
  if not found then
    return true;  -- the account is gone; nothing to give back
  end if;
  if v_user.daily_reset_on = v_an.charged_on then
    v_daily := least(v_an.daily_cost, v_user.daily_used,
                     greatest(v_user.allowance - v_user.daily_credits, 0));
  end if;
  v_metadata := jsonb_build_object('action_type', v_an.action_type);
  if v_daily < v_an.daily_cost then
    v_metadata := v_metadata || jsonb_build_object(
      'daily_forfeited', v_an.daily_cost - v_daily,
      'daily_forfeited_reason', case when v_user.daily_reset_on <> v_an.charged_on
                                     then 'credit_day_over' else 'allowance_reached' end);
  end if;
  -- the unique idempotency key is the second guard against a double refund; an analysis
  -- retried by an admin was charged again, and that charge has its own key
  perform private.move_credits(v_an.user_id, v_daily, v_an.purchased_cost,
    'action_refund', v_an.id::text,
    'refund:' || v_an.id::text || case when v_an.charges > 1 then ':' || v_an.charges else '' end,
    v_metadata);
  return true;
end
$$;

-- Name: release_analysis(uuid, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.release_analysis(analysis_id uuid, worker_id text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.analyses a
     set status = 'queued', locked_by = null, locked_until = null,
         attempts = greatest(a.attempts - 1, 0), run_after = now()
   where a.id = release_analysis.analysis_id
     and a.status = 'processing'
     and a.locked_by = release_analysis.worker_id;
  if not found then
    return false;
  end if;
  perform pg_notify('analysis_queued', release_analysis.analysis_id::text);
  return true;
end
$$;

-- Name: replay_stripe_event(text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.replay_stripe_event(event_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_payload jsonb;
  v_error text;
begin
  select e.payload into v_payload from public.stripe_webhook_events e where e.id = event_id;
  if not found then
    perform private.raise_api_error(404, 'event_not_found', jsonb_build_object('event_id', event_id),
      'No Stripe event with this id was received.');
  end if;
  begin
    return private.apply_stripe_event(v_payload);
  exception when others then
    get stacked diagnostics v_error = message_text;
    return private.record_stripe_event_failure(v_payload, v_error);
  end;
end
$$;

-- Name: require_admin(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.require_admin() RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if not private.is_admin_or_service() then
    perform private.raise_api_error(403, 'forbidden', '{}'::jsonb,
      'Only administrators can do this.');
  end if;
end
$$;

-- Name: require_user_id(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.require_user_id() RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  v_sub text := coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub');
begin
  if v_sub is null
     or v_sub !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    perform private.raise_api_error(401, 'not_authenticated', '{}'::jsonb,
      'Sign in to continue.');
  end if;
  return v_sub::uuid;
end
$_$;

-- Name: required_setting(text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.required_setting(setting_key text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  v_value jsonb := private.setting(setting_key);
begin
  if v_value is null then
    raise exception 'app_settings.% is not set', setting_key
      using hint = 'Run `flirt-admin config sync` (or `db migrate`) to write config.toml.';
  end if;
  return v_value;
end
$$;

-- Name: reset_daily(timestamp with time zone, integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.reset_daily(at timestamp with time zone DEFAULT now(), batch_size integer DEFAULT NULL::integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_day date := private.credit_day(at);
  v_batch integer := coalesce(batch_size, private.required_setting('reset_batch_size')::integer);
  v_n integer;
  v_total bigint := 0;
  v_batches integer := 0;
begin
  loop
    v_n := private.reset_due_users(v_day, v_batch);
    exit when v_n = 0;
    v_total := v_total + v_n;
    v_batches := v_batches + 1;
  end loop;
  return jsonb_build_object('credit_day', v_day, 'users_reset', v_total, 'batches', v_batches);
end
$$;

-- Name: reset_due_users(date, integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.reset_due_users(day date, batch_size integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET lock_timeout TO '200ms'
    AS $$
declare
  v_n integer;
  v_read integer;
begin
  begin
    loop
      with due as (
        select u.id, u.tier, u.daily_credits as old_daily, t.daily_credits as allowance
          from public.users u
          join public.tiers t on t.id = u.tier
         where u.daily_reset_on < reset_due_users.day
         order by u.daily_reset_on
         limit reset_due_users.batch_size
      ), reset as (
        update public.users u
           set daily_credits = due.allowance, daily_reset_on = reset_due_users.day,
               daily_used = 0, updated_at = now()
          from due
         where u.id = due.id
           and u.daily_reset_on < reset_due_users.day
           and u.tier = due.tier
           and u.daily_credits = due.old_daily
        returning u.id, u.credits_remaining, due.allowance - due.old_daily as delta
      ), ledger as (
        insert into public.credits_transactions
          (user_id, daily_delta, purchased_delta, kind, balance_after, reference)
        select reset.id, reset.delta, 0, 'daily_reset', reset.credits_remaining,
               reset_due_users.day::text
          from reset
         where reset.delta <> 0
      )
      select (select count(*) from reset)::integer, (select count(*) from due)::integer
        into v_n, v_read;
      exit when v_n > 0 or v_read = 0;
    end loop;
    return v_n;
  exception when lock_not_available then
    with due as (
      select u.id, u.daily_credits as old_daily, t.daily_credits as allowance
        from public.users u
        join public.tiers t on t.id = u.tier
       where u.daily_reset_on < reset_due_users.day
       order by u.daily_reset_on
       limit reset_due_users.batch_size
         for update of u skip locked
    ), reset as (
      update public.users u
         set daily_credits = due.allowance, daily_reset_on = reset_due_users.day,
             daily_used = 0, updated_at = now()
        from due
       where u.id = due.id
      returning u.id, u.credits_remaining, due.allowance - due.old_daily as delta
    ), ledger as (
      insert into public.credits_transactions
        (user_id, daily_delta, purchased_delta, kind, balance_after, reference)
      select reset.id, reset.delta, 0, 'daily_reset', reset.credits_remaining,
             reset_due_users.day::text
        from reset
       where reset.delta <> 0
    )
    select count(*)::integer into v_n from reset;
    return v_n;
  end;
end
$$;

-- Name: reset_user_if_due(uuid, timestamp with time zone); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.reset_user_if_due(user_id uuid, at timestamp with time zone DEFAULT now()) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_day date := private.credit_day(at);
  v_row record;
begin
  -- cheap unlocked look first: most calls find nothing due
  if not exists (select from public.users u
                  where u.id = reset_user_if_due.user_id and u.daily_reset_on < v_day) then
    return false;
  end if;
  select u.daily_credits, u.purchased_credits, u.daily_reset_on, t.daily_credits as allowance
    into v_row
    from public.users u join public.tiers t on t.id = u.tier
   where u.id = reset_user_if_due.user_id
     for update of u;
  if not found or v_row.daily_reset_on >= v_day then
    return false;  -- a concurrent request reset it first
  end if;
  perform private.apply_daily_reset(reset_user_if_due.user_id, v_row.daily_credits,
                                    v_row.purchased_credits, v_row.allowance, v_day);
  return true;
end
$$;

-- Name: retry_analysis(uuid); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.retry_analysis(analysis_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_old public.analyses;
  v_user public.users;
  v_daily integer;
  v_purchased integer;
  v_balance integer;
begin
  select a.* into v_old from public.analyses a where a.id = retry_analysis.analysis_id for update;
  if not found then
    perform private.raise_api_error(404, 'analysis_not_found',
      jsonb_build_object('analysis_id', retry_analysis.analysis_id), 'No analysis has this id.');
  end if;
  if v_old.status <> 'failed' then
    perform private.raise_api_error(409, 'analysis_not_failed',
      jsonb_build_object('status', v_old.status), 'Only a failed analysis can be retried.');
  end if;
  if v_old.input is null then
    perform private.raise_api_error(410, 'input_purged',
      jsonb_build_object('input_purged_at', v_old.input_purged_at),
      'The input was deleted by the retention policy; the user must submit it again.');
  end if;

  perform private.reset_user_if_due(v_old.user_id, pg_catalog.now());
  select u.* into v_user from public.users u where u.id = v_old.user_id for update;
  if v_user.restricted_reason is not null then
    perform private.raise_api_error(403, 'account_restricted',
      jsonb_build_object('reason', v_user.restricted_reason), 'The account is restricted.');
  end if;
  if v_user.credits_remaining < v_old.cost then
    perform private.raise_api_error(402, 'insufficient_credits',
      jsonb_build_object('required', v_old.cost, 'available', v_user.credits_remaining),
      'The user does not have enough credits for this analysis.');
  end if;

  v_daily := least(greatest(v_user.daily_credits, 0), v_old.cost);
  v_purchased := v_old.cost - v_daily;

  -- the same row goes back to the queue: the user's history shows it finish
  update public.analyses a
     set status = 'queued', charges = a.charges + 1, daily_cost = v_daily,
         purchased_cost = v_purchased, charged_on = v_user.daily_reset_on,
         attempts = 0, run_after = pg_catalog.now(),
         error = null, result = null, model = null, usage = null, locked_by = null,
         locked_until = null, refunded_at = null, started_at = null, finished_at = null,
         max_attempts = coalesce((private.setting('max_attempts') #>> '{}')::integer,
                                 a.max_attempts)
   where a.id = v_old.id
  returning a.* into v_old;

  v_balance := (private.move_credits(v_user.id, -v_daily, -v_purchased, 'action',
    v_old.id::text, null,
    jsonb_build_object('action_type', v_old.action_type, 'retry', v_old.charges,
                       'by', private.admin_actor()))).balance_after;

  perform pg_notify('analysis_queued', v_old.id::text);
  return jsonb_build_object(
    'analysis_id', v_old.id, 'status', 'queued', 'cost', v_old.cost, 'charges', v_old.charges,
    'daily_cost', v_daily, 'purchased_cost', v_purchased, 'credits_remaining', v_balance);
end
$$;

-- Name: save_reply(uuid, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.save_reply(analysis_id uuid, reply text) RETURNS public.saved_reply
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_uid uuid := private.require_user_id();
  v_row public.saved_replies;
  v_max integer;
  v_saved integer;
begin
  if save_reply.reply is null or char_length(save_reply.reply) not between 1 and 2000 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('field', 'reply', 'reason', 'bad_length', 'min_chars', 1,
                         'max_chars', 2000, 'chars', coalesce(char_length(save_reply.reply), 0)),
      'A reply is 1 to 2000 characters.');
  end if;
  if save_reply.analysis_id is not null and not exists (
       select from public.analyses a where a.id = save_reply.analysis_id and a.user_id = v_uid) then
    perform private.raise_api_error(404, 'analysis_not_found',
      jsonb_build_object('analysis_id', save_reply.analysis_id), 'This analysis does not exist.');
  end if;

  -- one save of this user at a time: the count below holds until this one commits
  perform pg_catalog.pg_advisory_xact_lock(
    pg_catalog.hashtextextended('saved_replies:' || v_uid::text, 0));
  -- saved before (possibly by a concurrent call: this statement sees its commit)
  select s.* into v_row
    from public.saved_replies s
   where s.user_id = v_uid and s.analysis_id is not distinct from save_reply.analysis_id
     and md5(s.reply) = md5(save_reply.reply);
  if not found then
    v_max := (private.required_setting('max_saved_replies') #>> '{}')::integer;
    select count(*) into v_saved
      from (select from public.saved_replies s where s.user_id = v_uid limit v_max) s;
    if v_saved >= v_max then
      perform private.raise_api_error(409, 'too_many_saved_replies',
        jsonb_build_object('saved', v_saved, 'max_saved_replies', v_max),
        format('You keep at most %s saved replies. Delete some to save more.', v_max));
    end if;
    insert into public.saved_replies (user_id, analysis_id, reply)
    values (v_uid, save_reply.analysis_id, save_reply.reply)
    returning * into v_row;
  end if;
  return row(v_row.id, v_row.analysis_id, v_row.reply, v_row.created_at)::public.saved_reply;
end
$$;

-- Name: schedule_jobs(integer); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.schedule_jobs(reset_every_minutes integer) RETURNS text[]
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
declare
  v_job record;
  v_names text[] := '{}'::text[];
begin
  if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
    return v_names;
  end if;
  for v_job in select * from private.cron_jobs(reset_every_minutes) loop
    -- cron.schedule(name, …) updates a job of the same name in place. Named at run time:
    -- the cron schema exists only where pg_cron is enabled, and this function is created
    -- (and checked by plpgsql_check) in every database.
    execute format('select %I.schedule($1, $2, $3)', 'cron')
      using v_job.jobname, v_job.schedule, v_job.command;
    v_names := v_names || v_job.jobname;
  end loop;
  return v_names;
end
$_$;

-- Name: screenshot_bucket(); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.screenshot_bucket() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select s.value #>> '{}' from public.app_settings s where s.key = 'screenshot_bucket'
$$;

-- Name: set_stripe_customer(uuid, text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.set_stripe_customer(target_user uuid, customer_id text) RETURNS text
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  update public.users u
     set stripe_customer_id = coalesce(u.stripe_customer_id, customer_id), updated_at = now()
   where u.id = target_user
  returning u.stripe_customer_id
$$;

-- Name: set_tier(uuid, text, integer, text, text, text, jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.set_tier(target_user uuid, new_tier text, purchased_delta integer, kind text, reference text, ledger_key text DEFAULT NULL::text, metadata jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user record;
  v_allowance integer;
  v_daily_delta integer := 0;
begin
  perform private.reset_user_if_due(target_user, now());
  select u.tier, u.daily_credits, u.daily_used into v_user
    from public.users u where u.id = target_user for update;
  if not found then
    return jsonb_build_object('tier_changed', false);
  end if;
  if v_user.tier is distinct from new_tier then
    select t.daily_credits into v_allowance from public.tiers t where t.id = new_tier;
    if not found then
      raise exception 'unknown tier %', new_tier using errcode = 'P0001';
    end if;
    v_daily_delta := greatest(v_allowance - v_user.daily_used, 0) - v_user.daily_credits;
    update public.users u set tier = new_tier, updated_at = now() where u.id = target_user;
  end if;
  if v_daily_delta <> 0 or coalesce(purchased_delta, 0) <> 0 then
    perform private.move_credits(target_user, v_daily_delta, coalesce(purchased_delta, 0),
      kind, reference, ledger_key,
      coalesce(metadata, '{}'::jsonb)
        || jsonb_build_object('from_tier', v_user.tier, 'to_tier', new_tier,
                              'daily_used', v_user.daily_used));
  end if;
  return jsonb_build_object('tier_changed', v_user.tier is distinct from new_tier,
                            'from_tier', v_user.tier, 'to_tier', new_tier,
                            'daily_delta', v_daily_delta);
end
$$;

-- Name: setting(text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.setting(setting_key text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return (select s.value from public.app_settings s where s.key = setting_key);
end
$$;

-- Name: stripe_id(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.stripe_id(ref jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  return case jsonb_typeof(ref) when 'string' then ref #>> '{}' when 'object' then ref ->> 'id' end;
end
$$;

-- Name: stripe_object_user(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.stripe_object_user(object jsonb) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  v_ref text := private.stripe_object_user_ref(object);
  v_user uuid;
begin
  if v_ref ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    select u.id into v_user from public.users u where u.id = v_ref::uuid;
    if found then
      return v_user;
    end if;
  end if;
  select u.id into v_user
    from public.users u
   where u.stripe_customer_id = private.stripe_id(object -> 'customer');
  return v_user;
end
$_$;

-- Name: stripe_object_user_ref(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.stripe_object_user_ref(object jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select coalesce(object #>> '{metadata,user_id}', object ->> 'client_reference_id')
$$;

-- Name: stripe_time(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.stripe_time(epoch jsonb) RETURNS timestamp with time zone
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  return case when jsonb_typeof(epoch) = 'number'
              then pg_catalog.to_timestamp((epoch #>> '{}')::double precision) end;
end
$$;

-- Name: subscription_stage(text); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.subscription_stage(status text) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  return case
    when status in ('canceled', 'incomplete_expired') then 2
    when status = 'incomplete' or status is null then 0
    else 1
  end;
end
$$;

-- Name: sync_config(jsonb); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.sync_config(cfg jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  v_counts jsonb;
  v_buckets regclass := pg_catalog.to_regclass('storage.buckets');
begin
  insert into public.tiers (id, name, daily_credits, stripe_price_id, sort_order, active)
  select k, v ->> 'name', (v ->> 'daily_credits')::integer,
         nullif(v ->> 'stripe_price_id', ''), coalesce((v ->> 'sort_order')::integer, 0), true
    from jsonb_each(cfg -> 'tiers') as e(k, v)
  on conflict (id) do update
    set name = excluded.name, daily_credits = excluded.daily_credits,
        stripe_price_id = excluded.stripe_price_id, sort_order = excluded.sort_order, active = true
  where (public.tiers.name, public.tiers.daily_credits, public.tiers.stripe_price_id,
         public.tiers.sort_order, public.tiers.active)
        is distinct from
        (excluded.name, excluded.daily_credits, excluded.stripe_price_id, excluded.sort_order, true);
  update public.tiers set active = false
   where active and not (cfg -> 'tiers') ? id;

  insert into public.action_costs (action_type, cost, max_input_chars, enabled)
  select k, (v ->> 'cost')::integer, (v ->> 'max_input_chars')::integer,
         coalesce((v ->> 'enabled')::boolean, true)
    from jsonb_each(cfg -> 'actions') as e(k, v)
  on conflict (action_type) do update
    set cost = excluded.cost, max_input_chars = excluded.max_input_chars, enabled = excluded.enabled
  where (public.action_costs.cost, public.action_costs.max_input_chars, public.action_costs.enabled)
        is distinct from (excluded.cost, excluded.max_input_chars, excluded.enabled);
  update public.action_costs set enabled = false
   where enabled and not (cfg -> 'actions') ? action_type;

  insert into public.credit_packs
    (id, name, credits, bonus_credits, price_cents, currency, stripe_price_id, active)
  select k, v ->> 'name', (v ->> 'credits')::integer, coalesce((v ->> 'bonus_credits')::integer, 0),
         (v ->> 'price_cents')::integer, v ->> 'currency', nullif(v ->> 'stripe_price_id', ''),
         coalesce((v ->> 'active')::boolean, true)
    from jsonb_each(cfg -> 'packs') as e(k, v)
  on conflict (id) do update
    set name = excluded.name, credits = excluded.credits, bonus_credits = excluded.bonus_credits,
        price_cents = excluded.price_cents, currency = excluded.currency,
        stripe_price_id = excluded.stripe_price_id, active = excluded.active
  where (public.credit_packs.name, public.credit_packs.credits, public.credit_packs.bonus_credits,
         public.credit_packs.price_cents, public.credit_packs.currency,
         public.credit_packs.stripe_price_id, public.credit_packs.active)
        is distinct from
        (excluded.name, excluded.credits, excluded.bonus_credits, excluded.price_cents,
         excluded.currency, excluded.stripe_price_id, excluded.active);
  update public.credit_packs set active = false
   where active and not (cfg -> 'packs') ? id;

  insert into public.app_settings (key, value)
  select k, v from jsonb_each(jsonb_build_object(
    'default_tier', cfg #> '{signup,default_tier}',
    'anonymous_tier', cfg #> '{signup,anonymous_tier}',
    'signup_bonus_credits', cfg #> '{signup,bonus_credits}',
    'reset_timezone', cfg #> '{reset,timezone}',
    'reset_hour', cfg #> '{reset,hour}',
    'reset_batch_size', cfg #> '{reset,batch_size}',
    'max_pending_analyses', cfg #> '{limits,max_pending_analyses}',
    'max_input_bytes', cfg #> '{limits,max_input_bytes}',
    'max_saved_replies', cfg #> '{limits,max_saved_replies}',
    'screenshot_bucket', cfg #> '{storage,screenshot_bucket}',
    'fallback_tier', cfg #> '{subscriptions,fallback_tier}',
    'input_retention_days', cfg #> '{retention,input_days}',
    'max_attempts', cfg #> '{worker,max_attempts}',
    'retry_base_seconds', cfg #> '{worker,retry_base_seconds}'
  )) as e(k, v)
  on conflict (key) do update set value = excluded.value
  where public.app_settings.value is distinct from excluded.value;

  -- The private bucket screenshots are uploaded to (Supabase Storage, where present), and
  -- what Storage lets into it: files up to the size limit, of the screenshot types only.
  -- A Storage without upload limits (an older local cluster) gets the bucket alone; the
  -- worker still refuses bigger and other files.
  if v_buckets is null then
    null;
  elsif (select count(*) from pg_catalog.pg_attribute a
          where a.attrelid = v_buckets and not a.attisdropped
            and a.attname in ('file_size_limit', 'allowed_mime_types')) < 2 then
    execute 'insert into storage.buckets (id, name, public) values ($1, $1, false)'
            ' on conflict (id) do nothing'
      using cfg #>> '{storage,screenshot_bucket}';
  else
    execute 'insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)'
            ' values ($1, $1, false, $2, $3)'
            ' on conflict (id) do update set file_size_limit = excluded.file_size_limit,'
            ' allowed_mime_types = excluded.allowed_mime_types'
            ' where (storage.buckets.file_size_limit, storage.buckets.allowed_mime_types)'
            ' is distinct from (excluded.file_size_limit, excluded.allowed_mime_types)'
      using cfg #>> '{storage,screenshot_bucket}',
            (cfg #>> '{storage,max_screenshot_bytes}')::bigint,
            array(select jsonb_array_elements_text(cfg #> '{storage,screenshot_types}'));
  end if;

  select jsonb_build_object(
    'tiers', (select count(*) from public.tiers),
    'actions', (select count(*) from public.action_costs where enabled),
    'packs', (select count(*) from public.credit_packs where active),
    'settings', (select count(*) from public.app_settings)
  ) into v_counts;
  return v_counts;
end
$_$;

-- Name: sync_stripe_object(jsonb, timestamp with time zone); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.sync_stripe_object(object jsonb, observed_at timestamp with time zone) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_refunded integer := coalesce((object ->> 'amount_refunded')::integer, 0);
  v_intent text := private.stripe_id(object -> 'payment_intent');
  v_charge text := coalesce(private.stripe_id(object -> 'charge'), object ->> 'id');
  v_closed text[] := array['won', 'lost', 'warning_closed'];
  v_payment public.payments;
begin
  -- what a previous sync or the webhook already applied is said so (the handlers would change
  -- nothing either): the operator sees what this run did. A payment decides alone when there
  -- is one; what was recorded without it counts only while no pack is granted for the charge.
  if object ->> 'object' in ('charge', 'dispute') then
    select p.* into v_payment
      from public.payments p
     where p.stripe_payment_intent_id = v_intent or p.stripe_charge_id = v_charge
     limit 1;
  end if;
  if object ->> 'object' = 'charge'
     and (case when v_payment.id is not null then v_payment.amount_refunded_cents >= v_refunded
               else exists (select 1 from private.subscription_refunds r
                             where r.stripe_charge_id = object ->> 'id'
                               and r.amount_refunded_cents >= v_refunded) end) then
    return private.billing_outcome('processed', format('already applied: refund %s/%s of charge %s',
      v_refunded, object ->> 'amount', object ->> 'id'));
  end if;
  if object ->> 'object' = 'dispute'
     and exists (select 1 from private.disputes d
                  where d.id = object ->> 'id'
                    and d.payment_id is not distinct from v_payment.id
                    and (d.status = object ->> 'status'
                         or (d.status <> all (v_closed) and object ->> 'status' <> all (v_closed)))) then
    return private.billing_outcome('processed', format('already applied: dispute %s (%s)',
      object ->> 'id', object ->> 'status'));
  end if;
  if object ->> 'object' = 'dispute' and object ->> 'status' = 'lost' and v_payment.id is not null
     and exists (select 1 from private.disputes d
                  where d.id = object ->> 'id' and d.payment_id is null) then
    -- lost, and recorded before its pack was granted by a release that did not take it back
    -- then: its opening takes the pack back now, its closing is applied below
    perform private.apply_charge_dispute(object, 'sync:' || (object ->> 'id'));
  end if;
  return case object ->> 'object'
    when 'checkout.session' then private.apply_checkout_session(object)
    when 'payment_intent' then private.apply_payment_intent(object)
    when 'subscription' then
      private.apply_subscription(object, observed_at, object ->> 'status' = 'canceled')
    when 'charge' then
      private.apply_charge_refunded(object, format('sync:%s:%s', object ->> 'id',
                                                   coalesce(object ->> 'amount_refunded', '0')))
    when 'dispute' then
      case when object ->> 'status' = any (v_closed)
           then private.apply_charge_dispute_closed(object, 'sync:' || (object ->> 'id'))
           else private.apply_charge_dispute(object, 'sync:' || (object ->> 'id')) end
    else private.billing_outcome('ignored', format('object %s not synced', object ->> 'object'))
  end;
end
$$;

-- Name: take_back_earlier_reversals(bigint); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.take_back_earlier_reversals(payment bigint) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_payment public.payments;
  v_refund private.subscription_refunds;
  v_dispute private.disputes;
  v_taken integer := 0;
begin
  select p.* into v_payment from public.payments p where p.id = payment;
  for v_refund in
    delete from private.subscription_refunds r
     where r.stripe_payment_intent_id = v_payment.stripe_payment_intent_id
    returning r.*
  loop
    v_taken := v_taken + (private.apply_charge_refunded(
      jsonb_build_object('id', v_refund.stripe_charge_id,
                         'payment_intent', v_payment.stripe_payment_intent_id,
                         'amount', v_refund.amount_cents,
                         'amount_refunded', v_refund.amount_refunded_cents),
      'grant:' || v_refund.stripe_charge_id) ->> 'clawed_back')::integer;
  end loop;
  for v_dispute in
    update private.disputes d set payment_id = v_payment.id, updated_at = now()
     where d.payment_id is null
       and d.stripe_payment_intent_id = v_payment.stripe_payment_intent_id
    returning d.*
  loop
    if v_dispute.status not in ('won', 'warning_closed') then
      v_taken := v_taken + private.claw_back_disputed_payment(v_payment.id, v_dispute.id,
        v_dispute.reason, 'grant:' || v_dispute.id);
    end if;
  end loop;
  return v_taken;
end
$$;

-- Name: validate_action_input(text, jsonb, integer, integer, uuid); Type: FUNCTION; Schema: private; Owner: -

CREATE FUNCTION private.validate_action_input(action_type text, input jsonb, max_input_chars integer, max_input_bytes integer, user_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $_$
declare
  v_bytes integer;
  v_key text;
  v_value jsonb;
  v_text text;
  v_is_image boolean := validate_action_input.action_type like 'image\_%';
begin
  if input is null or jsonb_typeof(input) <> 'object' then
    perform private.raise_invalid_input('input', 'not_an_object', '{}'::jsonb,
      'The input must be a JSON object.');
  end if;
  v_bytes := octet_length(input::text);
  if v_bytes > max_input_bytes then
    perform private.raise_invalid_input('input', 'too_large',
      jsonb_build_object('max_bytes', max_input_bytes, 'bytes', v_bytes),
      format('The input is too large (%s bytes, at most %s).', v_bytes, max_input_bytes));
  end if;

  for v_key, v_value in select e.key, e.value from jsonb_each(input) e loop
    if v_key = 'context' then
      if jsonb_typeof(v_value) <> 'object' then
        perform private.raise_invalid_input('input.context', 'not_an_object', '{}'::jsonb,
          'context must be an object with optional goal and tone.');
      end if;
      for v_key, v_value in select e.key, e.value from jsonb_each(v_value) e loop
        if v_key not in ('goal', 'tone') then
          perform private.raise_invalid_input('input.context.' || v_key, 'unknown_field', '{}'::jsonb,
            'context takes only goal and tone.');
        end if;
        if jsonb_typeof(v_value) <> 'string' then
          perform private.raise_invalid_input('input.context.' || v_key, 'not_a_string', '{}'::jsonb,
            format('context.%s must be text.', v_key));
        end if;
        if char_length(v_value #>> '{}') > 200 then
          perform private.raise_invalid_input('input.context.' || v_key, 'too_long',
            jsonb_build_object('max_chars', 200, 'chars', char_length(v_value #>> '{}')),
            format('context.%s is at most 200 characters.', v_key));
        end if;
      end loop;
    elsif v_key = 'chat' and not v_is_image then
      if jsonb_typeof(v_value) <> 'string' then
        perform private.raise_invalid_input('input.chat', 'not_a_string', '{}'::jsonb,
          'chat must be text.');
      end if;
      v_text := v_value #>> '{}';
      if v_text !~ '[^[:space:]]' then
        perform private.raise_invalid_input('input.chat', 'blank', '{}'::jsonb,
          'Paste a chat to analyse.');
      end if;
      if char_length(v_text) > max_input_chars then
        perform private.raise_invalid_input('input.chat', 'too_long',
          jsonb_build_object('max_chars', max_input_chars, 'chars', char_length(v_text)),
          format('The chat is too long (%s characters, at most %s).',
                 char_length(v_text), max_input_chars));
      end if;
    elsif v_key = 'image_path' and v_is_image then
      if jsonb_typeof(v_value) <> 'string' then
        perform private.raise_invalid_input('input.image_path', 'not_a_string', '{}'::jsonb,
          'image_path must be text.');
      end if;
      v_text := v_value #>> '{}';
      -- <caller's user id>/<file name>: a file in the caller's own folder, nothing deeper
      if split_part(v_text, '/', 1) <> user_id::text
         or v_text !~ '^[^/]+/[^/]+$'
         or char_length(v_text) > 1024 then
        perform private.raise_invalid_input('input.image_path', 'not_own_file',
          jsonb_build_object('expected_prefix', user_id::text || '/'),
          'Upload the screenshot to your own folder (<your user id>/<file name>).');
      end if;
      -- plain names only: nothing that a storage layer could decode into another path
      -- (percent-encoding, backslashes, dot segments)
      if split_part(v_text, '/', 2) !~ '^[A-Za-z0-9._-]+$'
         or split_part(v_text, '/', 2) in ('.', '..') then
        perform private.raise_invalid_input('input.image_path', 'bad_file_name',
          jsonb_build_object('allowed', 'A-Z a-z 0-9 . _ -'),
          'Name the screenshot with letters, digits, dots, dashes and underscores only.');
      end if;
    else
      perform private.raise_invalid_input('input.' || v_key, 'unknown_field', '{}'::jsonb,
        case when v_is_image then 'An image analysis takes image_path and optional context.'
             else 'A chat analysis takes chat and optional context.' end);
    end if;
  end loop;

  if v_is_image and not input ? 'image_path' then
    perform private.raise_invalid_input('input.image_path', 'missing', '{}'::jsonb,
      'Upload a screenshot first.');
  elsif not v_is_image and not input ? 'chat' then
    perform private.raise_invalid_input('input.chat', 'missing', '{}'::jsonb,
      'Paste a chat to analyse.');
  end if;
end
$_$;

-- Name: admin_adjust_credits(uuid, numeric, text); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.admin_adjust_credits(user_id uuid, delta numeric, reason text) RETURNS TABLE(user_id uuid, delta integer, transaction_id bigint, daily_credits integer, purchased_credits integer, credits_remaining integer)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  select * from private.admin_adjust_credits(user_id, delta, reason)
$$;

-- Name: admin_get_metrics(date, date); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.admin_get_metrics(from_date date, to_date date) RETURNS public.admin_metrics_report
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return private.admin_get_metrics(from_date, to_date);
end
$$;

-- Name: admin_list_users(text, text, integer, integer); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.admin_list_users(search text DEFAULT NULL::text, tier text DEFAULT NULL::text, page_size integer DEFAULT 50, page_offset integer DEFAULT 0) RETURNS public.admin_users_page
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return private.admin_list_users(search, tier, page_size, page_offset);
end
$$;

-- Name: delete_saved_reply(uuid); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.delete_saved_reply(reply_id uuid) RETURNS TABLE(id uuid, deleted boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return query select * from private.delete_saved_reply(reply_id);
end
$$;

-- Name: export_my_data(); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.export_my_data() RETURNS public.data_export
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return private.export_my_data();
end
$$;

-- Name: get_analysis(uuid); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.get_analysis(analysis_id uuid) RETURNS public.analysis_detail
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return private.get_analysis(analysis_id);
end
$$;

-- Name: get_credits(); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.get_credits() RETURNS TABLE(credits_remaining integer, daily_credits integer, purchased_credits integer, daily_limit integer, tier text, next_reset_at timestamp with time zone, restricted boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return query select * from private.get_credits();
end
$$;

-- Name: get_history(integer, text); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.get_history(page_size integer DEFAULT 20, cursor text DEFAULT NULL::text) RETURNS public.history_page
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return private.get_history(page_size, cursor);
end
$$;

-- Name: get_saved_replies(integer, text); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.get_saved_replies(page_size integer DEFAULT 50, cursor text DEFAULT NULL::text) RETURNS public.saved_replies_page
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return private.get_saved_replies(page_size, cursor);
end
$$;

-- Name: perform_action(text, jsonb, text); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.perform_action(action_type text, input jsonb, idempotency_key text DEFAULT NULL::text) RETURNS TABLE(analysis_id uuid, status text, cost integer, credits_remaining integer, daily_credits integer, purchased_credits integer, replayed boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return query select * from private.perform_action(action_type, input, idempotency_key);
end
$$;

-- Name: save_reply(uuid, text); Type: FUNCTION; Schema: public; Owner: -

CREATE FUNCTION public.save_reply(analysis_id uuid, reply text) RETURNS public.saved_reply
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return private.save_reply(analysis_id, reply);
end
$$;

-- Name: disputes; Type: TABLE; Schema: private; Owner: -

CREATE TABLE private.disputes (
    id text NOT NULL,
    user_id uuid,
    stripe_charge_id text NOT NULL,
    stripe_payment_intent_id text,
    payment_id bigint,
    amount_cents integer NOT NULL,
    currency text NOT NULL,
    reason text NOT NULL,
    status text NOT NULL,
    restriction text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    closed_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT disputes_amount_cents_check CHECK ((amount_cents >= 0))
);

-- Name: TABLE disputes; Type: COMMENT; Schema: private; Owner: -

COMMENT ON TABLE private.disputes IS 'Every Stripe dispute of a user''s charge, and the account restriction it set.';

-- Name: screenshot_deletions; Type: TABLE; Schema: private; Owner: -

CREATE TABLE private.screenshot_deletions (
    id bigint NOT NULL,
    path text NOT NULL,
    user_id uuid,
    reason text NOT NULL,
    queued_at timestamp with time zone DEFAULT now() NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    run_after timestamp with time zone DEFAULT now() NOT NULL,
    last_error text,
    CONSTRAINT screenshot_deletions_path_check CHECK (((path <> ''::text) AND (path !~ '(^/|//|(^|/)\.\.?(/|$))'::text))),
    CONSTRAINT screenshot_deletions_reason_check CHECK ((reason = ANY (ARRAY['account_deleted'::text, 'retention'::text])))
);

-- Name: TABLE screenshot_deletions; Type: COMMENT; Schema: private; Owner: -

COMMENT ON TABLE private.screenshot_deletions IS 'Screenshots the worker still has to delete from Storage (API only: no SQL delete there).';

-- Name: screenshot_deletions_id_seq; Type: SEQUENCE; Schema: private; Owner: -

ALTER TABLE private.screenshot_deletions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME private.screenshot_deletions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

-- Name: subscription_refunds; Type: TABLE; Schema: private; Owner: -

CREATE TABLE private.subscription_refunds (
    stripe_charge_id text NOT NULL,
    user_id uuid,
    stripe_customer_id text,
    stripe_payment_intent_id text,
    amount_cents integer NOT NULL,
    amount_refunded_cents integer NOT NULL,
    currency text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT subscription_refunds_amount_cents_check CHECK ((amount_cents >= 0)),
    CONSTRAINT subscription_refunds_amount_refunded_cents_check CHECK ((amount_refunded_cents >= 0))
);

-- Name: TABLE subscription_refunds; Type: COMMENT; Schema: private; Owner: -

COMMENT ON TABLE private.subscription_refunds IS 'Refunded charges with no credit pack payment: subscription invoices (nothing clawed back), or a pack whose grant comes later (moved to its payment and clawed back by the grant).';

-- Name: action_costs; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.action_costs (
    action_type text NOT NULL,
    cost integer NOT NULL,
    max_input_chars integer NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    CONSTRAINT action_costs_action_type_check CHECK ((action_type ~ '^[a-z][a-z0-9_]{0,31}$'::text)),
    CONSTRAINT action_costs_cost_check CHECK ((cost > 0)),
    CONSTRAINT action_costs_max_input_chars_check CHECK ((max_input_chars >= 0))
);

-- Name: TABLE action_costs; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.action_costs IS 'Credit cost and input limit of each analysis action.';

-- Name: app_settings; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.app_settings (
    key text NOT NULL,
    value jsonb NOT NULL
);

-- Name: TABLE app_settings; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.app_settings IS 'Run-time settings the SQL needs, synced from config.toml.';

-- Name: credit_packs; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.credit_packs (
    id text NOT NULL,
    name text NOT NULL,
    credits integer NOT NULL,
    bonus_credits integer DEFAULT 0 NOT NULL,
    price_cents integer NOT NULL,
    currency text NOT NULL,
    stripe_price_id text,
    active boolean DEFAULT true NOT NULL,
    CONSTRAINT credit_packs_bonus_credits_check CHECK ((bonus_credits >= 0)),
    CONSTRAINT credit_packs_credits_check CHECK ((credits > 0)),
    CONSTRAINT credit_packs_currency_check CHECK ((currency ~ '^[a-z]{3}$'::text)),
    CONSTRAINT credit_packs_id_check CHECK ((id ~ '^[a-z][a-z0-9_]{0,31}$'::text)),
    CONSTRAINT credit_packs_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100))),
    CONSTRAINT credit_packs_price_cents_check CHECK ((price_cents > 0))
);

-- Name: TABLE credit_packs; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.credit_packs IS 'One-off credit packs sold through Stripe.';

-- Name: credits_transactions_id_seq; Type: SEQUENCE; Schema: public; Owner: -

ALTER TABLE public.credits_transactions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.credits_transactions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

-- Name: payments_id_seq; Type: SEQUENCE; Schema: public; Owner: -

ALTER TABLE public.payments ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.payments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

-- Name: stripe_webhook_events; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.stripe_webhook_events (
    id text NOT NULL,
    type text NOT NULL,
    stripe_created timestamp with time zone NOT NULL,
    status text DEFAULT 'processed'::text NOT NULL,
    attempts integer DEFAULT 1 NOT NULL,
    last_error text,
    payload jsonb NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    processed_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    outcome text,
    CONSTRAINT stripe_webhook_events_attempts_check CHECK ((attempts > 0))
);

-- Name: TABLE stripe_webhook_events; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.stripe_webhook_events IS 'Every Stripe event received, and what became of it.';

-- Name: COLUMN stripe_webhook_events.outcome; Type: COMMENT; Schema: public; Owner: -

COMMENT ON COLUMN public.stripe_webhook_events.outcome IS 'What applying the event did, or why it was ignored.';

-- Name: tiers; Type: TABLE; Schema: public; Owner: -

CREATE TABLE public.tiers (
    id text NOT NULL,
    name text NOT NULL,
    daily_credits integer NOT NULL,
    stripe_price_id text,
    sort_order integer DEFAULT 0 NOT NULL,
    active boolean DEFAULT true NOT NULL,
    CONSTRAINT tiers_daily_credits_check CHECK ((daily_credits >= 0)),
    CONSTRAINT tiers_id_check CHECK ((id ~ '^[a-z][a-z0-9_]{0,31}$'::text)),
    CONSTRAINT tiers_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100)))
);

-- Name: TABLE tiers; Type: COMMENT; Schema: public; Owner: -

COMMENT ON TABLE public.tiers IS 'Subscription tiers and their daily credit allowance.';

-- Name: disputes disputes_pkey; Type: CONSTRAINT; Schema: private; Owner: -

ALTER TABLE ONLY private.disputes
    ADD CONSTRAINT disputes_pkey PRIMARY KEY (id);

-- Name: screenshot_deletions screenshot_deletions_pkey; Type: CONSTRAINT; Schema: private; Owner: -

ALTER TABLE ONLY private.screenshot_deletions
    ADD CONSTRAINT screenshot_deletions_pkey PRIMARY KEY (id);

-- Name: subscription_refunds subscription_refunds_pkey; Type: CONSTRAINT; Schema: private; Owner: -

ALTER TABLE ONLY private.subscription_refunds
    ADD CONSTRAINT subscription_refunds_pkey PRIMARY KEY (stripe_charge_id);

-- Name: action_costs action_costs_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.action_costs
    ADD CONSTRAINT action_costs_pkey PRIMARY KEY (action_type);

-- Name: admin_metrics admin_metrics_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.admin_metrics
    ADD CONSTRAINT admin_metrics_pkey PRIMARY KEY (day);

-- Name: analyses analyses_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.analyses
    ADD CONSTRAINT analyses_pkey PRIMARY KEY (id);

-- Name: app_settings app_settings_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.app_settings
    ADD CONSTRAINT app_settings_pkey PRIMARY KEY (key);

-- Name: credit_packs credit_packs_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.credit_packs
    ADD CONSTRAINT credit_packs_pkey PRIMARY KEY (id);

-- Name: credit_packs credit_packs_stripe_price_id_key; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.credit_packs
    ADD CONSTRAINT credit_packs_stripe_price_id_key UNIQUE (stripe_price_id);

-- Name: credits_transactions credits_transactions_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.credits_transactions
    ADD CONSTRAINT credits_transactions_pkey PRIMARY KEY (id);

-- Name: payments payments_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_pkey PRIMARY KEY (id);

-- Name: payments payments_stripe_charge_id_key; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_stripe_charge_id_key UNIQUE (stripe_charge_id);

-- Name: payments payments_stripe_checkout_session_id_key; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_stripe_checkout_session_id_key UNIQUE (stripe_checkout_session_id);

-- Name: payments payments_stripe_payment_intent_id_key; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_stripe_payment_intent_id_key UNIQUE (stripe_payment_intent_id);

-- Name: saved_replies saved_replies_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.saved_replies
    ADD CONSTRAINT saved_replies_pkey PRIMARY KEY (id);

-- Name: stripe_webhook_events stripe_webhook_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.stripe_webhook_events
    ADD CONSTRAINT stripe_webhook_events_pkey PRIMARY KEY (id);

-- Name: stripe_webhook_events stripe_webhook_events_status_check; Type: CHECK CONSTRAINT; Schema: public; Owner: -

ALTER TABLE public.stripe_webhook_events
    ADD CONSTRAINT stripe_webhook_events_status_check CHECK ((status = ANY (ARRAY['processed'::text, 'ignored'::text, 'rejected'::text, 'failed'::text]))) NOT VALID;

-- Name: tiers tiers_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.tiers
    ADD CONSTRAINT tiers_pkey PRIMARY KEY (id);

-- Name: tiers tiers_stripe_price_id_key; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.tiers
    ADD CONSTRAINT tiers_stripe_price_id_key UNIQUE (stripe_price_id);

-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

-- Name: users users_stripe_customer_id_key; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_stripe_customer_id_key UNIQUE (stripe_customer_id);

-- Name: users users_subscription_id_key; Type: CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_subscription_id_key UNIQUE (subscription_id);

-- Name: disputes_payment_intent_idx; Type: INDEX; Schema: private; Owner: -

CREATE INDEX disputes_payment_intent_idx ON private.disputes USING btree (stripe_payment_intent_id) WHERE (payment_id IS NULL);

-- Name: disputes_user_id_idx; Type: INDEX; Schema: private; Owner: -

CREATE INDEX disputes_user_id_idx ON private.disputes USING btree (user_id);

-- Name: screenshot_deletions_run_after_idx; Type: INDEX; Schema: private; Owner: -

CREATE INDEX screenshot_deletions_run_after_idx ON private.screenshot_deletions USING btree (run_after);

-- Name: subscription_refunds_payment_intent_idx; Type: INDEX; Schema: private; Owner: -

CREATE INDEX subscription_refunds_payment_intent_idx ON private.subscription_refunds USING btree (stripe_payment_intent_id);

-- Name: subscription_refunds_user_id_idx; Type: INDEX; Schema: private; Owner: -

CREATE INDEX subscription_refunds_user_id_idx ON private.subscription_refunds USING btree (user_id);

-- Name: analyses_created_at_brin; Type: INDEX; Schema: public; Owner: -

CREATE INDEX analyses_created_at_brin ON public.analyses USING brin (created_at);

-- Name: analyses_input_retention_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX analyses_input_retention_idx ON public.analyses USING btree (finished_at) WHERE ((input IS NOT NULL) AND (status = ANY (ARRAY['done'::text, 'failed'::text])));

-- Name: analyses_processing_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX analyses_processing_idx ON public.analyses USING btree (locked_until) WHERE (status = 'processing'::text);

-- Name: analyses_queued_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX analyses_queued_idx ON public.analyses USING btree (run_after) WHERE (status = 'queued'::text);

-- Name: analyses_user_history_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX analyses_user_history_idx ON public.analyses USING btree (user_id, created_at DESC, id DESC);

-- Name: analyses_user_idempotency_key_idx; Type: INDEX; Schema: public; Owner: -

CREATE UNIQUE INDEX analyses_user_idempotency_key_idx ON public.analyses USING btree (user_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);

-- Name: analyses_user_pending_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX analyses_user_pending_idx ON public.analyses USING btree (user_id) WHERE (status = ANY (ARRAY['queued'::text, 'processing'::text]));

-- Name: credits_transactions_created_at_brin; Type: INDEX; Schema: public; Owner: -

CREATE INDEX credits_transactions_created_at_brin ON public.credits_transactions USING brin (created_at);

-- Name: credits_transactions_idempotency_key_idx; Type: INDEX; Schema: public; Owner: -

CREATE UNIQUE INDEX credits_transactions_idempotency_key_idx ON public.credits_transactions USING btree (idempotency_key) WHERE (idempotency_key IS NOT NULL);

-- Name: credits_transactions_user_id_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX credits_transactions_user_id_idx ON public.credits_transactions USING btree (user_id, id);

-- Name: payments_user_id_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX payments_user_id_idx ON public.payments USING btree (user_id);

-- Name: saved_replies_analysis_id_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX saved_replies_analysis_id_idx ON public.saved_replies USING btree (analysis_id);

-- Name: saved_replies_dedup_idx; Type: INDEX; Schema: public; Owner: -

CREATE UNIQUE INDEX saved_replies_dedup_idx ON public.saved_replies USING btree (user_id, analysis_id, md5(reply)) NULLS NOT DISTINCT;

-- Name: saved_replies_user_list_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX saved_replies_user_list_idx ON public.saved_replies USING btree (user_id, created_at DESC, id DESC);

-- Name: stripe_webhook_events_status_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX stripe_webhook_events_status_idx ON public.stripe_webhook_events USING btree (status, received_at);

-- Name: users_created_at_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX users_created_at_idx ON public.users USING btree (created_at);

-- Name: users_daily_reset_on_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX users_daily_reset_on_idx ON public.users USING btree (daily_reset_on);

-- Name: users_tier_idx; Type: INDEX; Schema: public; Owner: -

CREATE INDEX users_tier_idx ON public.users USING btree (tier);

-- Name: credits_transactions credits_transactions_append_only; Type: TRIGGER; Schema: public; Owner: -

CREATE TRIGGER credits_transactions_append_only BEFORE DELETE OR UPDATE ON public.credits_transactions FOR EACH ROW EXECUTE FUNCTION private.guard_ledger_append_only();

-- Name: users on_restriction_lifted_keep_open_dispute; Type: TRIGGER; Schema: public; Owner: -

CREATE TRIGGER on_restriction_lifted_keep_open_dispute BEFORE UPDATE OF restricted_reason ON public.users FOR EACH ROW WHEN (((old.restricted_reason IS NOT NULL) AND (new.restricted_reason IS NULL))) EXECUTE FUNCTION private.keep_open_dispute_restriction();

-- Name: users on_user_deleted_queue_screenshots; Type: TRIGGER; Schema: public; Owner: -

CREATE TRIGGER on_user_deleted_queue_screenshots BEFORE DELETE ON public.users FOR EACH ROW EXECUTE FUNCTION private.queue_account_screenshots();

-- Name: users on_user_deleted_redact_events; Type: TRIGGER; Schema: public; Owner: -

CREATE TRIGGER on_user_deleted_redact_events BEFORE DELETE ON public.users FOR EACH ROW EXECUTE FUNCTION private.redact_deleted_user_events();

-- Name: disputes disputes_payment_id_fkey; Type: FK CONSTRAINT; Schema: private; Owner: -

ALTER TABLE ONLY private.disputes
    ADD CONSTRAINT disputes_payment_id_fkey FOREIGN KEY (payment_id) REFERENCES public.payments(id);

-- Name: disputes disputes_user_id_fkey; Type: FK CONSTRAINT; Schema: private; Owner: -

ALTER TABLE ONLY private.disputes
    ADD CONSTRAINT disputes_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE SET NULL;

-- Name: subscription_refunds subscription_refunds_user_id_fkey; Type: FK CONSTRAINT; Schema: private; Owner: -

ALTER TABLE ONLY private.subscription_refunds
    ADD CONSTRAINT subscription_refunds_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE SET NULL;

-- Name: analyses analyses_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.analyses
    ADD CONSTRAINT analyses_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

-- Name: credits_transactions credits_transactions_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.credits_transactions
    ADD CONSTRAINT credits_transactions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE SET NULL;

-- Name: payments payments_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE SET NULL;

-- Name: saved_replies saved_replies_analysis_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.saved_replies
    ADD CONSTRAINT saved_replies_analysis_id_fkey FOREIGN KEY (analysis_id) REFERENCES public.analyses(id) ON DELETE SET NULL;

-- Name: saved_replies saved_replies_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.saved_replies
    ADD CONSTRAINT saved_replies_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

-- Name: users users_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_id_fkey FOREIGN KEY (id) REFERENCES auth.users(id) ON DELETE CASCADE;

-- Name: users users_tier_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_tier_fkey FOREIGN KEY (tier) REFERENCES public.tiers(id);

-- Name: credit_packs Anyone can read active credit packs; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Anyone can read active credit packs" ON public.credit_packs FOR SELECT TO anon, authenticated USING (active);

-- Name: tiers Anyone can read active tiers; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Anyone can read active tiers" ON public.tiers FOR SELECT TO anon, authenticated USING (active);

-- Name: action_costs Anyone can read enabled actions; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Anyone can read enabled actions" ON public.action_costs FOR SELECT TO anon, authenticated USING (enabled);

-- Name: admin_metrics Service role reads admin metrics; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Service role reads admin metrics" ON public.admin_metrics FOR SELECT TO service_role USING (true);

-- Name: app_settings Service role reads settings; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Service role reads settings" ON public.app_settings FOR SELECT TO service_role USING (true);

-- Name: stripe_webhook_events Service role reads webhook events; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Service role reads webhook events" ON public.stripe_webhook_events FOR SELECT TO service_role USING (true);

-- Name: users Users read their own account; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Users read their own account" ON public.users FOR SELECT TO authenticated USING ((id = ( SELECT auth.uid() AS uid)));

-- Name: analyses Users read their own analyses; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Users read their own analyses" ON public.analyses FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

-- Name: credits_transactions Users read their own ledger; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Users read their own ledger" ON public.credits_transactions FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

-- Name: payments Users read their own payments; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Users read their own payments" ON public.payments FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

-- Name: saved_replies Users read their own saved replies; Type: POLICY; Schema: public; Owner: -

CREATE POLICY "Users read their own saved replies" ON public.saved_replies FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

-- Name: action_costs; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.action_costs ENABLE ROW LEVEL SECURITY;

-- Name: admin_metrics; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.admin_metrics ENABLE ROW LEVEL SECURITY;

-- Name: analyses; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.analyses ENABLE ROW LEVEL SECURITY;

-- Name: app_settings; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.app_settings ENABLE ROW LEVEL SECURITY;

-- Name: credit_packs; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.credit_packs ENABLE ROW LEVEL SECURITY;

-- Name: credits_transactions; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.credits_transactions ENABLE ROW LEVEL SECURITY;

-- Name: payments; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.payments ENABLE ROW LEVEL SECURITY;

-- Name: saved_replies; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.saved_replies ENABLE ROW LEVEL SECURITY;

-- Name: stripe_webhook_events; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.stripe_webhook_events ENABLE ROW LEVEL SECURITY;

-- Name: tiers; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.tiers ENABLE ROW LEVEL SECURITY;

-- Name: users; Type: ROW SECURITY; Schema: public; Owner: -

ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;

-- Name: SCHEMA private; Type: ACL; Schema: -; Owner: -

GRANT USAGE ON SCHEMA private TO authenticated;
GRANT USAGE ON SCHEMA private TO service_role;
GRANT USAGE ON SCHEMA private TO flirt_worker;

-- Name: SCHEMA public; Type: ACL; Schema: -; Owner: -

GRANT USAGE ON SCHEMA public TO anon;
GRANT USAGE ON SCHEMA public TO authenticated;
GRANT USAGE ON SCHEMA public TO service_role;

-- Name: TYPE action_receipt; Type: ACL; Schema: private; Owner: -

REVOKE ALL ON TYPE private.action_receipt FROM PUBLIC;
GRANT ALL ON TYPE private.action_receipt TO authenticated;
GRANT ALL ON TYPE private.action_receipt TO service_role;

-- Name: TYPE credit_adjustment; Type: ACL; Schema: private; Owner: -

REVOKE ALL ON TYPE private.credit_adjustment FROM PUBLIC;
GRANT ALL ON TYPE private.credit_adjustment TO authenticated;
GRANT ALL ON TYPE private.credit_adjustment TO service_role;

-- Name: TYPE credit_balance; Type: ACL; Schema: private; Owner: -

REVOKE ALL ON TYPE private.credit_balance FROM PUBLIC;
GRANT ALL ON TYPE private.credit_balance TO authenticated;
GRANT ALL ON TYPE private.credit_balance TO service_role;

-- Name: TYPE deleted_reply; Type: ACL; Schema: private; Owner: -

REVOKE ALL ON TYPE private.deleted_reply FROM PUBLIC;
GRANT ALL ON TYPE private.deleted_reply TO authenticated;
GRANT ALL ON TYPE private.deleted_reply TO service_role;

-- Name: TYPE admin_metrics_totals; Type: ACL; Schema: public; Owner: -

REVOKE ALL ON TYPE public.admin_metrics_totals FROM PUBLIC;
GRANT ALL ON TYPE public.admin_metrics_totals TO authenticated;
GRANT ALL ON TYPE public.admin_metrics_totals TO service_role;

-- Name: TABLE admin_metrics; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.admin_metrics TO service_role;

-- Name: TYPE admin_metrics_report; Type: ACL; Schema: public; Owner: -

REVOKE ALL ON TYPE public.admin_metrics_report FROM PUBLIC;
GRANT ALL ON TYPE public.admin_metrics_report TO authenticated;
GRANT ALL ON TYPE public.admin_metrics_report TO service_role;

-- Name: TYPE admin_user; Type: ACL; Schema: public; Owner: -

REVOKE ALL ON TYPE public.admin_user FROM PUBLIC;
GRANT ALL ON TYPE public.admin_user TO authenticated;
GRANT ALL ON TYPE public.admin_user TO service_role;

-- Name: TYPE admin_users_page; Type: ACL; Schema: public; Owner: -

REVOKE ALL ON TYPE public.admin_users_page FROM PUBLIC;
GRANT ALL ON TYPE public.admin_users_page TO authenticated;
GRANT ALL ON TYPE public.admin_users_page TO service_role;

-- Name: TYPE analysis_detail; Type: ACL; Schema: public; Owner: -

REVOKE ALL ON TYPE public.analysis_detail FROM PUBLIC;
GRANT ALL ON TYPE public.analysis_detail TO authenticated;
GRANT ALL ON TYPE public.analysis_detail TO service_role;

-- Name: TABLE analyses; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.analyses TO service_role;
GRANT SELECT ON TABLE public.analyses TO authenticated;

-- Name: TABLE credits_transactions; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.credits_transactions TO service_role;
GRANT SELECT ON TABLE public.credits_transactions TO authenticated;

-- Name: TABLE payments; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.payments TO service_role;
GRANT SELECT ON TABLE public.payments TO authenticated;

-- Name: TABLE saved_replies; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.saved_replies TO service_role;
GRANT SELECT ON TABLE public.saved_replies TO authenticated;

-- Name: TABLE users; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.users TO service_role;
GRANT SELECT ON TABLE public.users TO authenticated;

-- Name: TYPE data_export; Type: ACL; Schema: public; Owner: -

REVOKE ALL ON TYPE public.data_export FROM PUBLIC;
GRANT ALL ON TYPE public.data_export TO authenticated;
GRANT ALL ON TYPE public.data_export TO service_role;

-- Name: TYPE history_item; Type: ACL; Schema: public; Owner: -

REVOKE ALL ON TYPE public.history_item FROM PUBLIC;
GRANT ALL ON TYPE public.history_item TO authenticated;
GRANT ALL ON TYPE public.history_item TO service_role;

-- Name: TYPE history_page; Type: ACL; Schema: public; Owner: -

REVOKE ALL ON TYPE public.history_page FROM PUBLIC;
GRANT ALL ON TYPE public.history_page TO authenticated;
GRANT ALL ON TYPE public.history_page TO service_role;

-- Name: TYPE saved_reply; Type: ACL; Schema: public; Owner: -

REVOKE ALL ON TYPE public.saved_reply FROM PUBLIC;
GRANT ALL ON TYPE public.saved_reply TO authenticated;
GRANT ALL ON TYPE public.saved_reply TO service_role;

-- Name: TYPE saved_replies_page; Type: ACL; Schema: public; Owner: -

REVOKE ALL ON TYPE public.saved_replies_page FROM PUBLIC;
GRANT ALL ON TYPE public.saved_replies_page TO authenticated;
GRANT ALL ON TYPE public.saved_replies_page TO service_role;

-- Name: FUNCTION admin_actor(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.admin_actor() FROM PUBLIC;
GRANT ALL ON FUNCTION private.admin_actor() TO authenticated;
GRANT ALL ON FUNCTION private.admin_actor() TO service_role;

-- Name: FUNCTION admin_adjust_credits(user_id uuid, delta numeric, reason text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.admin_adjust_credits(user_id uuid, delta numeric, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.admin_adjust_credits(user_id uuid, delta numeric, reason text) TO authenticated;
GRANT ALL ON FUNCTION private.admin_adjust_credits(user_id uuid, delta numeric, reason text) TO service_role;

-- Name: FUNCTION admin_credit_history(user_id uuid, page_size integer, before_id bigint); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.admin_credit_history(user_id uuid, page_size integer, before_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION private.admin_credit_history(user_id uuid, page_size integer, before_id bigint) TO service_role;

-- Name: FUNCTION admin_get_metrics(from_date date, to_date date); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.admin_get_metrics(from_date date, to_date date) FROM PUBLIC;
GRANT ALL ON FUNCTION private.admin_get_metrics(from_date date, to_date date) TO authenticated;
GRANT ALL ON FUNCTION private.admin_get_metrics(from_date date, to_date date) TO service_role;

-- Name: FUNCTION admin_get_user(user_id uuid); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.admin_get_user(user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.admin_get_user(user_id uuid) TO service_role;

-- Name: FUNCTION admin_list_users(search text, tier text, page_size integer, page_offset integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.admin_list_users(search text, tier text, page_size integer, page_offset integer) FROM PUBLIC;
GRANT ALL ON FUNCTION private.admin_list_users(search text, tier text, page_size integer, page_offset integer) TO authenticated;
GRANT ALL ON FUNCTION private.admin_list_users(search text, tier text, page_size integer, page_offset integer) TO service_role;

-- Name: FUNCTION analysis_next_due_seconds(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.analysis_next_due_seconds() FROM PUBLIC;
GRANT ALL ON FUNCTION private.analysis_next_due_seconds() TO service_role;
GRANT ALL ON FUNCTION private.analysis_next_due_seconds() TO flirt_worker;

-- Name: FUNCTION analysis_queue_stats(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.analysis_queue_stats() FROM PUBLIC;
GRANT ALL ON FUNCTION private.analysis_queue_stats() TO service_role;
GRANT ALL ON FUNCTION private.analysis_queue_stats() TO flirt_worker;

-- Name: FUNCTION analysis_result_problem(result jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.analysis_result_problem(result jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.analysis_result_problem(result jsonb) TO service_role;
GRANT ALL ON FUNCTION private.analysis_result_problem(result jsonb) TO flirt_worker;

-- Name: FUNCTION apply_charge_dispute(dispute jsonb, event_id text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.apply_charge_dispute(dispute jsonb, event_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.apply_charge_dispute(dispute jsonb, event_id text) TO service_role;

-- Name: FUNCTION apply_charge_dispute_closed(dispute jsonb, event_id text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.apply_charge_dispute_closed(dispute jsonb, event_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.apply_charge_dispute_closed(dispute jsonb, event_id text) TO service_role;

-- Name: FUNCTION apply_charge_refunded(charge jsonb, event_id text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.apply_charge_refunded(charge jsonb, event_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.apply_charge_refunded(charge jsonb, event_id text) TO service_role;

-- Name: FUNCTION apply_checkout_session(session jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.apply_checkout_session(session jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.apply_checkout_session(session jsonb) TO service_role;

-- Name: FUNCTION apply_daily_reset(user_id uuid, old_daily integer, purchased integer, allowance integer, day date); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.apply_daily_reset(user_id uuid, old_daily integer, purchased integer, allowance integer, day date) FROM PUBLIC;
GRANT ALL ON FUNCTION private.apply_daily_reset(user_id uuid, old_daily integer, purchased integer, allowance integer, day date) TO service_role;

-- Name: FUNCTION apply_invoice(invoice jsonb, observed_at timestamp with time zone, paid boolean); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.apply_invoice(invoice jsonb, observed_at timestamp with time zone, paid boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION private.apply_invoice(invoice jsonb, observed_at timestamp with time zone, paid boolean) TO service_role;

-- Name: FUNCTION apply_payment_intent(intent jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.apply_payment_intent(intent jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.apply_payment_intent(intent jsonb) TO service_role;

-- Name: FUNCTION apply_stripe_event(event jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.apply_stripe_event(event jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.apply_stripe_event(event jsonb) TO service_role;

-- Name: FUNCTION apply_subscription(subscription jsonb, observed_at timestamp with time zone, deleted boolean); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.apply_subscription(subscription jsonb, observed_at timestamp with time zone, deleted boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION private.apply_subscription(subscription jsonb, observed_at timestamp with time zone, deleted boolean) TO service_role;

-- Name: FUNCTION apply_unpaid_charge_refund(charge jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.apply_unpaid_charge_refund(charge jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.apply_unpaid_charge_refund(charge jsonb) TO service_role;

-- Name: FUNCTION billing_account(target_user uuid, purchase boolean); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.billing_account(target_user uuid, purchase boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION private.billing_account(target_user uuid, purchase boolean) TO service_role;

-- Name: FUNCTION billing_outcome(status text, outcome text, extra jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.billing_outcome(status text, outcome text, extra jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.billing_outcome(status text, outcome text, extra jsonb) TO service_role;

-- Name: FUNCTION billing_pack(pack text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.billing_pack(pack text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.billing_pack(pack text) TO service_role;

-- Name: FUNCTION change_tier(target_user uuid, new_tier text, reference text, metadata jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.change_tier(target_user uuid, new_tier text, reference text, metadata jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.change_tier(target_user uuid, new_tier text, reference text, metadata jsonb) TO service_role;

-- Name: FUNCTION charge_user(charge jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.charge_user(charge jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.charge_user(charge jsonb) TO service_role;

-- Name: FUNCTION check_date_range(from_date date, to_date date); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.check_date_range(from_date date, to_date date) FROM PUBLIC;
GRANT ALL ON FUNCTION private.check_date_range(from_date date, to_date date) TO authenticated;
GRANT ALL ON FUNCTION private.check_date_range(from_date date, to_date date) TO service_role;

-- Name: FUNCTION check_page_size(page_size integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.check_page_size(page_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION private.check_page_size(page_size integer) TO authenticated;
GRANT ALL ON FUNCTION private.check_page_size(page_size integer) TO service_role;

-- Name: FUNCTION claim_analyses(worker_id text, max_count integer, lease_seconds integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.claim_analyses(worker_id text, max_count integer, lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION private.claim_analyses(worker_id text, max_count integer, lease_seconds integer) TO service_role;
GRANT ALL ON FUNCTION private.claim_analyses(worker_id text, max_count integer, lease_seconds integer) TO flirt_worker;

-- Name: FUNCTION claim_screenshot_deletions(max_count integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.claim_screenshot_deletions(max_count integer) FROM PUBLIC;
GRANT ALL ON FUNCTION private.claim_screenshot_deletions(max_count integer) TO service_role;
GRANT ALL ON FUNCTION private.claim_screenshot_deletions(max_count integer) TO flirt_worker;

-- Name: FUNCTION claw_back_disputed_payment(payment bigint, dispute_id text, reason text, ledger_suffix text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.claw_back_disputed_payment(payment bigint, dispute_id text, reason text, ledger_suffix text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.claw_back_disputed_payment(payment bigint, dispute_id text, reason text, ledger_suffix text) TO service_role;

-- Name: FUNCTION clawback_purchased(target_user uuid, amount integer, kind text, ledger_key text, reference text, metadata jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.clawback_purchased(target_user uuid, amount integer, kind text, ledger_key text, reference text, metadata jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.clawback_purchased(target_user uuid, amount integer, kind text, ledger_key text, reference text, metadata jsonb) TO service_role;

-- Name: FUNCTION complete_analyses(worker_id text, results jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.complete_analyses(worker_id text, results jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.complete_analyses(worker_id text, results jsonb) TO service_role;
GRANT ALL ON FUNCTION private.complete_analyses(worker_id text, results jsonb) TO flirt_worker;

-- Name: FUNCTION complete_analysis(analysis_id uuid, worker_id text, result jsonb, model text, usage jsonb, prompt_version text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.complete_analysis(analysis_id uuid, worker_id text, result jsonb, model text, usage jsonb, prompt_version text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.complete_analysis(analysis_id uuid, worker_id text, result jsonb, model text, usage jsonb, prompt_version text) TO service_role;
GRANT ALL ON FUNCTION private.complete_analysis(analysis_id uuid, worker_id text, result jsonb, model text, usage jsonb, prompt_version text) TO flirt_worker;

-- Name: FUNCTION credit_day(at timestamp with time zone); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.credit_day(at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION private.credit_day(at timestamp with time zone) TO authenticated;
GRANT ALL ON FUNCTION private.credit_day(at timestamp with time zone) TO service_role;

-- Name: FUNCTION cron_jobs(reset_every_minutes integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.cron_jobs(reset_every_minutes integer) FROM PUBLIC;
GRANT ALL ON FUNCTION private.cron_jobs(reset_every_minutes integer) TO service_role;

-- Name: FUNCTION daily_reset_command(batch_size integer, progress boolean); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.daily_reset_command(batch_size integer, progress boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION private.daily_reset_command(batch_size integer, progress boolean) TO service_role;

-- Name: FUNCTION decode_cursor(kind text, cursor text, OUT created_at timestamp with time zone, OUT id uuid); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.decode_cursor(kind text, cursor text, OUT created_at timestamp with time zone, OUT id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.decode_cursor(kind text, cursor text, OUT created_at timestamp with time zone, OUT id uuid) TO authenticated;
GRANT ALL ON FUNCTION private.decode_cursor(kind text, cursor text, OUT created_at timestamp with time zone, OUT id uuid) TO service_role;

-- Name: FUNCTION delete_saved_reply(reply_id uuid); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.delete_saved_reply(reply_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.delete_saved_reply(reply_id uuid) TO authenticated;

-- Name: FUNCTION dispatch_stripe_event(event_type text, object jsonb, event_id text, created timestamp with time zone); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.dispatch_stripe_event(event_type text, object jsonb, event_id text, created timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION private.dispatch_stripe_event(event_type text, object jsonb, event_id text, created timestamp with time zone) TO service_role;

-- Name: FUNCTION dispute_restriction(dispute_id text, reason text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.dispute_restriction(dispute_id text, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.dispute_restriction(dispute_id text, reason text) TO service_role;

-- Name: FUNCTION encode_cursor(kind text, created_at timestamp with time zone, id uuid); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.encode_cursor(kind text, created_at timestamp with time zone, id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.encode_cursor(kind text, created_at timestamp with time zone, id uuid) TO authenticated;
GRANT ALL ON FUNCTION private.encode_cursor(kind text, created_at timestamp with time zone, id uuid) TO service_role;

-- Name: FUNCTION export_my_data(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.export_my_data() FROM PUBLIC;
GRANT ALL ON FUNCTION private.export_my_data() TO authenticated;

-- Name: FUNCTION export_user_data(user_id uuid); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.export_user_data(user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.export_user_data(user_id uuid) TO service_role;

-- Name: FUNCTION fail_analysis(analysis_id uuid, worker_id text, error text, retryable boolean, retry_after_seconds double precision); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.fail_analysis(analysis_id uuid, worker_id text, error text, retryable boolean, retry_after_seconds double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION private.fail_analysis(analysis_id uuid, worker_id text, error text, retryable boolean, retry_after_seconds double precision) TO service_role;
GRANT ALL ON FUNCTION private.fail_analysis(analysis_id uuid, worker_id text, error text, retryable boolean, retry_after_seconds double precision) TO flirt_worker;

-- Name: FUNCTION finish_screenshot_deletion(deletion_id bigint, error text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.finish_screenshot_deletion(deletion_id bigint, error text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.finish_screenshot_deletion(deletion_id bigint, error text) TO service_role;
GRANT ALL ON FUNCTION private.finish_screenshot_deletion(deletion_id bigint, error text) TO flirt_worker;

-- Name: FUNCTION get_analysis(analysis_id uuid); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.get_analysis(analysis_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.get_analysis(analysis_id uuid) TO authenticated;

-- Name: FUNCTION get_credits(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.get_credits() FROM PUBLIC;
GRANT ALL ON FUNCTION private.get_credits() TO authenticated;

-- Name: FUNCTION get_history(page_size integer, cursor text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.get_history(page_size integer, cursor text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.get_history(page_size integer, cursor text) TO authenticated;

-- Name: FUNCTION get_saved_replies(page_size integer, cursor text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.get_saved_replies(page_size integer, cursor text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.get_saved_replies(page_size integer, cursor text) TO authenticated;

-- Name: FUNCTION grant_purchase(target_user uuid, pack text, payment_intent text, amount integer, currency_code text, checkout_session text, charge text, source text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.grant_purchase(target_user uuid, pack text, payment_intent text, amount integer, currency_code text, checkout_session text, charge text, source text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.grant_purchase(target_user uuid, pack text, payment_intent text, amount integer, currency_code text, checkout_session text, charge text, source text) TO service_role;

-- Name: FUNCTION guard_ledger_append_only(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.guard_ledger_append_only() FROM PUBLIC;

-- Name: FUNCTION handle_new_user(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.handle_new_user() FROM PUBLIC;

-- Name: FUNCTION handle_user_converted(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.handle_user_converted() FROM PUBLIC;

-- Name: FUNCTION handle_user_email_change(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.handle_user_email_change() FROM PUBLIC;

-- Name: FUNCTION heartbeat_analysis(analysis_id uuid, worker_id text, lease_seconds integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.heartbeat_analysis(analysis_id uuid, worker_id text, lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION private.heartbeat_analysis(analysis_id uuid, worker_id text, lease_seconds integer) TO service_role;
GRANT ALL ON FUNCTION private.heartbeat_analysis(analysis_id uuid, worker_id text, lease_seconds integer) TO flirt_worker;

-- Name: FUNCTION is_admin(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.is_admin() FROM PUBLIC;
GRANT ALL ON FUNCTION private.is_admin() TO authenticated;
GRANT ALL ON FUNCTION private.is_admin() TO service_role;

-- Name: FUNCTION is_admin_or_service(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.is_admin_or_service() FROM PUBLIC;
GRANT ALL ON FUNCTION private.is_admin_or_service() TO authenticated;
GRANT ALL ON FUNCTION private.is_admin_or_service() TO service_role;

-- Name: FUNCTION keep_open_dispute_restriction(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.keep_open_dispute_restriction() FROM PUBLIC;

-- Name: FUNCTION ledger_mismatches(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.ledger_mismatches() FROM PUBLIC;
GRANT ALL ON FUNCTION private.ledger_mismatches() TO service_role;

-- Name: FUNCTION ledger_mismatches_page(after_id uuid, page_size integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.ledger_mismatches_page(after_id uuid, page_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION private.ledger_mismatches_page(after_id uuid, page_size integer) TO service_role;

-- Name: FUNCTION list_stripe_events(status_filter text, type_filter text, max_rows integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.list_stripe_events(status_filter text, type_filter text, max_rows integer) FROM PUBLIC;
GRANT ALL ON FUNCTION private.list_stripe_events(status_filter text, type_filter text, max_rows integer) TO service_role;

-- Name: FUNCTION move_credits(target_user uuid, daily_delta integer, purchased_delta integer, kind text, reference text, ledger_key text, metadata jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.move_credits(target_user uuid, daily_delta integer, purchased_delta integer, kind text, reference text, ledger_key text, metadata jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.move_credits(target_user uuid, daily_delta integer, purchased_delta integer, kind text, reference text, ledger_key text, metadata jsonb) TO service_role;

-- Name: FUNCTION next_reset_at(day date); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.next_reset_at(day date) FROM PUBLIC;
GRANT ALL ON FUNCTION private.next_reset_at(day date) TO authenticated;
GRANT ALL ON FUNCTION private.next_reset_at(day date) TO service_role;

-- Name: FUNCTION pack_payment_exists(payment_intent text, charge text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.pack_payment_exists(payment_intent text, charge text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.pack_payment_exists(payment_intent text, charge text) TO service_role;

-- Name: FUNCTION payment_intent_lock_key(payment_intent text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.payment_intent_lock_key(payment_intent text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.payment_intent_lock_key(payment_intent text) TO service_role;

-- Name: FUNCTION perform_action(action_type text, input jsonb, idempotency_key text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.perform_action(action_type text, input jsonb, idempotency_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.perform_action(action_type text, input jsonb, idempotency_key text) TO authenticated;

-- Name: FUNCTION plan_subscription(target_user uuid, tier text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.plan_subscription(target_user uuid, tier text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.plan_subscription(target_user uuid, tier text) TO service_role;

-- Name: FUNCTION purge_expired_inputs(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.purge_expired_inputs() FROM PUBLIC;
GRANT ALL ON FUNCTION private.purge_expired_inputs() TO service_role;

-- Name: FUNCTION queue_account_screenshots(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.queue_account_screenshots() FROM PUBLIC;

-- Name: FUNCTION queue_gate_lock_key(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.queue_gate_lock_key() FROM PUBLIC;
GRANT ALL ON FUNCTION private.queue_gate_lock_key() TO authenticated;
GRANT ALL ON FUNCTION private.queue_gate_lock_key() TO service_role;
GRANT ALL ON FUNCTION private.queue_gate_lock_key() TO flirt_worker;

-- Name: FUNCTION raise_api_error(status integer, code text, detail jsonb, hint text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.raise_api_error(status integer, code text, detail jsonb, hint text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.raise_api_error(status integer, code text, detail jsonb, hint text) TO authenticated;
GRANT ALL ON FUNCTION private.raise_api_error(status integer, code text, detail jsonb, hint text) TO service_role;

-- Name: FUNCTION raise_invalid_input(field text, reason text, detail jsonb, hint text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.raise_invalid_input(field text, reason text, detail jsonb, hint text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.raise_invalid_input(field text, reason text, detail jsonb, hint text) TO authenticated;
GRANT ALL ON FUNCTION private.raise_invalid_input(field text, reason text, detail jsonb, hint text) TO service_role;

-- Name: FUNCTION reap_expired_leases(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.reap_expired_leases() FROM PUBLIC;
GRANT ALL ON FUNCTION private.reap_expired_leases() TO service_role;

-- Name: FUNCTION record_stripe_event_failure(event jsonb, error text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.record_stripe_event_failure(event jsonb, error text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.record_stripe_event_failure(event jsonb, error text) TO service_role;

-- Name: FUNCTION redact_deleted_user_events(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.redact_deleted_user_events() FROM PUBLIC;

-- Name: FUNCTION refresh_admin_metrics(from_date date, to_date date); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.refresh_admin_metrics(from_date date, to_date date) FROM PUBLIC;
GRANT ALL ON FUNCTION private.refresh_admin_metrics(from_date date, to_date date) TO service_role;

-- Name: FUNCTION refund_analysis(analysis_id uuid); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.refund_analysis(analysis_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.refund_analysis(analysis_id uuid) TO service_role;

-- Name: FUNCTION release_analysis(analysis_id uuid, worker_id text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.release_analysis(analysis_id uuid, worker_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.release_analysis(analysis_id uuid, worker_id text) TO service_role;
GRANT ALL ON FUNCTION private.release_analysis(analysis_id uuid, worker_id text) TO flirt_worker;

-- Name: FUNCTION replay_stripe_event(event_id text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.replay_stripe_event(event_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.replay_stripe_event(event_id text) TO service_role;

-- Name: FUNCTION require_admin(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.require_admin() FROM PUBLIC;
GRANT ALL ON FUNCTION private.require_admin() TO authenticated;
GRANT ALL ON FUNCTION private.require_admin() TO service_role;

-- Name: FUNCTION require_user_id(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.require_user_id() FROM PUBLIC;
GRANT ALL ON FUNCTION private.require_user_id() TO authenticated;
GRANT ALL ON FUNCTION private.require_user_id() TO service_role;

-- Name: FUNCTION required_setting(setting_key text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.required_setting(setting_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.required_setting(setting_key text) TO authenticated;
GRANT ALL ON FUNCTION private.required_setting(setting_key text) TO service_role;

-- Name: FUNCTION reset_daily(at timestamp with time zone, batch_size integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.reset_daily(at timestamp with time zone, batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION private.reset_daily(at timestamp with time zone, batch_size integer) TO service_role;

-- Name: FUNCTION reset_due_users(day date, batch_size integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.reset_due_users(day date, batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION private.reset_due_users(day date, batch_size integer) TO service_role;

-- Name: FUNCTION reset_user_if_due(user_id uuid, at timestamp with time zone); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.reset_user_if_due(user_id uuid, at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION private.reset_user_if_due(user_id uuid, at timestamp with time zone) TO service_role;

-- Name: FUNCTION retry_analysis(analysis_id uuid); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.retry_analysis(analysis_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.retry_analysis(analysis_id uuid) TO service_role;

-- Name: FUNCTION save_reply(analysis_id uuid, reply text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.save_reply(analysis_id uuid, reply text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.save_reply(analysis_id uuid, reply text) TO authenticated;

-- Name: FUNCTION schedule_jobs(reset_every_minutes integer); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.schedule_jobs(reset_every_minutes integer) FROM PUBLIC;

-- Name: FUNCTION screenshot_bucket(); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.screenshot_bucket() FROM PUBLIC;
GRANT ALL ON FUNCTION private.screenshot_bucket() TO authenticated;
GRANT ALL ON FUNCTION private.screenshot_bucket() TO service_role;

-- Name: FUNCTION set_stripe_customer(target_user uuid, customer_id text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.set_stripe_customer(target_user uuid, customer_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.set_stripe_customer(target_user uuid, customer_id text) TO service_role;

-- Name: FUNCTION set_tier(target_user uuid, new_tier text, purchased_delta integer, kind text, reference text, ledger_key text, metadata jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.set_tier(target_user uuid, new_tier text, purchased_delta integer, kind text, reference text, ledger_key text, metadata jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.set_tier(target_user uuid, new_tier text, purchased_delta integer, kind text, reference text, ledger_key text, metadata jsonb) TO service_role;

-- Name: FUNCTION setting(setting_key text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.setting(setting_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.setting(setting_key text) TO authenticated;
GRANT ALL ON FUNCTION private.setting(setting_key text) TO service_role;

-- Name: FUNCTION stripe_id(ref jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.stripe_id(ref jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.stripe_id(ref jsonb) TO service_role;

-- Name: FUNCTION stripe_object_user(object jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.stripe_object_user(object jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.stripe_object_user(object jsonb) TO service_role;

-- Name: FUNCTION stripe_object_user_ref(object jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.stripe_object_user_ref(object jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.stripe_object_user_ref(object jsonb) TO service_role;

-- Name: FUNCTION stripe_time(epoch jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.stripe_time(epoch jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION private.stripe_time(epoch jsonb) TO service_role;

-- Name: FUNCTION subscription_stage(status text); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.subscription_stage(status text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.subscription_stage(status text) TO service_role;

-- Name: FUNCTION sync_config(cfg jsonb); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.sync_config(cfg jsonb) FROM PUBLIC;

-- Name: FUNCTION sync_stripe_object(object jsonb, observed_at timestamp with time zone); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.sync_stripe_object(object jsonb, observed_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION private.sync_stripe_object(object jsonb, observed_at timestamp with time zone) TO service_role;

-- Name: FUNCTION take_back_earlier_reversals(payment bigint); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.take_back_earlier_reversals(payment bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION private.take_back_earlier_reversals(payment bigint) TO service_role;

-- Name: FUNCTION validate_action_input(action_type text, input jsonb, max_input_chars integer, max_input_bytes integer, user_id uuid); Type: ACL; Schema: private; Owner: -

REVOKE ALL ON FUNCTION private.validate_action_input(action_type text, input jsonb, max_input_chars integer, max_input_bytes integer, user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.validate_action_input(action_type text, input jsonb, max_input_chars integer, max_input_bytes integer, user_id uuid) TO authenticated;
GRANT ALL ON FUNCTION private.validate_action_input(action_type text, input jsonb, max_input_chars integer, max_input_bytes integer, user_id uuid) TO service_role;

-- Name: FUNCTION admin_adjust_credits(user_id uuid, delta numeric, reason text); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.admin_adjust_credits(user_id uuid, delta numeric, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_adjust_credits(user_id uuid, delta numeric, reason text) TO service_role;
GRANT ALL ON FUNCTION public.admin_adjust_credits(user_id uuid, delta numeric, reason text) TO authenticated;

-- Name: FUNCTION admin_get_metrics(from_date date, to_date date); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.admin_get_metrics(from_date date, to_date date) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_get_metrics(from_date date, to_date date) TO service_role;
GRANT ALL ON FUNCTION public.admin_get_metrics(from_date date, to_date date) TO authenticated;

-- Name: FUNCTION admin_list_users(search text, tier text, page_size integer, page_offset integer); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.admin_list_users(search text, tier text, page_size integer, page_offset integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_list_users(search text, tier text, page_size integer, page_offset integer) TO service_role;
GRANT ALL ON FUNCTION public.admin_list_users(search text, tier text, page_size integer, page_offset integer) TO authenticated;

-- Name: FUNCTION delete_saved_reply(reply_id uuid); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.delete_saved_reply(reply_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.delete_saved_reply(reply_id uuid) TO service_role;
GRANT ALL ON FUNCTION public.delete_saved_reply(reply_id uuid) TO authenticated;

-- Name: FUNCTION export_my_data(); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.export_my_data() FROM PUBLIC;
GRANT ALL ON FUNCTION public.export_my_data() TO service_role;
GRANT ALL ON FUNCTION public.export_my_data() TO authenticated;

-- Name: FUNCTION get_analysis(analysis_id uuid); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.get_analysis(analysis_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.get_analysis(analysis_id uuid) TO service_role;
GRANT ALL ON FUNCTION public.get_analysis(analysis_id uuid) TO authenticated;

-- Name: FUNCTION get_credits(); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.get_credits() FROM PUBLIC;
GRANT ALL ON FUNCTION public.get_credits() TO service_role;
GRANT ALL ON FUNCTION public.get_credits() TO authenticated;

-- Name: FUNCTION get_history(page_size integer, cursor text); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.get_history(page_size integer, cursor text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.get_history(page_size integer, cursor text) TO service_role;
GRANT ALL ON FUNCTION public.get_history(page_size integer, cursor text) TO authenticated;

-- Name: FUNCTION get_saved_replies(page_size integer, cursor text); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.get_saved_replies(page_size integer, cursor text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.get_saved_replies(page_size integer, cursor text) TO service_role;
GRANT ALL ON FUNCTION public.get_saved_replies(page_size integer, cursor text) TO authenticated;

-- Name: FUNCTION perform_action(action_type text, input jsonb, idempotency_key text); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.perform_action(action_type text, input jsonb, idempotency_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.perform_action(action_type text, input jsonb, idempotency_key text) TO service_role;
GRANT ALL ON FUNCTION public.perform_action(action_type text, input jsonb, idempotency_key text) TO authenticated;

-- Name: FUNCTION save_reply(analysis_id uuid, reply text); Type: ACL; Schema: public; Owner: -

REVOKE ALL ON FUNCTION public.save_reply(analysis_id uuid, reply text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.save_reply(analysis_id uuid, reply text) TO service_role;
GRANT ALL ON FUNCTION public.save_reply(analysis_id uuid, reply text) TO authenticated;

-- Name: TABLE action_costs; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.action_costs TO service_role;
GRANT SELECT ON TABLE public.action_costs TO anon;
GRANT SELECT ON TABLE public.action_costs TO authenticated;

-- Name: TABLE app_settings; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.app_settings TO service_role;

-- Name: TABLE credit_packs; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.credit_packs TO service_role;
GRANT SELECT ON TABLE public.credit_packs TO anon;
GRANT SELECT ON TABLE public.credit_packs TO authenticated;

-- Name: SEQUENCE credits_transactions_id_seq; Type: ACL; Schema: public; Owner: -

GRANT ALL ON SEQUENCE public.credits_transactions_id_seq TO service_role;

-- Name: SEQUENCE payments_id_seq; Type: ACL; Schema: public; Owner: -

GRANT ALL ON SEQUENCE public.payments_id_seq TO service_role;

-- Name: TABLE stripe_webhook_events; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.stripe_webhook_events TO service_role;

-- Name: TABLE tiers; Type: ACL; Schema: public; Owner: -

GRANT ALL ON TABLE public.tiers TO service_role;
GRANT SELECT ON TABLE public.tiers TO anon;
GRANT SELECT ON TABLE public.tiers TO authenticated;

-- Name: DEFAULT PRIVILEGES FOR SEQUENCES; Type: DEFAULT ACL; Schema: public; Owner: -

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES  TO service_role;

-- Name: DEFAULT PRIVILEGES FOR FUNCTIONS; Type: DEFAULT ACL; Schema: public; Owner: -

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS  TO service_role;

-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: public; Owner: -

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES  TO service_role;
