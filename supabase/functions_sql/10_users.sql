-- Account creation: every auth.users insert gets a public.users row.

-- Create the account with its tier's allowance and the signup bonus, and its ledger row.
-- An anonymous sign-in gets the anonymous tier and no bonus; the bonus waits for conversion.
create or replace function private.handle_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_tier public.tiers;
  v_tier_key text := case when new.is_anonymous then 'anonymous_tier' else 'default_tier' end;
  v_bonus integer := case when new.is_anonymous then 0 else
    coalesce((private.setting('signup_bonus_credits') #>> '{}')::integer, 0) end;
begin
  select t.* into v_tier
    from public.tiers t
   where t.id = private.setting(v_tier_key) #>> '{}';
  if not found then
    raise exception using errcode = 'P0001', message = v_tier_key || '_not_configured',
      hint = 'Run `flirt-admin config sync` before creating users.';
  end if;

  insert into public.users
    (id, email, tier, daily_credits, purchased_credits, daily_reset_on, signup_bonus_pending)
  values (new.id, new.email, v_tier.id, v_tier.daily_credits, v_bonus, private.credit_day(),
          new.is_anonymous);

  insert into public.credits_transactions
    (user_id, daily_delta, purchased_delta, kind, balance_after, reference, metadata)
  values
    (new.id, v_tier.daily_credits, v_bonus, 'signup_bonus', v_tier.daily_credits + v_bonus,
     'signup', case when new.is_anonymous then '{"anonymous":true}'::jsonb else '{}'::jsonb end);
  return new;
end
$$;

create or replace trigger on_auth_user_created
  after insert on auth.users
  for each row execute function private.handle_new_user();

-- Keep the account's email in step with auth.users.
create or replace function private.handle_user_email_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.users set email = new.email, updated_at = now() where id = new.id;
  return new;
end
$$;

create or replace trigger on_auth_user_email_changed
  after update of email on auth.users
  for each row when (old.email is distinct from new.email)
  execute function private.handle_user_email_change();

-- An anonymous account converted to a real one (is_anonymous true -> false): the default
-- tier, unless a live paid subscription has set one, and the signup bonus, once.
create or replace function private.handle_user_converted() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user record;
  v_tier text;
begin
  select u.tier, u.subscription_status, u.signup_bonus_pending into v_user
    from public.users u where u.id = new.id for update;
  if not found or not v_user.signup_bonus_pending then
    return new;  -- converted before (or never anonymous here): nothing is owed
  end if;
  v_tier := case when v_user.subscription_status in ('active', 'trialing', 'past_due')
                 then v_user.tier
                 else private.setting('default_tier') #>> '{}' end;
  perform private.set_tier(new.id, v_tier,
    coalesce((private.setting('signup_bonus_credits') #>> '{}')::integer, 0),
    'signup_bonus', 'signup', 'signup_bonus:' || new.id::text,
    '{"converted":true}'::jsonb);
  update public.users u set signup_bonus_pending = false where u.id = new.id;
  return new;
end
$$;

create or replace trigger on_auth_user_converted
  after update of is_anonymous on auth.users
  for each row when (old.is_anonymous and not new.is_anonymous)
  execute function private.handle_user_converted();
