-- Analysis worker protocol: claim with leases, heartbeat, complete, fail with
-- retries, release on shutdown, refund at most once, reap expired leases.
-- Granted to service_role and to flirt_worker (the worker's own role, which
-- can execute these functions and read no table).
--
-- A worker "holds the lease" of an analysis while the row is `processing` and
-- `locked_by` is its id: a claim by anyone else overwrites `locked_by`, the
-- reaper and fail/complete clear it. An expired lease that nobody has taken
-- over yet is still honoured, so work finished late is not thrown away.

-- Why a result cannot be stored: the first missing or malformed field, or null when valid.
-- plpgsql with simple expressions only (no subqueries): it runs for every stored result.
create or replace function private.analysis_result_problem(result jsonb) returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_level numeric;
  v_item jsonb;
begin
  if jsonb_typeof(result) is distinct from 'object' then
    return 'result';
  end if;
  if jsonb_typeof(result -> 'summary') is distinct from 'string'
     or btrim(result ->> 'summary') = '' then
    return 'summary';
  end if;
  if jsonb_typeof(result -> 'interest_level') is distinct from 'number' then
    return 'interest_level';
  end if;
  v_level := (result ->> 'interest_level')::numeric;
  if v_level < 0 or v_level > 10 or v_level <> trunc(v_level) then
    return 'interest_level';
  end if;
  if jsonb_typeof(result -> 'tone') is distinct from 'string' or btrim(result ->> 'tone') = '' then
    return 'tone';
  end if;
  if jsonb_typeof(result -> 'red_flags') is distinct from 'array' then
    return 'red_flags';
  end if;
  for i in 0 .. jsonb_array_length(result -> 'red_flags') - 1 loop
    if jsonb_typeof(result -> 'red_flags' -> i) <> 'string' then
      return 'red_flags';
    end if;
  end loop;
  if jsonb_typeof(result -> 'suggestions') is distinct from 'array'
     or jsonb_array_length(result -> 'suggestions') <> 3 then
    return 'suggestions';
  end if;
  for i in 0 .. 2 loop
    v_item := result -> 'suggestions' -> i;
    if jsonb_typeof(v_item) <> 'object'
       or jsonb_typeof(v_item -> 'reply') is distinct from 'string'
       or btrim(v_item ->> 'reply') = ''
       or jsonb_typeof(v_item -> 'style') is distinct from 'string'
       or jsonb_typeof(v_item -> 'rationale') is distinct from 'string' then
      return 'suggestions';
    end if;
  end loop;
  return null;
end
$$;
grant execute on function private.analysis_result_problem(jsonb) to service_role, flirt_worker;

