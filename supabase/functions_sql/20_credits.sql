-- Credits engine: balances, the daily allowance, and perform_action (the hot path).
-- Re-applied on every `db migrate` (CREATE OR REPLACE), like repeatable migrations.
--
-- Concurrency: every change to a user's buckets first takes that user's row
-- lock (SELECT … FOR UPDATE or a guarded UPDATE), so requests of one user
-- serialize and each statement after the lock sees what the previous request
-- committed (READ COMMITTED takes a fresh snapshot per statement).

-- The caller's user id from the JWT `sub` claim; PT401 not_authenticated without one.
create or replace function private.require_user_id() returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_sub text := coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub');
begin
  if v_sub is null
     or v_sub !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    perform private.raise_api_error(401, 'not_authenticated', '{}'::jsonb,
      'Sign in to continue.');
  end if;
  return v_sub::uuid;
end
$$;
grant execute on function private.require_user_id() to authenticated, service_role;

-- Reset a user whose row the caller has locked: allowance in, one ledger row when it changes.
create or replace function private.apply_daily_reset(
  user_id uuid, old_daily integer, purchased integer, allowance integer, day date
) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.users u
     set daily_credits = apply_daily_reset.allowance, daily_reset_on = apply_daily_reset.day,
         daily_used = 0, updated_at = now()
   where u.id = apply_daily_reset.user_id;
  if apply_daily_reset.allowance <> apply_daily_reset.old_daily then
    insert into public.credits_transactions
      (user_id, daily_delta, purchased_delta, kind, balance_after, reference)
    values
      (apply_daily_reset.user_id, apply_daily_reset.allowance - apply_daily_reset.old_daily, 0,
       'daily_reset', apply_daily_reset.allowance + apply_daily_reset.purchased,
       apply_daily_reset.day::text);
  end if;
end
$$;
grant execute on function private.apply_daily_reset(uuid, integer, integer, integer, date) to service_role;

-- Apply the user's daily reset if the credit day containing `at` is later than their last one.
create or replace function private.reset_user_if_due(user_id uuid, at timestamptz default now())
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_day date := private.credit_day(at);
  v_row record;
begin
  -- cheap unlocked look first: most calls find nothing due
  if not exists (select from public.users u
                  where u.id = reset_user_if_due.user_id and u.daily_reset_on < v_day) then
    return false;
  end if;
  select u.daily_credits, u.purchased_credits, u.daily_reset_on, t.daily_credits as allowance
    into v_row
    from public.users u join public.tiers t on t.id = u.tier
   where u.id = reset_user_if_due.user_id
     for update of u;
  if not found or v_row.daily_reset_on >= v_day then
    return false;  -- a concurrent request reset it first
  end if;
  perform private.apply_daily_reset(reset_user_if_due.user_id, v_row.daily_credits,
                                    v_row.purchased_credits, v_row.allowance, v_day);
  return true;
end
$$;
grant execute on function private.reset_user_if_due(uuid, timestamptz) to service_role;

