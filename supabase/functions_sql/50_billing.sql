-- Billing: Stripe webhook events, credit pack purchases, subscriptions, clawbacks.
-- Every function here is for service_role only (the Python API and CLI).
-- Stripe neither guarantees order nor uniqueness of deliveries: each event is
-- recorded and applied at most once, in the transaction of its effects, and
-- subscription state only moves forward in Stripe's own event time.

-- ---------------------------------------------------------------------------
-- helpers
-- ---------------------------------------------------------------------------
-- The one-expression helpers are plpgsql, not sql: a SQL function that sets
-- search_path is never inlined, and then starts the executor for its query on
-- every call (about 15 µs, three times per granted event); plpgsql evaluates
-- the expression directly.

-- A Stripe epoch (seconds, JSON number) as timestamptz; null for anything else.
create or replace function private.stripe_time(epoch jsonb) returns timestamptz
language plpgsql
immutable
set search_path = ''
as $$
begin
  return case when jsonb_typeof(epoch) = 'number'
              then pg_catalog.to_timestamp((epoch #>> '{}')::double precision) end;
end
$$;
grant execute on function private.stripe_time(jsonb) to service_role;

-- The id of a Stripe reference that may be a string id or an expanded object.
create or replace function private.stripe_id(ref jsonb) returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  return case jsonb_typeof(ref) when 'string' then ref #>> '{}' when 'object' then ref ->> 'id' end;
end
$$;
grant execute on function private.stripe_id(jsonb) to service_role;

-- The user id a Stripe object names itself (metadata.user_id, else client_reference_id), as
-- text: every object the API creates carries it. Null when it names none.
create or replace function private.stripe_object_user_ref(object jsonb) returns text
language sql
immutable
set search_path = ''
as $$
  select coalesce(object #>> '{metadata,user_id}', object ->> 'client_reference_id')
$$;
grant execute on function private.stripe_object_user_ref(jsonb) to service_role;

-- The user a Stripe object belongs to: the user it names (stripe_object_user_ref), else the
-- owner of its customer. The one rule for attributing events, batches and redactions.
create or replace function private.stripe_object_user(object jsonb) returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
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
$$;
grant execute on function private.stripe_object_user(jsonb) to service_role;

-- The user a charge belongs to: its own metadata or customer, else its PaymentIntent's (when
-- expanded: the API retrieves it from Stripe for the events that lack it).
create or replace function private.charge_user(charge jsonb) returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := private.stripe_object_user(charge);
begin
  if v_user is null and jsonb_typeof(charge -> 'payment_intent') = 'object' then
    v_user := private.stripe_object_user(charge -> 'payment_intent');
  end if;
  return v_user;
end
$$;
grant execute on function private.charge_user(jsonb) to service_role;

-- A handler's answer: 'processed', 'ignored' or 'rejected' (a payment that granted nothing),
-- and what happened in words.
create or replace function private.billing_outcome(status text, outcome text, extra jsonb default '{}'::jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
  return jsonb_build_object('status', status, 'outcome', outcome) || coalesce(extra, '{}'::jsonb);
end
$$;
grant execute on function private.billing_outcome(text, text, jsonb) to service_role;

-- Take `amount` credits from the purchased bucket (it may go below zero: a debt), with its ledger row.
create or replace function private.clawback_purchased(
  target_user uuid, amount integer, kind text, ledger_key text, reference text, metadata jsonb
) returns integer
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- null when the account was deleted: the payment row keeps the figures
  return (private.move_credits(target_user, 0, -amount, kind, reference, ledger_key,
                               metadata)).balance_after;
end
$$;
grant execute on function private.clawback_purchased(uuid, integer, text, text, text, jsonb) to service_role;

-- Put a user on `new_tier` (subscription events, the fallback tier): one 'subscription_grant'
-- row when the daily bucket moves. One credit day, one allowance: see private.set_tier.
create or replace function private.change_tier(
  target_user uuid, new_tier text, reference text, metadata jsonb default '{}'::jsonb
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return private.set_tier(target_user, new_tier, 0, 'subscription_grant', reference, null,
                          metadata);
end
$$;
grant execute on function private.change_tier(uuid, text, text, jsonb) to service_role;

-- ---------------------------------------------------------------------------
-- purchases
-- ---------------------------------------------------------------------------

-- The transaction lock key of one PaymentIntent. Its grant and its refunds and disputes take
-- it (pg_advisory_xact_lock; a null id locks nothing): a refund applied while the grant
-- commits waits, then sees the payment (else it would record the refund as one of no pack
-- while the grant misses it, and the pack would stay granted).
create or replace function private.payment_intent_lock_key(payment_intent text) returns bigint
language plpgsql
immutable
set search_path = ''
as $$
begin
  return pg_catalog.hashtextextended('stripe_payment:' || payment_intent, 0);
end
$$;
grant execute on function private.payment_intent_lock_key(text) to service_role;

-- A disputed pack payment: marked `disputed`, and everything not yet clawed back is taken from
-- its user's purchased bucket (ledger key `dispute_clawback:<ledger_suffix>`). Returns the
-- credits taken.
create or replace function private.claw_back_disputed_payment(
  payment bigint, dispute_id text, reason text, ledger_suffix text
) returns integer
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.claw_back_disputed_payment(bigint, text, text, text)
  to service_role;

-- A pack just granted whose refund or dispute was applied before it (Stripe does not order
-- events, a charge need not name its pack, and sync may list the refund first): take back
-- now what that refund or dispute takes. Returns the credits taken back. Pack charges are
-- PaymentIntents' charges: their refunds and disputes are found by the PaymentIntent.
create or replace function private.take_back_earlier_reversals(payment bigint) returns integer
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.take_back_earlier_reversals(bigint) to service_role;

-- Grant a pack (credits + bonus, purchased bucket) for one PaymentIntent, at most once ever.
create or replace function private.grant_purchase(
  target_user uuid,
  pack text,
  payment_intent text,
  amount integer,
  currency_code text,
  checkout_session text default null,
  charge text default null,
  source text default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.grant_purchase(uuid, text, text, integer, text, text, text, text)
  to service_role;

-- A Checkout Session: a paid pack session whose line items carry the pack's price grants;
-- subscription sessions wait for subscription events.
create or replace function private.apply_checkout_session(session jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.apply_checkout_session(jsonb) to service_role;

-- A PaymentIntent: a succeeded pack payment (quick pack or checkout) of the pack's price grants.
create or replace function private.apply_payment_intent(intent jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.apply_payment_intent(jsonb) to service_role;

-- ---------------------------------------------------------------------------
-- subscriptions
-- ---------------------------------------------------------------------------

-- How far a subscription has come: 0 not yet paid, 1 live, 2 ended. Stripe's `created` has
-- one-second resolution, so events of the same second are ordered by this instead.
create or replace function private.subscription_stage(status text) returns integer
language plpgsql
immutable
set search_path = ''
as $$
begin
  return case
    when status in ('canceled', 'incomplete_expired') then 2
    when status = 'incomplete' or status is null then 0
    else 1
  end;
end
$$;
grant execute on function private.subscription_stage(text) to service_role;

-- A subscription's state (from customer.subscription.* or billing sync) observed at `observed_at`.
create or replace function private.apply_subscription(
  subscription jsonb, observed_at timestamptz, deleted boolean default false
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.apply_subscription(jsonb, timestamptz, boolean) to service_role;

-- invoice.paid / invoice.payment_failed: the subscription's payment status, never its tier.
create or replace function private.apply_invoice(
  invoice jsonb, observed_at timestamptz, paid boolean
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.apply_invoice(jsonb, timestamptz, boolean) to service_role;

-- ---------------------------------------------------------------------------
-- refunds and disputes (clawbacks take from the purchased bucket only)
-- ---------------------------------------------------------------------------

-- charge.refunded of a charge that granted no pack: a subscription invoice (its daily
-- credits are not clawed back), a pack payment rejected (R4: nothing was granted), or a pack
-- whose grant is still to come. Recorded in private.subscription_refunds: a pack granted
-- later for this PaymentIntent is taken back at once (private.take_back_earlier_reversals).
create or replace function private.apply_unpaid_charge_refund(charge jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.apply_unpaid_charge_refund(jsonb) to service_role;

-- charge.refunded: claw back up to ceil(granted × amount_refunded / amount), cumulatively.
create or replace function private.apply_charge_refunded(charge jsonb, event_id text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.apply_charge_refunded(jsonb, text) to service_role;

-- The restricted_reason a dispute sets: which dispute, and Stripe's reason for it.
create or replace function private.dispute_restriction(dispute_id text, reason text) returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  return format('payment_disputed:%s:%s', dispute_id, coalesce(reason, 'unknown'));
end
$$;
grant execute on function private.dispute_restriction(text, text) to service_role;

-- charge.dispute.created (any charge of the user's customer: pack or subscription invoice):
-- record the dispute and restrict the account; a pack payment is also clawed back in full.
-- The charge is found through the pack payment, else through the charge itself, which the
-- API retrieves (with its PaymentIntent) from Stripe: a dispute carries no customer.
create or replace function private.apply_charge_dispute(dispute jsonb, event_id text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.apply_charge_dispute(jsonb, text) to service_role;

-- charge.dispute.closed: record the outcome; a won dispute (or a closed inquiry,
-- warning_closed) lifts the restriction it set
-- (handed to another open dispute of the user, if any), never one set for another reason.
create or replace function private.apply_charge_dispute_closed(dispute jsonb, event_id text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.apply_charge_dispute_closed(jsonb, text) to service_role;

-- An open dispute keeps its account restricted: lifting a restriction (an admin's, or one
-- that kept the dispute from setting its own) while a dispute of the user is still open
-- leaves the account restricted by that dispute, which a won dispute then lifts.
create or replace function private.keep_open_dispute_restriction() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
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
revoke all on function private.keep_open_dispute_restriction() from public;

create or replace trigger on_restriction_lifted_keep_open_dispute
  before update of restricted_reason on public.users
  for each row when (old.restricted_reason is not null and new.restricted_reason is null)
  execute function private.keep_open_dispute_restriction();

-- ---------------------------------------------------------------------------
-- events
-- ---------------------------------------------------------------------------

-- Route one event to its handler; unknown types are ignored.
create or replace function private.dispatch_stripe_event(
  event_type text, object jsonb, event_id text, created timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.dispatch_stripe_event(text, jsonb, text, timestamptz) to service_role;

-- Record a verified Stripe event and apply it at most once, in this transaction.
-- Returns {event_id, type, status: processed|ignored|rejected, duplicate, outcome}. When
-- applying fails it raises (the statement, and so every effect, is undone) and
-- the caller keeps the failure with private.record_stripe_event_failure.
create or replace function private.apply_stripe_event(event jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.apply_stripe_event(jsonb) to service_role;

-- Keep an event whose applying failed (its effects were undone), so that Stripe's retry or
-- `webhooks replay` runs it again; an event applied meanwhile is left as it is.
create or replace function private.record_stripe_event_failure(event jsonb, error text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.record_stripe_event_failure(jsonb, text) to service_role;

-- Apply a stored event again (only a failed one changes anything).
create or replace function private.replay_stripe_event(event_id text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.replay_stripe_event(text) to service_role;

-- Received events, newest first, optionally filtered by status and type.
create or replace function private.list_stripe_events(
  status_filter text default null, type_filter text default null, max_rows integer default 50
) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
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
grant execute on function private.list_stripe_events(text, text, integer) to service_role;

-- `billing sync`: apply a Checkout Session, PaymentIntent, subscription, refunded charge or
-- dispute listed from the Stripe API, through the handler of its webhook event. A refund or
-- dispute has no event id here: its ledger key names the charge's cumulative refunded amount
-- (or the dispute), and the handlers take only what was not yet taken, so a later webhook of
-- the same refund or dispute, or a second sync, claws back nothing more.
create or replace function private.sync_stripe_object(object jsonb, observed_at timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.sync_stripe_object(jsonb, timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- what the API needs before calling Stripe
-- ---------------------------------------------------------------------------

-- The account's billing state; buying is refused for restricted accounts. It takes no lock:
-- the caller goes on to call Stripe, and no row lock is held across a network call.
create or replace function private.billing_account(target_user uuid, purchase boolean default true)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
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
grant execute on function private.billing_account(uuid, boolean) to service_role;

-- Whether a credit pack payment with this PaymentIntent or charge is recorded (then a dispute
-- or refund of it needs nothing more from Stripe).
create or replace function private.pack_payment_exists(payment_intent text, charge text)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (select 1 from public.payments p
                  where p.stripe_payment_intent_id = payment_intent or p.stripe_charge_id = charge);
end
$$;
grant execute on function private.pack_payment_exists(text, text) to service_role;

-- Store the user's Stripe customer unless one is stored already; returns the stored one, so
-- that concurrent first purchases (each creating it with the idempotency key customer:<user>)
-- all use the first.
create or replace function private.set_stripe_customer(target_user uuid, customer_id text)
returns text
language sql
security definer
set search_path = ''
as $$
  update public.users u
     set stripe_customer_id = coalesce(u.stripe_customer_id, customer_id), updated_at = now()
   where u.id = target_user
  returning u.stripe_customer_id
$$;
grant execute on function private.set_stripe_customer(uuid, text) to service_role;

-- The active pack a user may buy, with its Stripe price.
create or replace function private.billing_pack(pack text) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
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
grant execute on function private.billing_pack(text) to service_role;

-- What subscribing `target_user` to `tier` takes: a new Checkout ('checkout') or a change of the
-- existing subscription ('modify'); the same tier again is a 409.
create or replace function private.plan_subscription(target_user uuid, tier text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
grant execute on function private.plan_subscription(uuid, text) to service_role;
