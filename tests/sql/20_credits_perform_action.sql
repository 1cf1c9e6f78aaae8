-- perform_action and get_credits as PostgREST calls them: semantics, and every
-- error of DESIGN §4 in its order (each earlier check wins over the later ones).
begin;
select plan(41);

-- Call `stmt` (one row or value, rendered as JSON) as role authenticated with a JWT for `sub` (null: no sub).
create function pg_temp.rpc_as(sub uuid, stmt text) returns jsonb
language plpgsql as $$
declare
  v_result jsonb;
begin
  perform set_config('request.jwt.claims',
    jsonb_strip_nulls(jsonb_build_object('role', 'authenticated', 'sub', sub))::text, true);
  set local role authenticated;
  execute format('select to_jsonb((%s))', stmt) into v_result;  -- a row or composite as PostgREST renders it
  reset role;
  return v_result;
end
$$;

-- The error `stmt` raises as that user: 'PTxxx code' (or 'no error'); nothing is kept.
create function pg_temp.error_as(sub uuid, stmt text) returns text
language plpgsql as $$
begin
  begin
    perform pg_temp.rpc_as(sub, stmt);
  exception when others then
    reset role;
    return sqlstate || ' ' || sqlerrm;
  end;
  return 'no error';
end
$$;

-- The JSON detail of the error `stmt` raises as that user.
create function pg_temp.error_detail_as(sub uuid, stmt text) returns jsonb
language plpgsql as $$
declare
  v_detail text;
begin
  begin
    perform pg_temp.rpc_as(sub, stmt);
  exception when others then
    reset role;
    get stacked diagnostics v_detail = pg_exception_detail;
    return v_detail::jsonb;
  end;
  return null;
end
$$;

-- Users: A ok, B restricted, C broke, D with a full queue, E in debt.
insert into auth.users (id, email) values
  ('00000000-0000-0000-0000-0000000000a0', 'a@example.test'),
  ('00000000-0000-0000-0000-0000000000b0', 'b@example.test'),
  ('00000000-0000-0000-0000-0000000000c0', 'c@example.test'),
  ('00000000-0000-0000-0000-0000000000d0', 'd@example.test'),
  ('00000000-0000-0000-0000-0000000000e0', 'e@example.test');

-- B used a key before being restricted.
select pg_temp.rpc_as('00000000-0000-0000-0000-0000000000b0',
  $$select public.perform_action('short_chat', '{"chat":"before"}', 'b-key')$$);
update public.users set restricted_reason = 'dispute' where id = '00000000-0000-0000-0000-0000000000b0';

-- C: nothing left (ledger kept in step).
insert into public.credits_transactions (user_id, daily_delta, purchased_delta, kind, balance_after)
values ('00000000-0000-0000-0000-0000000000c0', -100, -50, 'admin_adjust', 0);
update public.users set daily_credits = 0, purchased_credits = 0
 where id = '00000000-0000-0000-0000-0000000000c0';

-- D: five unfinished analyses.
insert into public.analyses (user_id, action_type, cost, input, status)
select '00000000-0000-0000-0000-0000000000d0', 'short_chat', 0, '{"chat":"x"}', s
  from unnest(array['queued', 'queued', 'processing', 'processing', 'queued']) s;

-- E: a debt after a clawback.
insert into public.credits_transactions (user_id, daily_delta, purchased_delta, kind, balance_after)
values ('00000000-0000-0000-0000-0000000000e0', -97, -80, 'dispute_clawback', -27);
update public.users set daily_credits = 3, purchased_credits = -30
 where id = '00000000-0000-0000-0000-0000000000e0';

update public.action_costs set enabled = false where action_type = 'long_chat';

-- 1. not authenticated
select is(pg_temp.error_as(null, $$select public.perform_action('short_chat', '{"chat":"hi"}')$$),
  'PT401 not_authenticated', 'no sub claim: PT401 not_authenticated');
select is(pg_temp.error_as(null, $$select public.perform_action('nope', 'null')$$),
  'PT401 not_authenticated', '1 before 2 and 3');
select is(pg_temp.error_as(null, $$select public.get_credits()$$),
  'PT401 not_authenticated', 'get_credits without sub: PT401');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000ff', $$select public.get_credits()$$),
  'PT401 not_authenticated', 'get_credits for a token without an account: PT401');

-- 2. unknown or disabled action
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000a0',
  $$select public.perform_action('nope', '{"chat":"hi"}')$$),
  'PT400 unknown_action', 'unknown action_type: PT400 unknown_action');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000a0',
  $$select public.perform_action('long_chat', '{"chat":"hi"}')$$),
  'PT400 action_disabled', 'disabled action: PT400 action_disabled');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000a0',
  $$select public.perform_action('nope', '[]')$$),
  'PT400 unknown_action', '2 before 3');