-- Put a user on `new_tier` within the rule "one credit day, one allowance": after a due
-- reset, the daily bucket becomes the new allowance minus what the day has used (never
-- below zero), so an upgrade adds the difference, a downgrade clamps, and going back and
-- forth adds nothing. `purchased_delta` rides on the same ledger row (the signup bonus of
-- a converted anonymous account); no row when neither bucket changes.
create or replace function private.set_tier(
  target_user uuid,
  new_tier text,
  purchased_delta integer,
  kind text,
  reference text,
  ledger_key text default null,
  metadata jsonb default '{}'::jsonb
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user record;
  v_allowance integer;
  v_daily_delta integer := 0;
begin
  perform private.reset_user_if_due(target_user, now());
  select u.tier, u.daily_credits, u.daily_used into v_user
    from public.users u where u.id = target_user for update;
  if not found then
    return jsonb_build_object('tier_changed', false);
  end if;
  if v_user.tier is distinct from new_tier then
    select t.daily_credits into v_allowance from public.tiers t where t.id = new_tier;
    if not found then
      raise exception 'unknown tier %', new_tier using errcode = 'P0001';
    end if;
    v_daily_delta := greatest(v_allowance - v_user.daily_used, 0) - v_user.daily_credits;
    update public.users u set tier = new_tier, updated_at = now() where u.id = target_user;
  end if;
  if v_daily_delta <> 0 or coalesce(purchased_delta, 0) <> 0 then
    perform private.move_credits(target_user, v_daily_delta, coalesce(purchased_delta, 0),
      kind, reference, ledger_key,
      coalesce(metadata, '{}'::jsonb)
        || jsonb_build_object('from_tier', v_user.tier, 'to_tier', new_tier,
                              'daily_used', v_user.daily_used));
  end if;
  return jsonb_build_object('tier_changed', v_user.tier is distinct from new_tier,
                            'from_tier', v_user.tier, 'to_tier', new_tier,
                            'daily_delta', v_daily_delta);
end
$$;
grant execute on function private.set_tier(uuid, text, integer, text, text, text, jsonb)
  to service_role;

-- The caller's balances, after applying a due daily reset.
create or replace function private.get_credits() returns private.credit_balance
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user_id();
  v_day date := private.credit_day(now());
  v_result private.credit_balance;
begin
  perform private.reset_user_if_due(v_uid, now());
  select u.credits_remaining, u.daily_credits, u.purchased_credits, t.daily_credits, u.tier,
         private.next_reset_at(greatest(u.daily_reset_on, v_day)),
         u.restricted_reason is not null
    into v_result
    from public.users u join public.tiers t on t.id = u.tier
   where u.id = v_uid;
  if not found then
    perform private.raise_api_error(401, 'not_authenticated', '{"reason":"no_account"}'::jsonb,
      'This account no longer exists. Sign in again.');
  end if;
  return v_result;
end
$$;
grant execute on function private.get_credits() to authenticated;

-- Balances and allowance of the signed-in user (applies a due daily reset first); one row.
create or replace function public.get_credits()
returns table (
  credits_remaining integer, daily_credits integer, purchased_credits integer,
  daily_limit integer, tier text, next_reset_at timestamptz, restricted boolean
)
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return query select * from private.get_credits();
end
$$;
grant execute on function public.get_credits() to authenticated;

-- Raise PT400 invalid_input for one field.
create or replace function private.raise_invalid_input(field text, reason text, detail jsonb, hint text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  perform private.raise_api_error(400, 'invalid_input',
    jsonb_build_object('field', field, 'reason', reason) || coalesce(detail, '{}'::jsonb), hint);
end
$$;
grant execute on function private.raise_invalid_input(text, text, jsonb, text) to authenticated, service_role;

-- Check an action's input shape and limits (DESIGN §4 check 3); raises PT400 invalid_input.
create or replace function private.validate_action_input(
  action_type text, input jsonb, max_input_chars integer, max_input_bytes integer, user_id uuid
) returns void
language plpgsql
stable
set search_path = ''
as $$
declare
  v_bytes integer;
  v_key text;
  v_value jsonb;
  v_text text;
  v_is_image boolean := validate_action_input.action_type like 'image\_%';
begin
  if input is null or jsonb_typeof(input) <> 'object' then
    perform private.raise_invalid_input('input', 'not_an_object', '{}'::jsonb,
      'The input must be a JSON object.');
  end if;
  v_bytes := octet_length(input::text);
  if v_bytes > max_input_bytes then
    perform private.raise_invalid_input('input', 'too_large',
      jsonb_build_object('max_bytes', max_input_bytes, 'bytes', v_bytes),
      format('The input is too large (%s bytes, at most %s).', v_bytes, max_input_bytes));
  end if;

  for v_key, v_value in select e.key, e.value from jsonb_each(input) e loop
    if v_key = 'context' then
      if jsonb_typeof(v_value) <> 'object' then
        perform private.raise_invalid_input('input.context', 'not_an_object', '{}'::jsonb,
          'context must be an object with optional goal and tone.');
      end if;
      for v_key, v_value in select e.key, e.value from jsonb_each(v_value) e loop
        if v_key not in ('goal', 'tone') then
          perform private.raise_invalid_input('input.context.' || v_key, 'unknown_field', '{}'::jsonb,
            'context takes only goal and tone.');
        end if;
        if jsonb_typeof(v_value) <> 'string' then
          perform private.raise_invalid_input('input.context.' || v_key, 'not_a_string', '{}'::jsonb,
            format('context.%s must be text.', v_key));
        end if;
        if char_length(v_value #>> '{}') > 200 then
          perform private.raise_invalid_input('input.context.' || v_key, 'too_long',
            jsonb_build_object('max_chars', 200, 'chars', char_length(v_value #>> '{}')),
            format('context.%s is at most 200 characters.', v_key));
        end if;
      end loop;
    elsif v_key = 'chat' and not v_is_image then
      if jsonb_typeof(v_value) <> 'string' then
        perform private.raise_invalid_input('input.chat', 'not_a_string', '{}'::jsonb,
          'chat must be text.');
      end if;
      v_text := v_value #>> '{}';
      if v_text !~ '[^[:space:]]' then
        perform private.raise_invalid_input('input.chat', 'blank', '{}'::jsonb,
          'Paste a chat to analyse.');
      end if;
      if char_length(v_text) > max_input_chars then
        perform private.raise_invalid_input('input.chat', 'too_long',
          jsonb_build_object('max_chars', max_input_chars, 'chars', char_length(v_text)),
          format('The chat is too long (%s characters, at most %s).',
                 char_length(v_text), max_input_chars));
      end if;
    elsif v_key = 'image_path' and v_is_image then
      if jsonb_typeof(v_value) <> 'string' then
        perform private.raise_invalid_input('input.image_path', 'not_a_string', '{}'::jsonb,
          'image_path must be text.');
      end if;
      v_text := v_value #>> '{}';
      -- <caller's user id>/<file name>: a file in the caller's own folder, nothing deeper
      if split_part(v_text, '/', 1) <> user_id::text
         or v_text !~ '^[^/]+/[^/]+$'
         or char_length(v_text) > 1024 then
        perform private.raise_invalid_input('input.image_path', 'not_own_file',
          jsonb_build_object('expected_prefix', user_id::text || '/'),
          'Upload the screenshot to your own folder (<your user id>/<file name>).');
      end if;
      -- plain names only: nothing that a storage layer could decode into another path
      -- (percent-encoding, backslashes, dot segments)
      if split_part(v_text, '/', 2) !~ '^[A-Za-z0-9._-]+$'
         or split_part(v_text, '/', 2) in ('.', '..') then
        perform private.raise_invalid_input('input.image_path', 'bad_file_name',
          jsonb_build_object('allowed', 'A-Z a-z 0-9 . _ -'),
          'Name the screenshot with letters, digits, dots, dashes and underscores only.');
      end if;
    else
      perform private.raise_invalid_input('input.' || v_key, 'unknown_field', '{}'::jsonb,
        case when v_is_image then 'An image analysis takes image_path and optional context.'
             else 'A chat analysis takes chat and optional context.' end);
    end if;
  end loop;

  if v_is_image and not input ? 'image_path' then
    perform private.raise_invalid_input('input.image_path', 'missing', '{}'::jsonb,
      'Upload a screenshot first.');
  elsif not v_is_image and not input ? 'chat' then
    perform private.raise_invalid_input('input.chat', 'missing', '{}'::jsonb,
      'Paste a chat to analyse.');
  end if;
end
$$;
grant execute on function private.validate_action_input(text, jsonb, integer, integer, uuid)
  to authenticated, service_role;

-- Charge an action and queue its analysis, atomically (DESIGN §4, checks 1–7 in order).
create or replace function private.perform_action(
  action_type text, input jsonb, idempotency_key text default null
) returns private.action_receipt
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_sub text := coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub');
  v_uid uuid;
  r record;
  v_prev record;
  v_daily integer;
  v_day date;
  v_take_daily integer;
  v_take_purchased integer;
  v_pending integer;
  v_id uuid;
begin
  -- 1. authenticated
  if v_sub is null
     or v_sub !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    perform private.raise_api_error(401, 'not_authenticated', '{}'::jsonb, 'Sign in to continue.');
  end if;
  v_uid := v_sub::uuid;

  -- One statement: the action's cost, the settings, and the caller's row, locked.
  -- The credit day is private.credit_day(now()), computed inline from the same settings.
  select c.cost, c.max_input_chars, c.enabled,
         s.max_pending, s.max_bytes, s.max_attempts,
         ((now() - make_interval(hours => s.reset_hour)) at time zone s.reset_timezone)::date as today,
         u.daily_credits, u.purchased_credits, u.daily_reset_on, u.restricted_reason,
         t.daily_credits as allowance
    into r
    from public.users u
    join public.tiers t on t.id = u.tier
   cross join (
      select (max(a.value #>> '{}') filter (where a.key = 'max_pending_analyses'))::integer as max_pending,
             (max(a.value #>> '{}') filter (where a.key = 'max_input_bytes'))::integer as max_bytes,
             (max(a.value #>> '{}') filter (where a.key = 'max_attempts'))::integer as max_attempts,
             (max(a.value #>> '{}') filter (where a.key = 'reset_hour'))::integer as reset_hour,
             max(a.value #>> '{}') filter (where a.key = 'reset_timezone') as reset_timezone
        from public.app_settings a
       where a.key in ('max_pending_analyses', 'max_input_bytes', 'max_attempts',
                       'reset_hour', 'reset_timezone')) s
    left join public.action_costs c on c.action_type = perform_action.action_type
   where u.id = v_uid
     for update of u;
  if not found then
    perform private.raise_api_error(401, 'not_authenticated', '{"reason":"no_account"}'::jsonb,
      'This account no longer exists. Sign in again.');
  end if;
  -- settings every install has (config sync writes them): a missing one is a clear error
  if r.max_pending is null or r.max_bytes is null or r.max_attempts is null or r.today is null then
    perform private.required_setting(k.key)
       from unnest(array['max_pending_analyses', 'max_input_bytes', 'max_attempts',
                         'reset_hour', 'reset_timezone']) k(key);
  end if;

  -- 2. known and enabled action
  if r.cost is null then
    perform private.raise_api_error(400, 'unknown_action',
      jsonb_build_object('action_type', perform_action.action_type),
      'This kind of analysis does not exist.');
  end if;
  if not r.enabled then
    perform private.raise_api_error(400, 'action_disabled',
      jsonb_build_object('action_type', perform_action.action_type),
      'This kind of analysis is switched off for now.');
  end if;

  -- 3. input shape and limits
  perform private.validate_action_input(perform_action.action_type, perform_action.input,
                                        r.max_input_chars, r.max_bytes, v_uid);
  if perform_action.idempotency_key is not null
     and char_length(perform_action.idempotency_key) not between 1 and 200 then
    perform private.raise_invalid_input('idempotency_key', 'bad_length',
      jsonb_build_object('min_chars', 1, 'max_chars', 200),
      'idempotency_key is 1 to 200 characters.');
  end if;

  -- due daily reset (the row is locked; a later failing check rolls it back)
  v_daily := r.daily_credits;
  -- the credit day whose daily bucket pays: the row's own, which is later than `today`
  -- when a transaction that began after the reset hour reset it while this one waited
  v_day := r.daily_reset_on;
  if r.daily_reset_on < r.today then
    perform private.apply_daily_reset(v_uid, r.daily_credits, r.purchased_credits,
                                      r.allowance, r.today);
    v_daily := r.allowance;
    v_day := r.today;
  end if;

  -- 4. idempotent replay (after the lock, so a concurrent twin has committed by now)
  if perform_action.idempotency_key is not null then
    select a.id, a.status, a.cost, a.action_type, a.input, a.input_purged_at
      into v_prev
      from public.analyses a
     where a.user_id = v_uid and a.idempotency_key = perform_action.idempotency_key;
    if found then
      if v_prev.action_type <> perform_action.action_type
         or (v_prev.input_purged_at is null and v_prev.input <> perform_action.input) then
        perform private.raise_api_error(409, 'idempotency_key_reused',
          jsonb_build_object('analysis_id', v_prev.id),
          'This idempotency key was already used for a different request.');
      end if;
      return row(v_prev.id, v_prev.status, v_prev.cost, v_daily + r.purchased_credits,
                 v_daily, r.purchased_credits, true)::private.action_receipt;
    end if;
  end if;

  -- 5. restriction
  if r.restricted_reason is not null then
    perform private.raise_api_error(403, 'account_restricted', '{}'::jsonb,
      'Your account is restricted. Contact support.');
  end if;

  -- 6. pending limit (counted after the lock: no concurrent request can slip past it)
  select count(*) into v_pending
    from (select from public.analyses a
           where a.user_id = v_uid and a.status in ('queued', 'processing')
           limit r.max_pending) p;
  if v_pending >= r.max_pending then
    perform private.raise_api_error(429, 'too_many_pending',
      jsonb_build_object('pending', v_pending, 'max_pending', r.max_pending),
      'Wait for your running analyses to finish.');
  end if;

  -- 7. balance
  if v_daily + r.purchased_credits < r.cost then
    perform private.raise_api_error(402, 'insufficient_credits',
      jsonb_build_object('required', r.cost, 'available', v_daily + r.purchased_credits),
      'Not enough credits. Buy a pack or wait for your daily credits.');
  end if;

  -- debit: daily bucket first, then purchased
  v_take_daily := least(v_daily, r.cost);
  v_take_purchased := r.cost - v_take_daily;
  -- time-ordered id (UUIDv7 layout: 48-bit ms timestamp, version 7, random rest): new rows
  -- land on the right edge of the primary key instead of on a random page
  v_id := encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
            substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
            from 1 for 6), 52, 1), 53, 1), 'hex')::uuid;

  update public.users u
     set daily_credits = v_daily - v_take_daily,
         purchased_credits = r.purchased_credits - v_take_purchased,
         daily_used = u.daily_used + v_take_daily,
         updated_at = now()
   where u.id = v_uid;

  insert into public.analyses
    (id, user_id, action_type, cost, daily_cost, purchased_cost, input, idempotency_key,
     max_attempts, charged_on)
  values
    (v_id, v_uid, perform_action.action_type, r.cost, v_take_daily, v_take_purchased,
     perform_action.input, perform_action.idempotency_key, r.max_attempts, v_day);

  insert into public.credits_transactions
    (user_id, daily_delta, purchased_delta, kind, balance_after, reference, metadata)
  values
    (v_uid, -v_take_daily, -v_take_purchased, 'action',
     v_daily + r.purchased_credits - r.cost, v_id::text,
     jsonb_build_object('action_type', perform_action.action_type));

  -- Wake the workers, unless one is bound to claim this row anyway. An older queued
  -- row that no claim holds means the queue is not drained, and a worker only goes
  -- to sleep after a claim that took the gate lock exclusively (private.claim_analyses),
  -- that is, after this transaction committed. NOTIFY holds a cluster-wide lock until
  -- the commit is flushed, so skipping it under a backlog lets commits flush together.
  perform pg_advisory_xact_lock_shared(private.queue_gate_lock_key());
  perform from public.analyses a
   where a.status = 'queued' and a.attempts = 0 and a.run_after <= now() and a.id <> v_id
   order by a.run_after desc
   limit 1
     for no key update skip locked;
  if not found then
    perform pg_notify('analysis_queued', v_id::text);
  end if;

  -- analysis_id, status, cost, credits_remaining, daily_credits, purchased_credits, replayed
  return row(v_id, 'queued', r.cost, v_daily + r.purchased_credits - r.cost,
             v_daily - v_take_daily, r.purchased_credits - v_take_purchased,
             false)::private.action_receipt;
end
$$;
grant execute on function private.perform_action(text, jsonb, text) to authenticated;

-- Spend credits on an analysis and queue it (see DESIGN §4 for checks and errors); one row.
create or replace function public.perform_action(
  action_type text, input jsonb, idempotency_key text default null
) returns table (
  analysis_id uuid, status text, cost integer, credits_remaining integer,
  daily_credits integer, purchased_credits integer, replayed boolean
)
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return query select * from private.perform_action(action_type, input, idempotency_key);
end
$$;
grant execute on function public.perform_action(text, jsonb, text) to authenticated;

-- One batch of the daily reset: up to batch_size users whose credit day is before `day`.
-- Fast path: one statement with no separate row-lock pass; its guard skips any row that a
-- request changed since the batch was read (a later batch or the lazy reset takes it).
-- Zero means none is due: a batch whose every row was taken meanwhile is read again (the
-- rows it lost are no longer due, or changed, so the next read makes progress).
-- A row held longer than lock_timeout (a long transaction) makes the batch fall back to
-- locking only the rows nobody holds, so a batch never waits on others for long.
-- The planner would price joining a 5,000-row batch back to a million-row users table as a
-- hash join over a full scan, once per batch; each batch must touch only its own rows.
create or replace function private.reset_due_users(day date, batch_size integer) returns integer
language plpgsql
security definer
set search_path = ''
set enable_hashjoin = off
set enable_mergejoin = off
set lock_timeout = '200ms'
as $$
declare
  v_n integer;
  v_read integer;
begin
  begin
    loop
      with due as (
        select u.id, u.tier, u.daily_credits as old_daily, t.daily_credits as allowance
          from public.users u
          join public.tiers t on t.id = u.tier
         where u.daily_reset_on < reset_due_users.day
         order by u.daily_reset_on
         limit reset_due_users.batch_size
      ), reset as (
        update public.users u
           set daily_credits = due.allowance, daily_reset_on = reset_due_users.day,
               daily_used = 0, updated_at = now()
          from due
         where u.id = due.id
           and u.daily_reset_on < reset_due_users.day
           and u.tier = due.tier
           and u.daily_credits = due.old_daily
        returning u.id, u.credits_remaining, due.allowance - due.old_daily as delta
      ), ledger as (
        insert into public.credits_transactions
          (user_id, daily_delta, purchased_delta, kind, balance_after, reference)
        select reset.id, reset.delta, 0, 'daily_reset', reset.credits_remaining,
               reset_due_users.day::text
          from reset
         where reset.delta <> 0
      )
      select (select count(*) from reset)::integer, (select count(*) from due)::integer
        into v_n, v_read;
      exit when v_n > 0 or v_read = 0;
    end loop;
    return v_n;
  exception when lock_not_available then
    with due as (
      select u.id, u.daily_credits as old_daily, t.daily_credits as allowance
        from public.users u
        join public.tiers t on t.id = u.tier
       where u.daily_reset_on < reset_due_users.day
       order by u.daily_reset_on
       limit reset_due_users.batch_size
         for update of u skip locked
    ), reset as (
      update public.users u
         set daily_credits = due.allowance, daily_reset_on = reset_due_users.day,
             daily_used = 0, updated_at = now()
        from due
       where u.id = due.id
      returning u.id, u.credits_remaining, due.allowance - due.old_daily as delta
    ), ledger as (
      insert into public.credits_transactions
        (user_id, daily_delta, purchased_delta, kind, balance_after, reference)
      select reset.id, reset.delta, 0, 'daily_reset', reset.credits_remaining,
             reset_due_users.day::text
        from reset
       where reset.delta <> 0
    )
    select count(*)::integer into v_n from reset;
    return v_n;
  end;
end
$$;
grant execute on function private.reset_due_users(date, integer) to service_role;

-- Reset every user due at `at` in one transaction (for tests and small installs).
create or replace function private.reset_daily(at timestamptz default now(), batch_size integer default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_day date := private.credit_day(at);
  v_batch integer := coalesce(batch_size, private.required_setting('reset_batch_size')::integer);
  v_n integer;
  v_total bigint := 0;
  v_batches integer := 0;
begin
  loop
    v_n := private.reset_due_users(v_day, v_batch);
    exit when v_n = 0;
    v_total := v_total + v_n;
    v_batches := v_batches + 1;
  end loop;
  return jsonb_build_object('credit_day', v_day, 'users_reset', v_total, 'batches', v_batches);
end
$$;
grant execute on function private.reset_daily(timestamptz, integer) to service_role;

-- The pg_cron job flirt_daily_reset runs reset_due_users batch by batch, committing
-- in between: see private.cron_jobs() in 90_cron.sql. An earlier procedure is gone.
drop procedure if exists private.run_daily_reset(timestamptz, integer, bigint, integer);
