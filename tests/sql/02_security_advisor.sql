-- The checks Supabase's Security Advisor (splinter) runs, restated for this
-- schema: RLS everywhere, fixed search_path, no SECURITY DEFINER in the exposed
-- schema, policies evaluated once per statement, no always-true policy for the
-- API roles, and only the documented RPCs executable by the API roles.
begin;
select plan(10);

select is_empty($$
  select c.relname from pg_class c
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
     and not c.relrowsecurity
$$, 'RLS is enabled on every table in public');

select is_empty($$
  select c.relname from pg_class c
   where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
     and not exists (select 1 from pg_policy p where p.polrelid = c.oid)
$$, 'every table in public has a policy');

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
   where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
     and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')
$$, 'every function in public and private sets search_path');

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
   where p.prosecdef and p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
     and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c = 'search_path=""')
$$, 'every SECURITY DEFINER function sets an empty search_path');

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
   where p.prosecdef and p.pronamespace = 'public'::regnamespace
$$, 'no SECURITY DEFINER function in the exposed schema');

select is_empty($$
  select tablename || '.' || policyname from pg_policies
   where schemaname = 'public'
     and (qual ~ 'auth\.(uid|jwt|role|email)\(\)' and lower(qual) !~ 'select\s+auth\.(uid|jwt|role|email)\(\)')
$$, 'policies wrap auth.uid() in a sub-select');

select is_empty($$
  select tablename || '.' || policyname from pg_policies
   where schemaname = 'public' and roles && array['anon', 'authenticated']::name[]
     and (lower(trim(coalesce(qual, ''))) = 'true' or lower(trim(coalesce(with_check, ''))) = 'true')
$$, 'no always-true policy for anon or authenticated');

select is_empty($$
  select tablename, r, cmd from pg_policies, unnest(roles) r
   where schemaname = 'public' and permissive = 'PERMISSIVE'
   group by tablename, r, cmd having count(*) > 1
$$, 'one permissive policy per table, role and operation');

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
   where p.pronamespace = 'public'::regnamespace
     and has_function_privilege('anon', p.oid, 'execute')
$$, 'anon executes no function in public');

select set_eq($$
  select p.proname::text from pg_proc p
   where p.pronamespace = 'public'::regnamespace
     and has_function_privilege('authenticated', p.oid, 'execute')
$$, array['get_credits', 'perform_action', 'get_history', 'get_analysis', 'save_reply',
          'get_saved_replies', 'delete_saved_reply', 'admin_get_metrics', 'admin_list_users',
          'admin_adjust_credits', 'export_my_data'],
  'authenticated executes exactly the documented RPCs in public');

select * from finish();
rollback;
