-- Worker protocol: only service_role and the worker role may drive the queue;
-- a lease holder's result is stored, anyone else's is refused; a failure is refunded once.
begin;
select plan(20);

-- Who may execute the worker functions: nobody from the API but service_role.
select function_privs_are('private', 'claim_analyses', array['text', 'integer', 'integer'],
  'authenticated', '{}'::text[], 'authenticated cannot claim analyses');
select function_privs_are('private', 'claim_analyses', array['text', 'integer', 'integer'],
  'anon', '{}'::text[], 'anon cannot claim analyses');
select function_privs_are('private', 'complete_analysis',
  array['uuid', 'text', 'jsonb', 'text', 'jsonb', 'text'],
  'authenticated', '{}'::text[], 'authenticated cannot store results');
select function_privs_are('private', 'refund_analysis', array['uuid'],
  'authenticated', '{}'::text[], 'authenticated cannot refund');
select function_privs_are('private', 'refund_analysis', array['uuid'],
  'flirt_worker', '{}'::text[], 'the worker role cannot refund directly');
select function_privs_are('private', 'fail_analysis',
  array['uuid', 'text', 'text', 'boolean', 'double precision'],
  'service_role', array['EXECUTE'], 'service_role can fail analyses');
select is(
  (select count(*)::integer from pg_catalog.pg_proc p
     join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'private'
      and p.proname in ('claim_analyses', 'heartbeat_analysis', 'complete_analysis',
                        'fail_analysis', 'release_analysis', 'refund_analysis',
                        'reap_expired_leases', 'analysis_queue_stats')
      and p.prosecdef and 'search_path=""' = any (p.proconfig)),
  8, 'worker functions are security definer with an empty search_path');

-- Fixture: one user with one queued analysis made through perform_action.
insert into auth.users (id, email) values ('00000000-0000-0000-0000-0000000000c1', 'c@example.test');
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000000-0000-0000-0000-0000000000c1","role":"authenticated"}', true);
select throws_ok($$ select * from private.claim_analyses('me', 1, 60) $$, '42501', null,
  'a signed-in user cannot claim analyses');
create temp table queued on commit drop as
  select p.analysis_id as id from public.perform_action('short_chat', '{"chat":"hey"}'::jsonb) p;
grant select on queued to service_role;
reset role;

set local role service_role;
select is((select count(*)::integer from private.claim_analyses('w1', 5, 60)), 1,
  'the worker claims the queued analysis');
select is((select count(*)::integer from private.claim_analyses('w2', 5, 60)), 0,
  'a second worker gets nothing while the lease runs');
select ok(not has_table_privilege('flirt_worker', 'public.users', 'select')
          and not has_table_privilege('flirt_worker', 'public.analyses', 'select'),
  'the worker role cannot read accounts or analyses');
select is(private.complete_analysis((select id from queued), 'w2',
  '{"summary":"s","interest_level":5,"tone":"warm","red_flags":[],"suggestions":[{"reply":"a","style":"x","rationale":"r"},{"reply":"b","style":"y","rationale":"r"},{"reply":"c","style":"z","rationale":"r"}]}'::jsonb),
  false, 'a worker without the lease cannot store a result');
select throws_ok(format($$ select private.complete_analysis(%L, 'w1', '{"summary":"s"}'::jsonb) $$,
  (select id from queued)), 'PT422', 'invalid_result', 'a result of the wrong shape is refused');
select is(private.complete_analysis((select id from queued), 'w1',
  '{"summary":"s","interest_level":5,"tone":"warm","red_flags":[],"suggestions":[{"reply":"a","style":"x","rationale":"r"},{"reply":"b","style":"y","rationale":"r"},{"reply":"c","style":"z","rationale":"r"}]}'::jsonb),
  true, 'the lease holder stores the result');
select is((select status from public.analyses where id = (select id from queued)), 'done',
  'the analysis is done');
select is(private.refund_analysis((select id from queued)), false,
  'a delivered result is never refunded');
reset role;

-- A second analysis fails for good: it is refunded once, and only once.
set local role authenticated;
create temp table failing on commit drop as
  select p.analysis_id as id from public.perform_action('short_chat', '{"chat":"again"}'::jsonb) p;
grant select on failing to service_role;
reset role;
set local role service_role;
select is((select count(*)::integer from private.claim_analyses('w1', 5, 60)), 1,
  'the worker claims the second analysis');
select is(private.fail_analysis((select id from failing), 'w1', 'provider_rejected: HTTP 400', false),
  'failed', 'a permanent error fails the analysis');
select is(private.refund_analysis((select id from failing)), false, 'a second refund does nothing');
select is((select count(*)::integer from public.credits_transactions
            where kind = 'action_refund' and reference = (select id from failing)::text), 1,
  'exactly one refund row');
reset role;

select * from finish();
rollback;
