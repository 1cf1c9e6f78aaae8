-- RLS is on everywhere, and every API role gets exactly the table privileges
-- it should: anon, another user, the owner and service_role × select,
-- insert, update and delete on every public table.
begin;
select plan(197);

-- Fixture: owner A with one row in each owned table, another user B.
insert into auth.users (id, email) values
  ('00000000-0000-0000-0000-00000000000a', 'a@example.test'),
  ('00000000-0000-0000-0000-00000000000b', 'b@example.test');
insert into public.analyses (id, user_id, action_type, cost, daily_cost, input)
values ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-00000000000a',
        'short_chat', 5, 5, '{"chat": "hi"}');
insert into public.credits_transactions (user_id, daily_delta, kind, balance_after, reference)
values ('00000000-0000-0000-0000-00000000000a', -5, 'action', 145,
        '00000000-0000-0000-0000-0000000000a1');
update public.users set daily_credits = daily_credits - 5
 where id = '00000000-0000-0000-0000-00000000000a';
insert into public.saved_replies (user_id, analysis_id, reply)
values ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a1', 'hey');
insert into public.payments (stripe_payment_intent_id, user_id, pack_id, amount_cents, currency,
                             credits_granted)
values ('pi_fixture', '00000000-0000-0000-0000-00000000000a', 'small', 499, 'usd', 0);
insert into public.stripe_webhook_events (id, type, stripe_created, payload)
values ('evt_fixture', 'ping', now(), '{}');
insert into public.admin_metrics (day) values (current_date);

-- Run `stmt` as `role_name` (with a JWT for `sub`) in a subtransaction that is
-- always rolled back; return 'denied' (42501), or 'rows:N', or another SQLSTATE.
create function pg_temp.attempt(role_name text, sub uuid, stmt text) returns text
language plpgsql as $$
declare
  v_result text;
  v_rows bigint;
begin
  perform set_config('request.jwt.claims',
    json_build_object('role', role_name, 'sub', sub)::text, true);
  execute format('set local role %I', role_name);
  begin
    execute stmt;
    get diagnostics v_rows = row_count;
    raise exception using errcode = 'P0999', message = v_rows::text;
  exception
    when sqlstate 'P0999' then v_result := 'rows:' || sqlerrm;
    when insufficient_privilege then v_result := 'denied';
    when others then v_result := sqlstate;
  end;
  reset role;
  perform set_config('request.jwt.claims', '', true);
  return v_result;
end
$$;

create function pg_temp.allowed(outcome text) returns boolean
language sql as $$ select outcome <> 'denied' $$;

create temp table cases (tbl text, who text, op text, expect_allowed boolean);

-- Privilege matrix: `who` is anon, other (user B), owner (user A) or service.
insert into cases
select t.tbl, w.who, o.op,
       case
         when w.who = 'service' then not (t.tbl = 'credits_transactions' and o.op in ('update', 'delete'))
         when o.op = 'select' and t.kind = 'config' then true
         when o.op = 'select' and t.kind = 'owned' and w.who <> 'anon' then true
         else false
       end
  from (values ('users', 'owned'), ('credits_transactions', 'owned'), ('analyses', 'owned'),
               ('saved_replies', 'owned'), ('payments', 'owned'),
               ('tiers', 'config'), ('action_costs', 'config'), ('credit_packs', 'config'),
               ('app_settings', 'service'), ('stripe_webhook_events', 'service'),
               ('admin_metrics', 'service')) as t(tbl, kind),
       (values ('anon'), ('other'), ('owner'), ('service')) as w(who),
       (values ('select'), ('insert'), ('update'), ('delete')) as o(op);

create function pg_temp.statement(tbl text, op text) returns text
language sql as $$
  select case op
    when 'select' then format('select 1 from public.%I', tbl)
    when 'insert' then format('insert into public.%I default values', tbl)
    when 'update' then format('update public.%I set %I = %I', tbl,
                              (select a.attname from pg_attribute a
                                where a.attrelid = ('public.' || tbl)::regclass and a.attnum > 0
                                  and not a.attisdropped and a.attgenerated = ''
                                  and a.attidentity = '' order by a.attnum desc limit 1),
                              (select a.attname from pg_attribute a
                                where a.attrelid = ('public.' || tbl)::regclass and a.attnum > 0
                                  and not a.attisdropped and a.attgenerated = ''
                                  and a.attidentity = '' order by a.attnum desc limit 1))
    when 'delete' then format('delete from public.%I', tbl)
  end
$$;

create function pg_temp.run_matrix() returns setof text
language plpgsql as $$
declare
  c record;
  v_role text;
  v_sub uuid;
  v_outcome text;
begin
  for c in select * from cases order by tbl, who, op loop
    v_role := case c.who when 'anon' then 'anon' when 'service' then 'service_role'
                         else 'authenticated' end;
    v_sub := case c.who when 'owner' then '00000000-0000-0000-0000-00000000000a'::uuid
                        when 'other' then '00000000-0000-0000-0000-00000000000b'::uuid end;
    v_outcome := pg_temp.attempt(v_role, v_sub, pg_temp.statement(c.tbl, c.op));
    return next is(pg_temp.allowed(v_outcome), c.expect_allowed,
                   format('%s %s on %s is %s (%s)', c.who, c.op, c.tbl,
                          case when c.expect_allowed then 'allowed' else 'refused' end, v_outcome));
  end loop;
end
$$;

select * from pg_temp.run_matrix();

-- Visibility (RLS): the owner sees its rows, another user and anon see none of them.
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000a',
  'select 1 from public.users'), 'rows:1', 'owner sees exactly its own account');
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000b',
  $q$select 1 from public.users where id = '00000000-0000-0000-0000-00000000000a'$q$), 'rows:0',
  'another user does not see the account');
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000a',
  'select 1 from public.credits_transactions'), 'rows:2', 'owner sees its two ledger rows');
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000b',
  'select 1 from public.credits_transactions'), 'rows:1', 'another user sees only its own ledger');
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000b',
  'select 1 from public.analyses'), 'rows:0', 'another user sees no analyses of the owner');
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000a',
  'select 1 from public.analyses'), 'rows:1', 'owner sees its analysis');
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000b',
  'select 1 from public.saved_replies'), 'rows:0', 'another user sees no saved replies of the owner');
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000b',
  'select 1 from public.payments'), 'rows:0', 'another user sees no payments of the owner');
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000a',
  'select 1 from public.payments'), 'rows:1', 'owner sees its payment');
select isnt(pg_temp.attempt('anon', null, 'select 1 from public.credit_packs'), 'rows:0',
  'anon sees the credit packs');

-- The owner cannot write any credit, tier, billing or role column of its own row.
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000a',
  format('update public.users set %I = %I where id = %L', col, col,
         '00000000-0000-0000-0000-00000000000a')), 'denied',
  format('owner cannot write users.%s', col))
  from unnest(array['daily_credits', 'purchased_credits', 'tier', 'daily_reset_on',
                    'stripe_customer_id', 'subscription_id', 'subscription_status',
                    'current_period_end', 'restricted_reason', 'role']) as col;

-- Nor append to, change or delete the ledger.
select is(pg_temp.attempt('authenticated', '00000000-0000-0000-0000-00000000000a',
  $q$insert into public.credits_transactions (user_id, purchased_delta, kind, balance_after)
     values ('00000000-0000-0000-0000-00000000000a', 1000, 'purchase', 1145)$q$), 'denied',
  'owner cannot grant itself credits through the ledger');

select * from finish();
rollback;
