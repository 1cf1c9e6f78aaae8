-- Retrying a failed analysis (the CLI's `analyses retry`).

-- Queue a failed analysis again, in place, charged again (daily bucket first) with one
-- 'action' row; analyses.charges counts the charges so each can be refunded once.
create or replace function private.retry_analysis(analysis_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_old public.analyses;
  v_user public.users;
  v_daily integer;
  v_purchased integer;
  v_balance integer;
begin
  select a.* into v_old from public.analyses a where a.id = retry_analysis.analysis_id for update;
  if not found then
    perform private.raise_api_error(404, 'analysis_not_found',
      jsonb_build_object('analysis_id', retry_analysis.analysis_id), 'No analysis has this id.');
  end if;
  if v_old.status <> 'failed' then
    perform private.raise_api_error(409, 'analysis_not_failed',
      jsonb_build_object('status', v_old.status), 'Only a failed analysis can be retried.');
  end if;
  if v_old.input is null then
    perform private.raise_api_error(410, 'input_purged',
      jsonb_build_object('input_purged_at', v_old.input_purged_at),
      'The input was deleted by the retention policy; the user must submit it again.');
  end if;

  perform private.reset_user_if_due(v_old.user_id, pg_catalog.now());
  select u.* into v_user from public.users u where u.id = v_old.user_id for update;
  if v_user.restricted_reason is not null then
    perform private.raise_api_error(403, 'account_restricted',
      jsonb_build_object('reason', v_user.restricted_reason), 'The account is restricted.');
  end if;
  if v_user.credits_remaining < v_old.cost then
    perform private.raise_api_error(402, 'insufficient_credits',
      jsonb_build_object('required', v_old.cost, 'available', v_user.credits_remaining),
      'The user does not have enough credits for this analysis.');
  end if;

  v_daily := least(greatest(v_user.daily_credits, 0), v_old.cost);
  v_purchased := v_old.cost - v_daily;

  -- the same row goes back to the queue: the user's history shows it finish
  update public.analyses a
     set status = 'queued', charges = a.charges + 1, daily_cost = v_daily,
         purchased_cost = v_purchased, charged_on = v_user.daily_reset_on,
         attempts = 0, run_after = pg_catalog.now(),
         error = null, result = null, model = null, usage = null, locked_by = null,
         locked_until = null, refunded_at = null, started_at = null, finished_at = null,
         max_attempts = coalesce((private.setting('max_attempts') #>> '{}')::integer,
                                 a.max_attempts)
   where a.id = v_old.id
  returning a.* into v_old;

  v_balance := (private.move_credits(v_user.id, -v_daily, -v_purchased, 'action',
    v_old.id::text, null,
    jsonb_build_object('action_type', v_old.action_type, 'retry', v_old.charges,
                       'by', private.admin_actor()))).balance_after;

  perform pg_notify('analysis_queued', v_old.id::text);
  return jsonb_build_object(
    'analysis_id', v_old.id, 'status', 'queued', 'cost', v_old.cost, 'charges', v_old.charges,
    'daily_cost', v_daily, 'purchased_cost', v_purchased, 'credits_remaining', v_balance);
end
$$;
grant execute on function private.retry_analysis(uuid) to service_role;
