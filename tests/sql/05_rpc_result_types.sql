-- The RPCs' results are typed (composite types or tables, never a bare json/jsonb) so that
-- the generated database.types.ts describes them; their field names are DESIGN §4's, and
-- the types they use are usable by authenticated (and service_role), not by anon.
begin;
select plan(25);

-- The fields of a public RPC's result, in order: a `returns table`'s columns, or the
-- attributes of the composite type it returns.
create function pg_temp.result_fields(fn text) returns text[]
language sql stable as $$
  select coalesce(
    (select array_agg(a.name order by a.n)
       from pg_proc p,
            unnest(p.proargnames, p.proargmodes) with ordinality a(name, mode, n)
      where p.oid = fn::regproc and a.mode = 't'),
    (select array_agg(att.attname::text order by att.attnum)
       from pg_proc p
       join pg_type t on t.oid = p.prorettype
       join pg_attribute att on att.attrelid = t.typrelid
      where p.oid = fn::regproc and att.attnum > 0 and not att.attisdropped))
$$;

-- The attributes of a composite type.
create function pg_temp.type_fields(type_name text) returns text[]
language sql stable as $$
  select array_agg(att.attname::text order by att.attnum)
    from pg_attribute att
   where att.attrelid = (select t.typrelid from pg_type t where t.oid = type_name::regtype)
     and att.attnum > 0 and not att.attisdropped
$$;

select is_empty($$
  select p.proname from pg_proc p
   where p.pronamespace = 'public'::regnamespace
     and has_function_privilege('authenticated', p.oid, 'execute')
     and (p.prorettype in ('json'::regtype, 'jsonb'::regtype, 'record'::regtype) and not p.proretset)
$$, 'no RPC returns bare JSON');

select is_empty($$
  select p.proname || '.' || a.name from pg_proc p,
         unnest(p.proargnames, p.proargmodes, p.proallargtypes) a(name, mode, type)
   where p.pronamespace = 'public'::regnamespace
     and has_function_privilege('authenticated', p.oid, 'execute')
     and a.mode = 't' and a.type in ('json'::regtype, 'jsonb'::regtype)
$$, 'no RPC table column is JSON');

select is(pg_temp.result_fields('public.get_credits'),
  array['credits_remaining', 'daily_credits', 'purchased_credits', 'daily_limit', 'tier',
        'next_reset_at', 'restricted'], 'get_credits fields');
select is(pg_temp.result_fields('public.perform_action'),
  array['analysis_id', 'status', 'cost', 'credits_remaining', 'daily_credits',
        'purchased_credits', 'replayed'], 'perform_action fields');
select is(pg_temp.result_fields('public.get_history'), array['items', 'next_cursor'],
  'get_history: {items, next_cursor}');
select is(pg_temp.type_fields('public.history_item'),
  array['analysis_id', 'action_type', 'status', 'cost', 'created_at', 'finished_at'],
  'history items');
select is(pg_temp.result_fields('public.get_analysis'),
  array['analysis_id', 'action_type', 'status', 'cost', 'input', 'result', 'error', 'model',
        'usage', 'created_at', 'started_at', 'finished_at'], 'get_analysis fields');
select is(pg_temp.result_fields('public.save_reply'),
  array['id', 'analysis_id', 'reply', 'created_at'], 'save_reply returns the saved row');
select is(pg_temp.result_fields('public.get_saved_replies'), array['items', 'next_cursor'],
  'get_saved_replies: {items, next_cursor}');
select is(pg_temp.type_fields('public.saved_reply'),
  array['id', 'analysis_id', 'reply', 'created_at'], 'saved-reply items');
select is(pg_temp.result_fields('public.delete_saved_reply'), array['id', 'deleted'],
  'delete_saved_reply fields');
select is(pg_temp.result_fields('public.admin_get_metrics'),
  array['from_date', 'to_date', 'days', 'totals'], 'admin_get_metrics fields');
select is(pg_temp.result_fields('public.admin_list_users'),
  array['items', 'total', 'page_size', 'page_offset'], 'admin_list_users fields');
select is(pg_temp.result_fields('public.admin_adjust_credits'),
  array['user_id', 'delta', 'transaction_id', 'daily_credits', 'purchased_credits',
        'credits_remaining'], 'admin_adjust_credits fields');
select is(pg_temp.result_fields('public.export_my_data'),
  array['exported_at', 'account', 'credits_transactions', 'analyses', 'saved_replies',
        'payments'], 'export_my_data fields');

-- JSON only where the content is a document by design.
select set_eq($$
  select t.typname::text || '.' || att.attname
    from pg_type t join pg_attribute att on att.attrelid = t.typrelid
   where t.typnamespace = 'public'::regnamespace and t.typtype = 'c'
     and (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c'
     and att.atttypid in ('json'::regtype, 'jsonb'::regtype)
$$, array['analysis_detail.input', 'analysis_detail.result', 'analysis_detail.usage',
          'admin_metrics_totals.actions_by_type', 'admin_metrics_totals.revenue_cents'],
  'JSON fields: the analysis input, result and usage, and the metrics maps');

-- Who may use the result types.
select ok(bool_and(has_type_privilege('authenticated', t.oid, 'usage')),
          'authenticated may use every composite result type in public')
  from pg_type t
 where t.typnamespace = 'public'::regnamespace and t.typtype = 'c'
   and (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c';
select ok(bool_and(has_type_privilege('service_role', t.oid, 'usage')),
          'service_role may use every composite result type in public')
  from pg_type t
 where t.typnamespace = 'public'::regnamespace and t.typtype = 'c'
   and (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c';
select ok(not bool_or(has_type_privilege('anon', t.oid, 'usage')),
          'anon may use no composite result type in public')
  from pg_type t
 where t.typnamespace = 'public'::regnamespace and t.typtype = 'c'
   and (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c';
select ok(bool_and(has_type_privilege('authenticated', t, 'usage')),
          'authenticated may use the private row types of the table RPCs')
  from unnest(array['private.credit_balance', 'private.action_receipt', 'private.deleted_reply',
                    'private.credit_adjustment']::regtype[]) t;
select ok(not bool_or(has_type_privilege('anon', t, 'usage')),
          'anon may use none of the private row types')
  from unnest(array['private.credit_balance', 'private.action_receipt', 'private.deleted_reply',
                    'private.credit_adjustment']::regtype[]) t;

-- PostgREST renders them as the documented objects, for a real user.
insert into auth.users (id, email) values ('00000000-0000-0000-0000-0000000005a0', 'r@example.test');
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000000-0000-0000-0000-0000000005a0","role":"authenticated"}', true);
select is((select json_agg(t) -> 0 -> 'replayed' from public.perform_action('short_chat',
  '{"chat":"hi"}') t)::text, 'false', 'perform_action renders as one row, replayed: false');
select is((select json_agg(t) -> 0 ->> 'credits_remaining' from public.get_credits() t),
  '145', 'get_credits renders the balance after the action');
select is((select row_to_json(t) -> 'items' -> 0 ->> 'action_type'
             from public.get_history(page_size => 1) t), 'short_chat',
  'get_history renders items as an array of objects');
select is((select row_to_json(t) ->> 'next_cursor' from public.get_history() t), null,
  'next_cursor is null on the last page');
reset role;

select * from finish();
rollback;
