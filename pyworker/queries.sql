-- Every statement the Python side sends, by name (loaded by pyworker/queries.py).
-- Business rules live in the functions these call (supabase/functions_sql/); what is
-- here only calls them or reads what the admin CLI shows. Placeholders are psycopg's.

-- worker: the analysis queue (role flirt_worker) -------------------------------------

-- claim --
select * from private.claim_analyses(%s, %s, %s)

-- heartbeat --
select private.heartbeat_analysis(%s, %s, %s) as ok

-- complete_many --
select private.complete_analyses(%s, %s) as out

-- fail --
select private.fail_analysis(%s, %s, %s, %s, %s) as status

-- release --
select private.release_analysis(%s, %s) as ok

-- queue_stats --
select private.analysis_queue_stats() as stats

-- next_due --
select private.analysis_next_due_seconds() as seconds

-- listen --
-- the worker's LISTEN session (DIRECT_URL): woken by pg_notify('analysis_queued', id)
set role flirt_worker;
listen analysis_queued

-- ping --
-- notices a dead server on an idle session
select 1

-- worker: screenshot deletions ---------------------------------------------------------

-- claim_deletions --
select * from private.claim_screenshot_deletions(%s)

-- finish_deletion --
select private.finish_screenshot_deletion(%s, %s) as ok

-- API: Stripe events (role service_role) ---------------------------------------------

-- apply_event --
select private.apply_stripe_event(%s::jsonb) as value

-- record_event_failure --
select private.record_stripe_event_failure(%s::jsonb, %s) as value

-- apply_events --
-- The bodies travel as one JSON array built by joining them (each is a verified JSON
-- object): far cheaper than quoting them into a text[] parameter. Events are applied
-- grouped by the account they belong to (in arrival order within it), so batches from
-- several API processes take account row locks in one order.
with batch as materialized (
  select t.event, t.n from jsonb_array_elements(%s::jsonb) with ordinality as t(event, n)
   order by coalesce(private.stripe_object_user(t.event -> 'data' -> 'object')::text, ''), t.n
)
select b.n, private.apply_stripe_event(b.event) as value from batch b

-- admin CLI (role service_role) ---------------------------------------------------------

-- list_analyses --
select a.id, a.user_id, a.action_type, a.status, a.cost, a.daily_cost,
       a.purchased_cost, a.attempts, a.max_attempts, a.error, a.model, a.locked_by,
       a.input_purged_at, a.created_at, a.finished_at
  from public.analyses a
 where (%(status)s::text is null or a.status = %(status)s)
   and (%(user_id)s::uuid is null or a.user_id = %(user_id)s)
 order by a.created_at desc, a.id desc limit %(limit)s

-- credit_history --
select * from private.admin_credit_history(%s, %s)

-- count_users --
select count(*) as n from public.users

-- ledger_mismatches_page --
select * from private.ledger_mismatches_page(%s, %s)

-- cron_job_runs --
select j.jobname, j.schedule, j.active, d.status, d.start_time, d.end_time,
       d.return_message, now() as now, pg_postmaster_start_time() as started
  from cron.job j
  left join lateral (select r.status, r.start_time, r.end_time, r.return_message
                       from cron.job_run_details r where r.jobid = j.jobid
                      order by r.runid desc limit 1) d on true
 where j.jobname = any(%s)

-- sessions_named --
select count(*) as n from pg_stat_activity
 where application_name = %s and datname = current_database()

-- demo_sign_up --
-- what Supabase Auth does on sign-up (local stack only)
insert into auth.users (id, email) values (%s, %s)

-- extensions --
select extname from pg_extension

-- count_tiers --
select count(*) from public.tiers

-- rejected_payments --
select count(*),
       (array_agg(id || ': ' || coalesce(outcome, '') order by received_at desc))[1]
  from public.stripe_webhook_events
 where status = 'rejected' and received_at > now() - make_interval(days => %s)

-- screenshot_deletions --
select count(*), count(*) filter (where last_error is not null),
       (array_agg(last_error order by attempts desc) filter (where last_error is not null))[1]
  from private.screenshot_deletions

-- storage_policies --
select policyname from pg_policies
 where schemaname = 'storage' and tablename = 'objects' and policyname = any(%s)

-- requests as a signed-in user (the demo, smoke checks, the soak) ---------------------

-- as_user --
-- what PostgREST sends first in each request's transaction: the role, then the claims
select set_config('role', 'authenticated', true),
       set_config('request.jwt.claims', %s, true)
