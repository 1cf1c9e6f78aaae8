-- History, single analyses and saved replies as PostgREST calls them: own rows
-- only, keyset pages, and every error (401, 400 invalid_input, 404s).
begin;
select plan(22);

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


insert into auth.users (id, email) values
  ('00000000-0000-0000-0000-0000000003a0', 'h1@example.test'),
  ('00000000-0000-0000-0000-0000000003b0', 'h2@example.test');
insert into public.analyses (id, user_id, action_type, cost, daily_cost, input, status, created_at)
select ('00000000-0000-0000-0000-0000000003' || lpad(g::text, 2, '0'))::uuid,
       '00000000-0000-0000-0000-0000000003a0', 'short_chat', 5, 5, '{"chat":"hi"}', 'done',
       '2026-01-01'::timestamptz + make_interval(mins => g / 2)  -- pairs share a created_at
  from generate_series(1, 5) g;
insert into public.analyses (id, user_id, action_type, cost, input)
values ('00000000-0000-0000-0000-0000000003f0', '00000000-0000-0000-0000-0000000003b0',
        'short_chat', 0, '{"chat":"theirs"}');

-- get_history
select is(pg_temp.error_as(null, $$select public.get_history()$$), 'PT401 not_authenticated',
  'get_history without sub: PT401');
create temp table page1 as select pg_temp.rpc_as('00000000-0000-0000-0000-0000000003a0',
  $$select public.get_history(page_size => 2)$$) as v;
select is((select jsonb_path_query_array(v, '$.items[*].analysis_id') from page1),
  '["00000000-0000-0000-0000-000000000305", "00000000-0000-0000-0000-000000000304"]'::jsonb,
  'newest first, ties broken by id');
select is((select array(select jsonb_object_keys(v -> 'items' -> 0) order by 1) from page1),
  array['action_type', 'analysis_id', 'cost', 'created_at', 'finished_at', 'status'],
  'history items carry the summary keys');
create temp table page2 as select pg_temp.rpc_as('00000000-0000-0000-0000-0000000003a0',
  format('select public.get_history(page_size => 2, cursor => %L)', (select v ->> 'next_cursor' from page1))) as v;
select is((select jsonb_path_query_array(v, '$.items[*].analysis_id') from page2),
  '["00000000-0000-0000-0000-000000000303", "00000000-0000-0000-0000-000000000302"]'::jsonb,
  'the cursor continues right after the previous page');
create temp table page3 as select pg_temp.rpc_as('00000000-0000-0000-0000-0000000003a0',
  format('select public.get_history(page_size => 2, cursor => %L)', (select v ->> 'next_cursor' from page2))) as v;
select is((select array(select jsonb_object_keys(v) order by 1) from page3),
  array['items', 'next_cursor'], 'a page is {items, next_cursor}');
select is((select v -> 'next_cursor' from page3), 'null'::jsonb,
  'next_cursor is null on the page holding the oldest row');
select is(jsonb_array_length((select v -> 'items' from page3)), 1, 'and it holds that row');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000003a0', $$select public.get_history(page_size => 0)$$),
  'PT400 invalid_input', 'page_size 0: invalid_input');
select is(pg_temp.error_detail_as('00000000-0000-0000-0000-0000000003a0', $$select public.get_history(page_size => 101)$$) ->> 'field',
  'page_size', 'page_size 101: invalid_input on page_size');
select is(pg_temp.error_detail_as('00000000-0000-0000-0000-0000000003a0', $$select public.get_history(cursor => 'nonsense')$$) ->> 'field',
  'cursor', 'a made-up cursor: invalid_input on cursor');

-- get_analysis
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000003a0',
    $$select public.get_analysis('00000000-0000-0000-0000-000000000301')$$) -> 'input',
  '{"chat":"hi"}'::jsonb, 'get_analysis returns the own analysis with its input');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000003a0',
    $$select public.get_analysis('00000000-0000-0000-0000-0000000003f0')$$),
  'PT404 analysis_not_found', 'another user''s analysis: PT404');
select is(pg_temp.error_as(null, $$select public.get_analysis('00000000-0000-0000-0000-000000000301')$$),
  'PT401 not_authenticated', 'get_analysis without sub: PT401');

-- save_reply / get_saved_replies / delete_saved_reply
create temp table saved as select pg_temp.rpc_as('00000000-0000-0000-0000-0000000003a0',
  $$select public.save_reply('00000000-0000-0000-0000-000000000301', 'Dinner Friday?')$$) as v;
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000003a0',
    $$select public.save_reply('00000000-0000-0000-0000-000000000301', 'Dinner Friday?')$$),
  (select v from saved), 'saving the same reply again returns the first row');
select is((select count(*)::integer from public.saved_replies), 1, '… and stores it once');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000003a0',
    $$select public.save_reply('00000000-0000-0000-0000-000000000301', '')$$),
  'PT400 invalid_input', 'empty reply: invalid_input');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000003a0',
    format('select public.save_reply(%L, %L)', '00000000-0000-0000-0000-000000000301', repeat('x', 2001))),
  'PT400 invalid_input', '2001 characters: invalid_input');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000003a0',
    $$select public.save_reply('00000000-0000-0000-0000-0000000003f0', 'hi')$$),
  'PT404 analysis_not_found', 'saving on another user''s analysis: PT404');
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000003a0', $$select public.get_saved_replies()$$),
  jsonb_build_object('items', jsonb_build_array((select v from saved)), 'next_cursor', null),
  'get_saved_replies lists own replies');
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000003b0', $$select public.get_saved_replies()$$),
  '{"items":[],"next_cursor":null}'::jsonb, 'and nobody else''s');
select is(pg_temp.error_as('00000000-0000-0000-0000-0000000003b0',
    format('select public.delete_saved_reply(%L)', (select v ->> 'id' from saved))),
  'PT404 reply_not_found', 'deleting another user''s reply: PT404');
select is(pg_temp.rpc_as('00000000-0000-0000-0000-0000000003a0',
    format('select public.delete_saved_reply(%L)', (select v ->> 'id' from saved))) -> 'deleted',
  'true'::jsonb, 'the owner deletes it');

select * from finish();
rollback;
