-- Ledger invariant: for every user, the ledger sums equal the buckets and the
-- newest row's balance_after equals credits_remaining.

-- Every user whose balances disagree with their ledger (empty when all is well).
create or replace function private.ledger_mismatches()
returns table (
  user_id uuid,
  daily_credits integer,
  ledger_daily bigint,
  purchased_credits integer,
  ledger_purchased bigint,
  credits_remaining integer,
  last_balance_after integer
)
language sql
stable
security definer
set search_path = ''
as $$
  select u.id, u.daily_credits, coalesce(l.daily, 0), u.purchased_credits, coalesce(l.purchased, 0),
         u.credits_remaining, last.balance_after
    from public.users u
    left join lateral (
      select sum(t.daily_delta) as daily, sum(t.purchased_delta) as purchased
        from public.credits_transactions t where t.user_id = u.id
    ) l on true
    left join lateral (
      select t.balance_after from public.credits_transactions t
       where t.user_id = u.id order by t.id desc limit 1
    ) last on true
   where coalesce(l.daily, 0) <> u.daily_credits
      or coalesce(l.purchased, 0) <> u.purchased_credits
      or last.balance_after is distinct from u.credits_remaining
$$;
grant execute on function private.ledger_mismatches() to service_role;
