-- Admin RPCs as PostgREST calls them: admins and the service role only; PT403
-- forbidden for users and for requests without a user; anon cannot execute them.
begin;
select plan(17);

-- Call `stmt` (one row or value, rendered as JSON) as `role_name` with a JWT for `sub` (null: no sub).
create function pg_temp.call_as(role_name text, sub uuid, stmt text) returns jsonb
language plpgsql as $$
declare
  v_result jsonb;
begin
  perform set_config('request.jwt.claims',
    jsonb_strip_nulls(jsonb_build_object('role', role_name, 'sub', sub))::text, true);
  execute format('set local role %I', role_name);
  execute format('select to_jsonb((%s))', stmt) into v_result;  -- a row or composite as PostgREST renders it
  reset role;
  perform set_config('request.jwt.claims', '', true);
  return v_result;
end
$$;

-- The error `stmt` raises for that caller: 'SQLSTATE message' (or 'no error'); nothing is kept.
create function pg_temp.error_as(role_name text, sub uuid, stmt text) returns text
language plpgsql as $$
begin
  begin
    perform pg_temp.call_as(role_name, sub, stmt);
  exception when others then
    reset role;
    perform set_config('request.jwt.claims', '', true);
    return sqlstate || ' ' || sqlerrm;
  end;
  return 'no error';
end
$$;

-- U is a regular user, A an admin.
insert into auth.users (id, email) values
  ('00000000-0000-0000-0000-0000000006a0', 'user@example.test'),
  ('00000000-0000-0000-0000-0000000006a1', 'admin@example.test');
update public.users set role = 'admin' where id = '00000000-0000-0000-0000-0000000006a1';

create temp table calls (name text, stmt text);
insert into calls values
  ('admin_get_metrics', $$select public.admin_get_metrics('2026-11-01', '2026-11-02')$$),
  ('admin_list_users', $$select public.admin_list_users(null, null, 10, 0)$$),
  ('admin_adjust_credits',
   $$select public.admin_adjust_credits('00000000-0000-0000-0000-0000000006a0', 10, 'gift')$$);
grant select on calls to authenticated, anon;

select is(pg_temp.error_as('authenticated', '00000000-0000-0000-0000-0000000006a0', stmt),
          'PT403 forbidden', name || ': a regular user gets PT403 forbidden')
  from calls order by name;

select is(pg_temp.error_as('authenticated', null, stmt),
          'PT403 forbidden', name || ': no user in the JWT gets PT403 forbidden')
  from calls order by name;

select is(split_part(pg_temp.error_as('anon', null, stmt), ' ', 1),
          '42501', name || ': anon may not execute it')
  from calls order by name;

select is(public.users.purchased_credits, 50, 'the refused adjustments changed nothing')
  from public.users where id = '00000000-0000-0000-0000-0000000006a0';

select is(pg_temp.call_as('authenticated', '00000000-0000-0000-0000-0000000006a1',
            $$select public.admin_list_users('user@', null, 10, 0)$$) -> 'total',
          '1'::jsonb, 'an admin searches accounts');

select is(pg_temp.call_as('authenticated', '00000000-0000-0000-0000-0000000006a1',
            $$select public.admin_adjust_credits('00000000-0000-0000-0000-0000000006a0', 10,
                                                 'welcome gift')$$) -> 'purchased_credits',
          '60'::jsonb, 'an admin adds purchased credits');

select is((select metadata from public.credits_transactions
            where user_id = '00000000-0000-0000-0000-0000000006a0' and kind = 'admin_adjust'),
          '{"reason": "welcome gift", "by": "00000000-0000-0000-0000-0000000006a1"}'::jsonb,
          'the adjustment is one admin_adjust row naming reason and admin');

select is(pg_temp.error_as('authenticated', '00000000-0000-0000-0000-0000000006a1',
            $$select public.admin_adjust_credits('00000000-0000-0000-0000-0000000006a0', -61,
                                                 'too much')$$),
          'PT400 would_go_negative', 'an adjustment below zero is refused');

select is(pg_temp.error_as('authenticated', '00000000-0000-0000-0000-0000000006a1',
            $$select public.admin_adjust_credits('00000000-0000-0000-0000-0000000006a0', 5,
                                                 '')$$),
          'PT400 invalid_input', 'an adjustment needs a reason');

select is(jsonb_array_length(pg_temp.call_as('service_role', null,
            $$select public.admin_get_metrics('2026-11-01', '2026-11-03')$$) -> 'days'),
          3, 'the service role reads metrics, one row per day');

select is(pg_temp.call_as('authenticated', '00000000-0000-0000-0000-0000000006a0',
            $$select public.export_my_data()$$) #>> '{account,email}',
          'user@example.test', 'a user exports their own data');

select * from finish();
rollback;