-- 3. input shape
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000a0',
  $$select public.perform_action('short_chat', '{"chat":"  "}')$$),
  'PT400 invalid_input', 'blank chat: PT400 invalid_input');
select is(pg_temp.error_detail_as('00000000-0000-0000-0000-0000000000a0',
  format('select public.perform_action(%L, %L)', 'short_chat',
         jsonb_build_object('chat', repeat('x', 4001))))->>'field',
  'input.chat', 'too long chat names the field');
select is(pg_temp.error_detail_as('00000000-0000-0000-0000-0000000000a0',
  format('select public.perform_action(%L, %L)', 'short_chat',
         jsonb_build_object('chat', repeat('x', 4001))))->'max_chars',
  '4000'::jsonb, '… and the limit');
select is(pg_temp.error_detail_as('00000000-0000-0000-0000-0000000000a0',
  $$select public.perform_action('image_analysis', '{"image_path":"00000000-0000-0000-0000-0000000000b0/x.png"}')$$)->>'field',
  'input.image_path', 'image outside the caller''s folder: invalid_input on image_path');
select is(pg_temp.error_detail_as('00000000-0000-0000-0000-0000000000a0',
  $$select public.perform_action('image_analysis', '{"image_path":"00000000-0000-0000-0000-0000000000a0/d/x.png"}')$$)->>'field',
  'input.image_path', 'image in a sub-folder: invalid_input');
select is(pg_temp.error_detail_as('00000000-0000-0000-0000-0000000000a0',
  format('select public.perform_action(%L, %L)', 'short_chat',
         jsonb_build_object('chat', 'hi', 'context', jsonb_build_object('goal', repeat('é', 40000)))))->>'field',
  'input', 'over max_input_bytes: invalid_input on the whole input');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000b0',
  $$select public.perform_action('short_chat', '{"chat":""}')$$),
  'PT400 invalid_input', '3 before 5 (restricted user, bad input)');

-- success
select is(
  (select jsonb_object_keys_agg from (select array_agg(k order by k) as jsonb_object_keys_agg
     from jsonb_object_keys(pg_temp.rpc_as('00000000-0000-0000-0000-0000000000a0',
       $$select public.perform_action('short_chat', '{"chat":"hi"}', 'a-key')$$)) k) x),
  array['analysis_id', 'cost', 'credits_remaining', 'daily_credits', 'purchased_credits',
        'replayed', 'status'],
  'perform_action returns the documented keys');
select results_eq(
  $$select daily_credits, purchased_credits, credits_remaining from public.users
     where id = '00000000-0000-0000-0000-0000000000a0'$$,
  $$values (95, 50, 145)$$, 'the daily bucket pays first');
select results_eq(
  $$select kind, daily_delta, purchased_delta, balance_after, metadata from public.credits_transactions
     where user_id = '00000000-0000-0000-0000-0000000000a0' order by id desc limit 1$$,
  $$values ('action'::text, -5, 0, 145, '{"action_type":"short_chat"}'::jsonb)$$,
  'one action ledger row');
select results_eq(
  $$select status, cost, daily_cost, purchased_cost, idempotency_key, max_attempts
      from public.analyses where user_id = '00000000-0000-0000-0000-0000000000a0'$$,
  $$values ('queued'::text, 5, 5, 0, 'a-key'::text, 3)$$, 'one queued analysis with its cost split');
select is(
  (select reference from public.credits_transactions
    where user_id = '00000000-0000-0000-0000-0000000000a0' order by id desc limit 1),
  (select id::text from public.analyses where user_id = '00000000-0000-0000-0000-0000000000a0'),
  'the ledger row references the analysis');

-- 4. idempotency
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000000a0',
    $$select public.perform_action('short_chat', '{"chat":"hi"}', 'a-key')$$) - 'replayed',
  jsonb_build_object('analysis_id',
    (select id from public.analyses where user_id = '00000000-0000-0000-0000-0000000000a0'),
    'status', 'queued', 'cost', 5, 'credits_remaining', 145, 'daily_credits', 95,
    'purchased_credits', 50),
  'same key: the first analysis and the current balances');
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000000a0',
    $$select public.perform_action('short_chat', '{"chat":"hi"}', 'a-key')$$) -> 'replayed',
  'true'::jsonb, '… marked replayed');
select is((select count(*)::integer from public.analyses
            where user_id = '00000000-0000-0000-0000-0000000000a0'), 1, 'a replay queues nothing');
