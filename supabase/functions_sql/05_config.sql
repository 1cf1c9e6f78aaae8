-- Configuration sync: config.toml (as JSON) into the configuration tables.

-- Upsert tiers, action costs, packs and app_settings from the config document.
-- Rows missing from the config are kept (users, history and payments refer to
-- them) but retired: tiers and packs become inactive, actions disabled.
create or replace function private.sync_config(cfg jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_counts jsonb;
  v_buckets regclass := pg_catalog.to_regclass('storage.buckets');
begin
  insert into public.tiers (id, name, daily_credits, stripe_price_id, sort_order, active)
  select k, v ->> 'name', (v ->> 'daily_credits')::integer,
         nullif(v ->> 'stripe_price_id', ''), coalesce((v ->> 'sort_order')::integer, 0), true
    from jsonb_each(cfg -> 'tiers') as e(k, v)
  on conflict (id) do update
    set name = excluded.name, daily_credits = excluded.daily_credits,
        stripe_price_id = excluded.stripe_price_id, sort_order = excluded.sort_order, active = true
  where (public.tiers.name, public.tiers.daily_credits, public.tiers.stripe_price_id,
         public.tiers.sort_order, public.tiers.active)
        is distinct from
        (excluded.name, excluded.daily_credits, excluded.stripe_price_id, excluded.sort_order, true);
  update public.tiers set active = false
   where active and not (cfg -> 'tiers') ? id;

  insert into public.action_costs (action_type, cost, max_input_chars, enabled)
  select k, (v ->> 'cost')::integer, (v ->> 'max_input_chars')::integer,
         coalesce((v ->> 'enabled')::boolean, true)
    from jsonb_each(cfg -> 'actions') as e(k, v)
  on conflict (action_type) do update
    set cost = excluded.cost, max_input_chars = excluded.max_input_chars, enabled = excluded.enabled
  where (public.action_costs.cost, public.action_costs.max_input_chars, public.action_costs.enabled)
        is distinct from (excluded.cost, excluded.max_input_chars, excluded.enabled);
  update public.action_costs set enabled = false
   where enabled and not (cfg -> 'actions') ? action_type;

  insert into public.credit_packs
    (id, name, credits, bonus_credits, price_cents, currency, stripe_price_id, active)
  select k, v ->> 'name', (v ->> 'credits')::integer, coalesce((v ->> 'bonus_credits')::integer, 0),
         (v ->> 'price_cents')::integer, v ->> 'currency', nullif(v ->> 'stripe_price_id', ''),
         coalesce((v ->> 'active')::boolean, true)
    from jsonb_each(cfg -> 'packs') as e(k, v)
  on conflict (id) do update
    set name = excluded.name, credits = excluded.credits, bonus_credits = excluded.bonus_credits,
        price_cents = excluded.price_cents, currency = excluded.currency,
        stripe_price_id = excluded.stripe_price_id, active = excluded.active
  where (public.credit_packs.name, public.credit_packs.credits, public.credit_packs.bonus_credits,
         public.credit_packs.price_cents, public.credit_packs.currency,
         public.credit_packs.stripe_price_id, public.credit_packs.active)
        is distinct from
        (excluded.name, excluded.credits, excluded.bonus_credits, excluded.price_cents,
         excluded.currency, excluded.stripe_price_id, excluded.active);
  update public.credit_packs set active = false
   where active and not (cfg -> 'packs') ? id;

  insert into public.app_settings (key, value)
  select k, v from jsonb_each(jsonb_build_object(
    'default_tier', cfg #> '{signup,default_tier}',
    'anonymous_tier', cfg #> '{signup,anonymous_tier}',
    'signup_bonus_credits', cfg #> '{signup,bonus_credits}',
    'reset_timezone', cfg #> '{reset,timezone}',
    'reset_hour', cfg #> '{reset,hour}',
    'reset_batch_size', cfg #> '{reset,batch_size}',
    'max_pending_analyses', cfg #> '{limits,max_pending_analyses}',
    'max_input_bytes', cfg #> '{limits,max_input_bytes}',
    'max_saved_replies', cfg #> '{limits,max_saved_replies}',
    'screenshot_bucket', cfg #> '{storage,screenshot_bucket}',
    'fallback_tier', cfg #> '{subscriptions,fallback_tier}',
    'input_retention_days', cfg #> '{retention,input_days}',
    'max_attempts', cfg #> '{worker,max_attempts}',
    'retry_base_seconds', cfg #> '{worker,retry_base_seconds}'
  )) as e(k, v)
  on conflict (key) do update set value = excluded.value
  where public.app_settings.value is distinct from excluded.value;

  -- The private bucket screenshots are uploaded to (Supabase Storage, where present), and
  -- what Storage lets into it: files up to the size limit, of the screenshot types only.
  -- A Storage without upload limits (an older local cluster) gets the bucket alone; the
  -- worker still refuses bigger and other files.
  if v_buckets is null then
    null;
  elsif (select count(*) from pg_catalog.pg_attribute a
          where a.attrelid = v_buckets and not a.attisdropped
            and a.attname in ('file_size_limit', 'allowed_mime_types')) < 2 then
    execute 'insert into storage.buckets (id, name, public) values ($1, $1, false)'
            ' on conflict (id) do nothing'
      using cfg #>> '{storage,screenshot_bucket}';
  else
    execute 'insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)'
            ' values ($1, $1, false, $2, $3)'
            ' on conflict (id) do update set file_size_limit = excluded.file_size_limit,'
            ' allowed_mime_types = excluded.allowed_mime_types'
            ' where (storage.buckets.file_size_limit, storage.buckets.allowed_mime_types)'
            ' is distinct from (excluded.file_size_limit, excluded.allowed_mime_types)'
      using cfg #>> '{storage,screenshot_bucket}',
            (cfg #>> '{storage,max_screenshot_bytes}')::bigint,
            array(select jsonb_array_elements_text(cfg #> '{storage,screenshot_types}'));
  end if;

  select jsonb_build_object(
    'tiers', (select count(*) from public.tiers),
    'actions', (select count(*) from public.action_costs where enabled),
    'packs', (select count(*) from public.credit_packs where active),
    'settings', (select count(*) from public.app_settings)
  ) into v_counts;
  return v_counts;
end
$$;
