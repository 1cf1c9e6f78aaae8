-- Billing functions are service_role only: anon and authenticated can execute
-- none of them (so no user can grant themselves credits or replay events),
-- none is exposed in public, and service_role applies an event exactly once.
begin;
select plan(8);

create temp table billing_functions (f regprocedure) on commit drop;
insert into billing_functions values
  ('private.stripe_time(jsonb)'), ('private.stripe_id(jsonb)'),
  ('private.stripe_object_user(jsonb)'), ('private.billing_outcome(text, text, jsonb)'),
  ('private.move_credits(uuid, integer, integer, text, text, text, jsonb)'),
  ('private.clawback_purchased(uuid, integer, text, text, text, jsonb)'),
  ('private.change_tier(uuid, text, text, jsonb)'),
  ('private.grant_purchase(uuid, text, text, integer, text, text, text, text)'),
  ('private.apply_checkout_session(jsonb)'), ('private.apply_payment_intent(jsonb)'),
  ('private.apply_subscription(jsonb, timestamptz, boolean)'),
  ('private.apply_invoice(jsonb, timestamptz, boolean)'),
  ('private.apply_charge_refunded(jsonb, text)'), ('private.apply_charge_dispute(jsonb, text)'),
  ('private.apply_unpaid_charge_refund(jsonb)'), ('private.charge_user(jsonb)'),
  ('private.dispute_restriction(text, text)'), ('private.apply_charge_dispute_closed(jsonb, text)'),
  ('private.pack_payment_exists(text, text)'),
  ('private.dispatch_stripe_event(text, jsonb, text, timestamptz)'),
  ('private.apply_stripe_event(jsonb)'), ('private.replay_stripe_event(text)'),
  ('private.record_stripe_event_failure(jsonb, text)'),
  ('private.list_stripe_events(text, text, integer)'),
  ('private.sync_stripe_object(jsonb, timestamptz)'),
  ('private.billing_account(uuid, boolean)'), ('private.set_stripe_customer(uuid, text)'),
  ('private.billing_pack(text)'), ('private.plan_subscription(uuid, text)');
grant select on billing_functions to anon, authenticated, service_role;

select is_empty(
  $$ select f::text from billing_functions
      where has_function_privilege('anon', f, 'execute')
         or has_function_privilege('authenticated', f, 'execute') $$,
  'anon and authenticated execute no billing function');

select is_empty(
  $$ select f::text from billing_functions where not has_function_privilege('service_role', f, 'execute') $$,
  'service_role executes every billing function');

select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'public' and p.proname ~ '(stripe|billing|purchase|clawback|subscription)' $$,
  'no billing function is exposed in public (PostgREST)');

select is_empty(
  $$ select f::text from billing_functions b join pg_proc p on p.oid = b.f
      where p.prosecdef and not coalesce(p.proconfig @> array['search_path=""'], false) $$,
  'every SECURITY DEFINER billing function pins search_path');

insert into auth.users (id, email) values ('00000000-0000-0000-0000-0000000000c1', 'c@example.test');

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000000-0000-0000-0000-0000000000c1","role":"authenticated"}', true);
select throws_ok(
  $$ select private.grant_purchase('00000000-0000-0000-0000-0000000000c1', 'large', 'pi_self', 1, 'usd') $$,
  '42501', null, 'a user cannot grant themselves a pack');
select throws_ok(
  $$ select private.apply_stripe_event('{"id":"evt_self","type":"payment_intent.succeeded","created":1,"data":{"object":{}}}') $$,
  '42501', null, 'a user cannot submit a Stripe event');
reset role;

set local role service_role;
select private.apply_stripe_event(jsonb_build_object(
  'id', 'evt_pgtap_1', 'type', 'payment_intent.succeeded', 'created', 1790000000,
  'data', jsonb_build_object('object', jsonb_build_object(
    'id', 'pi_pgtap_1', 'object', 'payment_intent', 'status', 'succeeded', 'amount', 499,
    'amount_received', 499, 'currency', 'usd',
    'metadata', jsonb_build_object('user_id', '00000000-0000-0000-0000-0000000000c1', 'pack_id', 'small')))));
select is(
  (private.replay_stripe_event('evt_pgtap_1') ->> 'duplicate')::boolean, true,
  'applying the same event again is a duplicate');
reset role;

select is(
  (select count(*)::integer from public.credits_transactions
    where user_id = '00000000-0000-0000-0000-0000000000c1' and kind = 'purchase'),
  1, 'the pack was granted once');

select * from finish();
rollback;