select is((select credits_remaining from public.users
            where id = '00000000-0000-0000-0000-0000000000a0'), 145, 'a replay charges nothing');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000a0',
  $$select public.perform_action('short_chat', '{"chat":"other"}', 'a-key')$$),
  'PT409 idempotency_key_reused', 'same key, other input: PT409');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000a0',
  $$select public.perform_action('image_analysis', '{"image_path":"00000000-0000-0000-0000-0000000000a0/x.png"}', 'a-key')$$),
  'PT409 idempotency_key_reused', 'same key, other action: PT409');
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000000b0',
    $$select public.perform_action('short_chat', '{"chat":"before"}', 'b-key')$$) -> 'replayed',
  'true'::jsonb, '4 before 5: a restricted user still gets the replay');

-- 5. restricted
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000b0',
  $$select public.perform_action('short_chat', '{"chat":"hi"}')$$),
  'PT403 account_restricted', 'restricted: PT403 account_restricted');
update public.analyses set user_id = '00000000-0000-0000-0000-0000000000b0'
 where user_id = '00000000-0000-0000-0000-0000000000d0' and status = 'queued';
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000b0',
  $$select public.perform_action('short_chat', '{"chat":"hi"}')$$),
  'PT403 account_restricted', '5 before 6');
update public.analyses set user_id = '00000000-0000-0000-0000-0000000000d0'
 where user_id = '00000000-0000-0000-0000-0000000000b0' and idempotency_key is null;

-- 6. pending limit
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000d0',
  $$select public.perform_action('short_chat', '{"chat":"hi"}')$$),
  'PT429 too_many_pending', 'five unfinished: PT429 too_many_pending');
select is(pg_temp.error_detail_as('00000000-0000-0000-0000-0000000000d0',
  $$select public.perform_action('short_chat', '{"chat":"hi"}')$$),
  '{"pending":5,"max_pending":5}'::jsonb, '… with the figures');
update public.users set daily_credits = 0, purchased_credits = 0
 where id = '00000000-0000-0000-0000-0000000000d0';
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000d0',
  $$select public.perform_action('short_chat', '{"chat":"hi"}')$$),
  'PT429 too_many_pending', '6 before 7');
update public.users set daily_credits = 100, purchased_credits = 50
 where id = '00000000-0000-0000-0000-0000000000d0';
update public.analyses set status = 'done'
 where user_id = '00000000-0000-0000-0000-0000000000d0' and status = 'queued';
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000000d0',
    $$select public.perform_action('short_chat', '{"chat":"hi"}')$$) ->> 'status',
  'queued', 'finished analyses free the queue');

-- 7. balance
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000000c0',
  $$select public.perform_action('short_chat', '{"chat":"hi"}')$$),
  'PT402 insufficient_credits', 'no credits: PT402 insufficient_credits');
select is(pg_temp.error_detail_as('00000000-0000-0000-0000-0000000000c0',
  $$select public.perform_action('short_chat', '{"chat":"hi"}')$$),
  '{"required":5,"available":0}'::jsonb, '… detail: required and available');
select is(pg_temp.error_detail_as('00000000-0000-0000-0000-0000000000e0',
  $$select public.perform_action('short_chat', '{"chat":"hi"}')$$),
  '{"required":5,"available":-27}'::jsonb, 'a debt shows as negative available');

-- get_credits
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000000e0', $$select public.get_credits()$$)
    - 'next_reset_at',
  '{"credits_remaining":-27,"daily_credits":3,"purchased_credits":-30,"daily_limit":100,"tier":"pro","restricted":false}'::jsonb,
  'get_credits: balances, allowance, tier, restriction');
select is((pg_temp.rpc_as('00000000-0000-0000-0000-0000000000e0', $$select public.get_credits()$$)
    ->> 'next_reset_at')::timestamptz,
  private.next_reset_at(private.credit_day(now())), 'get_credits: next_reset_at');
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000000b0', $$select public.get_credits()$$)
    -> 'restricted', 'true'::jsonb, 'get_credits shows a restriction');
update public.users set daily_reset_on = daily_reset_on - 2
 where id = '00000000-0000-0000-0000-0000000000e0';
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000000e0', $$select public.get_credits()$$)
    -> 'daily_credits', '100'::jsonb, 'get_credits applies a due reset');
select results_eq(
  $$select kind, daily_delta, purchased_delta, balance_after from public.credits_transactions
     where user_id = '00000000-0000-0000-0000-0000000000e0' order by id desc limit 1$$,
  $$values ('daily_reset'::text, 97, 0, 70)$$, '… with one daily_reset ledger row, purchased untouched');
select is_empty($$select * from private.ledger_mismatches()$$, 'the ledger invariant holds');

select * from finish();
rollback;
