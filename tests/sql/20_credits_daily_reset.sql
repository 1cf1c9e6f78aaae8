-- The daily allowance: the reset batch, the whole-day reset, who may run them,
-- and the credit day around DST in America/New_York (DESIGN §5 formula).
begin;
select plan(14);

insert into auth.users (id, email) values
  ('00000000-0000-0000-0000-0000000001a0', 'r1@example.test'),
  ('00000000-0000-0000-0000-0000000001b0', 'r2@example.test'),
  ('00000000-0000-0000-0000-0000000001c0', 'r3@example.test');

-- r1 spent 40 daily credits two days ago; r2 is at its allowance; r3 reset today.
insert into public.credits_transactions (user_id, daily_delta, kind, balance_after)
values ('00000000-0000-0000-0000-0000000001a0', -40, 'admin_adjust', 110);
update public.users set daily_credits = 60 where id = '00000000-0000-0000-0000-0000000001a0';
update public.users set daily_reset_on = private.credit_day(now()) - 2
 where id in ('00000000-0000-0000-0000-0000000001a0', '00000000-0000-0000-0000-0000000001b0');

select is(private.reset_due_users(private.credit_day(now()), 1), 1, 'a batch resets at most batch_size users');
select is(private.reset_due_users(private.credit_day(now()), 10), 1, 'the next batch takes the rest');
select is(private.reset_due_users(private.credit_day(now()), 10), 0, 'then nothing is due');
select results_eq(
  $$select daily_credits, purchased_credits, daily_reset_on = private.credit_day(now())
      from public.users where id in ('00000000-0000-0000-0000-0000000001a0',
                                     '00000000-0000-0000-0000-0000000001b0') order by id$$,
  $$values (100, 50, true), (100, 50, true)$$,
  'due users get the allowance (not two days of it), purchased untouched');
select results_eq(
  $$select user_id::text, daily_delta, balance_after from public.credits_transactions
     where kind = 'daily_reset' order by id$$,
  $$values ('00000000-0000-0000-0000-0000000001a0'::text, 40, 150)$$,
  'one daily_reset row, only where the amount changed');
select is((private.reset_daily(now() + interval '1 day') ->> 'users_reset')::integer, 3,
  'reset_daily at a later instant resets every user due then');
select is((select count(*)::integer from public.credits_transactions where kind = 'daily_reset'), 1,
  '… writing no row for users already at their allowance');
select is_empty($$select * from private.ledger_mismatches()$$, 'the ledger invariant holds');

select ok(not has_function_privilege('authenticated', 'private.reset_due_users(date, integer)', 'execute'),
  'users cannot run a reset batch');
select ok(not has_function_privilege('authenticated', 'private.reset_daily(timestamptz, integer)', 'execute'),
  'users cannot run the daily reset');
select ok(has_function_privilege('service_role', 'private.reset_due_users(date, integer)', 'execute'),
  'service_role may run a reset batch');

update public.app_settings set value = '"America/New_York"' where key = 'reset_timezone';
update public.app_settings set value = '4' where key = 'reset_hour';
select is(private.next_reset_at('2026-03-07'), '2026-03-08 09:00+00'::timestamptz,
  'New York, hour 4: the day after 2026-03-07 starts 4 h after local midnight (EST)');
select is(array[private.credit_day('2026-03-08 08:59:59.999999+00'), private.credit_day('2026-03-08 09:00+00')],
  array['2026-03-07'::date, '2026-03-08'::date], 'the credit day changes exactly then');
select is(private.next_reset_at('2026-11-01'), '2026-11-02 09:00+00'::timestamptz,
  'after the autumn switch the day starts at 09:00 UTC again');

select * from finish();
rollback;
