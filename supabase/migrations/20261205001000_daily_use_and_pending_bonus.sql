-- The credit day's bookkeeping: how many daily credits an account has used
-- today (net of refunds), so a tier change sets the daily bucket to the new
-- allowance minus that use instead of refilling it; the credit day of an
-- analysis's latest charge, so a refund returns daily credits only within it;
-- and a signup bonus still owed to an anonymous account until it converts.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

alter table public.users
  add column daily_used integer not null default 0
    constraint users_daily_used_nonnegative check (daily_used >= 0),
  add column signup_bonus_pending boolean not null default false;
comment on column public.users.daily_used is
  'Daily credits used on the credit day daily_reset_on, net of refunds (0 after each reset).';
comment on column public.users.signup_bonus_pending is
  'An anonymous account: the signup bonus is granted once, when it converts to a real one.';

-- null: the credit day of created_at (the first charge); set when an admin retry charges again
alter table public.analyses add column charged_on date;

-- Today's use as far as the balances show it: whatever the allowance lacks. Rows not reset
-- today are reset (use back to 0) before anything reads it.
update public.users u
   set daily_used = t.daily_credits - u.daily_credits
  from public.tiers t
 where t.id = u.tier and u.daily_credits < t.daily_credits;
