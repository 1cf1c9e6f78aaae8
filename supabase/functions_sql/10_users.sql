-- Account creation: every auth.users insert gets a public.users row.

-- Create the account with the default tier's allowance and the signup bonus, and its ledger row.
create or replace function private.handle_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_tier public.tiers;
  v_bonus integer := coalesce((private.setting('signup_bonus_credits') #>> '{}')::integer, 0);
begin
  select t.* into v_tier
    from public.tiers t
   where t.id = private.setting('default_tier') #>> '{}';
  if not found then
    raise exception using errcode = 'P0001', message = 'default_tier_not_configured',
      hint = 'Run `flirt-admin config sync` before creating users.';
  end if;

  insert into public.users (id, email, tier, daily_credits, purchased_credits, daily_reset_on)
  values (new.id, new.email, v_tier.id, v_tier.daily_credits, v_bonus, private.credit_day());

  insert into public.credits_transactions
    (user_id, daily_delta, purchased_delta, kind, balance_after, reference)
  values
    (new.id, v_tier.daily_credits, v_bonus, 'signup_bonus', v_tier.daily_credits + v_bonus, 'signup');
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
