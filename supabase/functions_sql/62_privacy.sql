-- Privacy: input retention, the data export and what an account deletion redacts.

-- pg_cron (daily): drop the input (chat text, image path) of analyses finished more
-- than input_retention_days ago; returns how many were purged.
create or replace function private.purge_expired_inputs() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_days integer := private.required_setting('input_retention_days')::integer;
  v_count integer;
begin
  -- A purged screenshot is queued for deletion from Storage, unless another analysis
  -- whose input is still kept names the same file.
  with expired as (
    select a.id, a.user_id, a.input ->> 'image_path' as image_path
      from public.analyses a
     where a.input is not null
       and a.status in ('done', 'failed')
       and a.finished_at < pg_catalog.now() - make_interval(days => v_days)
       for no key update
  ), purged as (
    update public.analyses a
       set input = null, input_purged_at = pg_catalog.now()
      from expired e
     where a.id = e.id
    returning e.user_id, e.image_path
  ), screenshots as (
    insert into private.screenshot_deletions (path, user_id, reason)
    select distinct p.image_path, p.user_id, 'retention'
      from purged p
     where p.image_path is not null
       and not exists (
         select from public.analyses b
          where b.user_id = p.user_id
            and b.input ->> 'image_path' = p.image_path
            and not exists (select from expired e where e.id = b.id))
  )
  select count(*) into v_count from purged;
  return v_count;
end
$$;
grant execute on function private.purge_expired_inputs() to service_role;

-- Everything stored about one account: the row, ledger, analyses, saved replies, payments
-- (null when there is no such account).
create or replace function private.export_user_data(user_id uuid) returns public.data_export
language sql
stable
security definer
set search_path = ''
as $$
  select pg_catalog.now(), u,
         array(select t from public.credits_transactions t where t.user_id = u.id order by t.id),
         array(select a from public.analyses a where a.user_id = u.id order by a.created_at, a.id),
         array(select r from public.saved_replies r
                where r.user_id = u.id order by r.created_at, r.id),
         array(select p from public.payments p where p.user_id = u.id order by p.id)
    from public.users u
   where u.id = export_user_data.user_id
$$;
grant execute on function private.export_user_data(uuid) to service_role;

-- The caller's own data export; PT401 without a signed-in user.
create or replace function private.export_my_data() returns public.data_export
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
  v_export public.data_export;
begin
  if v_uid is null then
    perform private.raise_api_error(401, 'not_authenticated', '{}'::jsonb, 'Sign in first.');
  end if;
  v_export := private.export_user_data(v_uid);
  if v_export.account is null then
    perform private.raise_api_error(404, 'user_not_found', '{}'::jsonb,
      'This account no longer exists.');
  end if;
  return v_export;
end
$$;
grant execute on function private.export_my_data() to authenticated;

-- Everything the signed-in user owns: the account row and its ledger, analyses, replies, payments.
create or replace function public.export_my_data() returns public.data_export
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return private.export_my_data();
end
$$;
revoke all on function public.export_my_data() from public, anon;
grant execute on function public.export_my_data() to authenticated;

-- Account deletion: the ledger and payments are kept with user_id null (foreign keys),
-- analyses and saved replies cascade. Stripe webhook payloads name the user (metadata,
-- customer email and address), so those are reduced to what accounting needs.
create or replace function private.redact_deleted_user_events() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.stripe_webhook_events e
     set payload = jsonb_build_object(
           'id', e.payload -> 'id', 'type', e.payload -> 'type',
           'created', e.payload -> 'created', 'redacted', true,
           'data', jsonb_build_object('object', jsonb_build_object(
             'id', e.payload #> '{data,object,id}',
             'object', e.payload #> '{data,object,object}'))),
         updated_at = pg_catalog.now()
   where not coalesce((e.payload ->> 'redacted')::boolean, false)
     -- the objects stripe_object_user attributes to this user (by the user it names or
     -- by its customer), compared without a lookup per event
     and (private.stripe_object_user_ref(e.payload -> 'data' -> 'object') = old.id::text
          or private.stripe_id(e.payload #> '{data,object,customer}') = old.stripe_customer_id
          -- refunds and disputes name only the payment (and carry billing details)
          or e.payload #>> '{data,object,payment_intent}' in (
               select p.stripe_payment_intent_id from public.payments p where p.user_id = old.id)
          or e.payload #>> '{data,object,charge}' in (
               select p.stripe_charge_id from public.payments p where p.user_id = old.id));
  return old;
end
$$;

create or replace trigger on_user_deleted_redact_events
  before delete on public.users
  for each row execute function private.redact_deleted_user_events();