-- Lease up to max_count due analyses (queued and ready, or processing with an expired lease).
create or replace function private.claim_analyses(
  worker_id text, max_count integer default 10, lease_seconds integer default 120
)
returns table (
  analysis_id uuid,
  user_id uuid,
  action_type text,
  input jsonb,
  attempts integer,
  max_attempts integer,
  locked_until timestamptz
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_want integer := max_count;
  v_got integer;
  v_now timestamptz;
begin
  if coalesce(btrim(claim_analyses.worker_id), '') = '' or max_count < 1 or lease_seconds < 1 then
    perform private.raise_api_error(400, 'invalid_input',
      jsonb_build_object('max_count', max_count, 'lease_seconds', lease_seconds),
      'worker_id must be set; max_count and lease_seconds must be positive.');
  end if;

  -- A second pass runs when the first one leaves room. perform_action skips its NOTIFY
  -- while an older queued row is waiting (queue not drained), holding the gate lock
  -- shared until it commits; taking the gate exclusively here waits for those
  -- transactions, so a worker that comes back with a partial batch (and then sleeps
  -- until a NOTIFY) has seen every row queued without one. Both sides lock with
  -- `for no key update`, so a row one of them skips the other skips too (a
  -- `save_reply` key-share lock blocks neither).
  for pass in 1..2 loop
    v_now := clock_timestamp();  -- not now(): the second pass comes after the wait
    -- One statement: `picked` reads `expired` only when fewer than v_want queued
    -- rows are due (a crashed worker's analyses come back once its lease is over;
    -- the reaper fails those that already used their last attempt).
    return query
    with due as (
      select a.id from public.analyses a
       where a.status = 'queued' and a.run_after <= v_now
       order by a.run_after
       limit v_want
         for no key update skip locked
    ), expired as (
      select a.id from public.analyses a
       where a.status = 'processing' and a.locked_until < v_now and a.attempts < a.max_attempts
       order by a.locked_until
       limit v_want
         for no key update skip locked
    ), picked as (
      select d.id from due d
      union all
      select e.id from expired e
      limit v_want
    )
    update public.analyses a
       set status = 'processing',
           locked_by = claim_analyses.worker_id,
           locked_until = v_now + make_interval(secs => lease_seconds),
           attempts = a.attempts + 1,
           started_at = coalesce(a.started_at, v_now)
      from picked p
     where a.id = p.id
    returning a.id, a.user_id, a.action_type, a.input, a.attempts, a.max_attempts, a.locked_until;
    get diagnostics v_got = row_count;
    v_want := v_want - v_got;
    exit when v_want = 0 or pass = 2;
    -- Bounded: a perform_action left inside a long transaction must not hold up the
    -- worker, nor for long the perform_actions queued behind this request. Without
    -- the gate this batch stands, and the worker's fallback poll covers the rest.
    perform set_config('lock_timeout', '500ms', true);
    begin
      perform pg_advisory_xact_lock(private.queue_gate_lock_key());
    exception when lock_not_available then
      exit;
    end;
  end loop;
end
$$;
grant execute on function private.claim_analyses(text, integer, integer) to service_role, flirt_worker;

-- Extend the caller's lease; false when it no longer holds it.
create or replace function private.heartbeat_analysis(
  analysis_id uuid, worker_id text, lease_seconds integer default 120
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.analyses a
     set locked_until = now() + make_interval(secs => heartbeat_analysis.lease_seconds)
   where a.id = heartbeat_analysis.analysis_id
     and a.status = 'processing'
     and a.locked_by = heartbeat_analysis.worker_id;
  return found;
end
$$;
grant execute on function private.heartbeat_analysis(uuid, text, integer) to service_role, flirt_worker;

-- Store many results in one statement (the worker batches what finishes together).
-- `results`: [{analysis_id, result, model, usage, prompt_version}, …]. Returns
-- {applied: [ids stored], invalid: [{analysis_id, field}]}; an id in neither was
-- not stored because the caller no longer holds its lease.
create or replace function private.complete_analyses(worker_id text, results jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_applied jsonb;
  v_invalid jsonb;
begin
  with items as (
    select r.analysis_id, r.result, r.model, r.usage, r.prompt_version,
           private.analysis_result_problem(r.result) as problem
      from jsonb_to_recordset(coalesce(results, '[]'::jsonb))
           as r(analysis_id uuid, result jsonb, model text, usage jsonb, prompt_version text)
  ), stored as (
    update public.analyses a
       set status = 'done',
           result = i.result,
           model = i.model,
           usage = i.usage,
           prompt_version = coalesce(i.prompt_version, a.prompt_version),
           error = null,
           finished_at = now(),
           locked_by = null,
           locked_until = null
      from items i
     where a.id = i.analysis_id
       and i.problem is null
       and a.status = 'processing'
       and a.locked_by = complete_analyses.worker_id
    returning a.id
  )
  select coalesce((select jsonb_agg(s.id) from stored s), '[]'::jsonb),
         coalesce((select jsonb_agg(jsonb_build_object('analysis_id', i.analysis_id, 'field', i.problem))
                     from items i where i.problem is not null), '[]'::jsonb)
    into v_applied, v_invalid;
  return jsonb_build_object('applied', v_applied, 'invalid', v_invalid);
end
$$;
grant execute on function private.complete_analyses(text, jsonb) to service_role, flirt_worker;

-- Store the result of an analysis the caller holds; false (nothing written) when it lost the lease.
create or replace function private.complete_analysis(
  analysis_id uuid,
  worker_id text,
  result jsonb,
  model text default null,
  usage jsonb default null,
  prompt_version text default null
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_problem text := private.analysis_result_problem(complete_analysis.result);
  v_out jsonb;
begin
  if v_problem is not null then
    perform private.raise_api_error(422, 'invalid_result', jsonb_build_object('field', v_problem),
      'The analysis result does not have the required shape; nothing was stored.');
  end if;
  v_out := private.complete_analyses(complete_analysis.worker_id, jsonb_build_array(jsonb_build_object(
    'analysis_id', complete_analysis.analysis_id, 'result', complete_analysis.result,
    'model', complete_analysis.model, 'usage', complete_analysis.usage,
    'prompt_version', complete_analysis.prompt_version)));
  return jsonb_array_length(v_out -> 'applied') = 1;
end
$$;
grant execute on function private.complete_analysis(uuid, text, jsonb, text, jsonb, text)
  to service_role, flirt_worker;

-- Refund a failed analysis: one action_refund row per charge. The purchased part always
-- comes back; the daily part only while it is still the credit day of the charge (a new
-- day's allowance replaced those credits) and never above the current tier's allowance.
create or replace function private.refund_analysis(analysis_id uuid) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_an record;
  v_user record;
  v_daily integer := 0;
  v_metadata jsonb;
begin
  update public.analyses a
     set refunded_at = now()
   where a.id = refund_analysis.analysis_id and a.refunded_at is null and a.cost > 0
     and a.status = 'failed'  -- a delivered result is never refunded
  returning a.id, a.user_id, a.action_type, a.daily_cost, a.purchased_cost, a.charges,
            coalesce(a.charged_on, private.credit_day(a.created_at)) as charged_on
    into v_an;
  if not found then
    return false;
  end if;

  -- a due daily reset first: it decides whether the charge's credit day is over
  perform private.reset_user_if_due(v_an.user_id, now());
  select u.daily_credits, u.daily_used, u.daily_reset_on, t.daily_credits as allowance
    into v_user
    from public.users u join public.tiers t on t.id = u.tier
   where u.id = v_an.user_id
     for update of u;
  if not found then
    return true;  -- the account is gone; nothing to give back
  end if;
  if v_user.daily_reset_on = v_an.charged_on then
    v_daily := least(v_an.daily_cost, v_user.daily_used,
                     greatest(v_user.allowance - v_user.daily_credits, 0));
  end if;
  v_metadata := jsonb_build_object('action_type', v_an.action_type);
  if v_daily < v_an.daily_cost then
    v_metadata := v_metadata || jsonb_build_object(
      'daily_forfeited', v_an.daily_cost - v_daily,
      'daily_forfeited_reason', case when v_user.daily_reset_on <> v_an.charged_on
                                     then 'credit_day_over' else 'allowance_reached' end);
  end if;
  -- the unique idempotency key is the second guard against a double refund; an analysis
  -- retried by an admin was charged again, and that charge has its own key
  perform private.move_credits(v_an.user_id, v_daily, v_an.purchased_cost,
    'action_refund', v_an.id::text,
    'refund:' || v_an.id::text || case when v_an.charges > 1 then ':' || v_an.charges else '' end,
    v_metadata);
  return true;
end
$$;
grant execute on function private.refund_analysis(uuid) to service_role;

-- Record a failed attempt: requeue with exponential backoff (at least the provider's
-- Retry-After), or fail and refund. Returns 'queued' | 'failed', or null when the caller lost the lease.
create or replace function private.fail_analysis(
  analysis_id uuid,
  worker_id text,
  error text,
  retryable boolean default true,
  retry_after_seconds double precision default null
) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_an public.analyses;
  v_base double precision := private.required_setting('retry_base_seconds')::float8;
  v_delay double precision;
  v_error text := left(coalesce(fail_analysis.error, 'unknown error'), 500);
begin
  select a.* into v_an
    from public.analyses a
   where a.id = fail_analysis.analysis_id
     and a.status = 'processing'
     and a.locked_by = fail_analysis.worker_id
     for update;
  if not found then
    return null;
  end if;

  if fail_analysis.retryable and v_an.attempts < v_an.max_attempts then
    -- base * 2^(attempt-1), capped at an hour, with up to 20 % jitter
    v_delay := least(v_base * power(2, v_an.attempts - 1), 3600) * (1 + 0.2 * random());
    v_delay := greatest(v_delay, least(coalesce(fail_analysis.retry_after_seconds, 0), 3600));
    update public.analyses a
       set status = 'queued', error = v_error, run_after = now() + make_interval(secs => v_delay),
           locked_by = null, locked_until = null
     where a.id = v_an.id;
    perform pg_notify('analysis_queued', v_an.id::text);
    return 'queued';
  end if;

  update public.analyses a
     set status = 'failed', error = v_error, finished_at = now(),
         locked_by = null, locked_until = null
   where a.id = v_an.id;
  perform private.refund_analysis(v_an.id);
  return 'failed';
end
$$;
grant execute on function private.fail_analysis(uuid, text, text, boolean, double precision)
  to service_role, flirt_worker;

-- Hand an analysis back on shutdown: queued again, lease cleared, the attempt not counted.
create or replace function private.release_analysis(analysis_id uuid, worker_id text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.analyses a
     set status = 'queued', locked_by = null, locked_until = null,
         attempts = greatest(a.attempts - 1, 0), run_after = now()
   where a.id = release_analysis.analysis_id
     and a.status = 'processing'
     and a.locked_by = release_analysis.worker_id;
  if not found then
    return false;
  end if;
  perform pg_notify('analysis_queued', release_analysis.analysis_id::text);
  return true;
end
$$;
grant execute on function private.release_analysis(uuid, text) to service_role, flirt_worker;

-- pg_cron (every minute): expired leases go back to the queue, or fail and are
-- refunded when that was their last attempt. Returns how many were failed.
create or replace function private.reap_expired_leases() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id uuid;
  v_failed integer := 0;
  v_requeued uuid[];
begin
  for v_id in
    select a.id from public.analyses a
     where a.status = 'processing' and a.locked_until < now() and a.attempts >= a.max_attempts
       for update skip locked
  loop
    update public.analyses a
       set status = 'failed', error = 'lease_expired: the worker stopped before finishing',
           finished_at = now(), locked_by = null, locked_until = null
     where a.id = v_id;
    perform private.refund_analysis(v_id);
    v_failed := v_failed + 1;
  end loop;

  -- Attempts left: show them as queued again (a worker would reclaim them anyway).
  with expired as (
    select a.id from public.analyses a
     where a.status = 'processing' and a.locked_until < now() and a.attempts < a.max_attempts
       for update skip locked
  ), requeued as (
    update public.analyses a
       set status = 'queued', locked_by = null, locked_until = null, run_after = now()
      from expired e
     where a.id = e.id
    returning a.id
  )
  select coalesce(array_agg(r.id), '{}') into v_requeued from requeued r;
  foreach v_id in array v_requeued loop
    perform pg_notify('analysis_queued', v_id::text);
  end loop;
  return v_failed;
end
$$;
grant execute on function private.reap_expired_leases() to service_role;

-- Queue depth for metrics: queued, ready now, processing, expired leases, oldest ready age.
create or replace function private.analysis_queue_stats() returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'queued', count(*) filter (where a.status = 'queued'),
    'ready', count(*) filter (where a.status = 'queued' and a.run_after <= now()),
    'processing', count(*) filter (where a.status = 'processing'),
    'expired_leases', count(*) filter (where a.status = 'processing' and a.locked_until < now()),
    'oldest_ready_seconds', coalesce(extract(epoch from now() - min(a.run_after)
                              filter (where a.status = 'queued' and a.run_after <= now())), 0),
    -- Storage deletions the worker still has to do (and those whose last try failed)
    'screenshot_deletions', (select count(*) from private.screenshot_deletions),
    'screenshot_deletions_failing',
      (select count(*) from private.screenshot_deletions d where d.last_error is not null)
  )
  from public.analyses a
  where a.status in ('queued', 'processing')
$$;
grant execute on function private.analysis_queue_stats() to service_role, flirt_worker;

-- Seconds until the next queued analysis comes due (a retry waiting out its backoff);
-- null when none is waiting. A worker sleeps at most that long after a partial claim.
create or replace function private.analysis_next_due_seconds() returns double precision
language sql
stable
security definer
set search_path = ''
as $$
  select extract(epoch from min(a.run_after) - clock_timestamp())::double precision
    from public.analyses a
   where a.status = 'queued' and a.run_after > clock_timestamp()
$$;
grant execute on function private.analysis_next_due_seconds() to service_role, flirt_worker;
