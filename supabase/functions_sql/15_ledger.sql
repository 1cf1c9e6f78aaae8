-- Ledger invariant: for every user, the ledger sums equal the buckets and the
-- newest row's balance_after equals credits_remaining.

-- Trigger on credits_transactions (first created by a migration): the ledger is append-only.
-- The one update allowed is the anonymisation done by `on delete set null` when an account
-- is deleted.
create or replace function private.guard_ledger_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE'
     and old.user_id is not null and new.user_id is null
     and (old.id, old.daily_delta, old.purchased_delta, old.kind, old.balance_after,
          old.reference, old.idempotency_key, old.metadata, old.created_at)
         is not distinct from
         (new.id, new.daily_delta, new.purchased_delta, new.kind, new.balance_after,
          new.reference, new.idempotency_key, new.metadata, new.created_at) then
    return new;
  end if;
  raise exception using
    errcode = '42501',
    message = 'ledger_append_only',
    hint = 'credits_transactions rows are never changed or deleted.';
end
$$;
-- no grant: only its trigger calls it

-- The ledger invariant for the page_size users after after_id (by id), so `reconcile` can
-- show progress; last_user_id ends the page.
create or replace function private.ledger_mismatches_page(after_id uuid, page_size integer)
returns table (
  user_id uuid,
  daily_credits integer,
  ledger_daily bigint,
  purchased_credits integer,
  ledger_purchased bigint,
  credits_remaining integer,
  last_balance_after integer,
  mismatch boolean,
  users_checked integer,
  last_user_id uuid
)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  -- EXECUTE plans with the actual page bounds: a generic plan of the page query (unknown
  -- limit) scans whole tables
  return query execute $q$
    with page as (
      select u.id, u.daily_credits, u.purchased_credits, u.credits_remaining
        from public.users u
       -- a plain range (not `after_id is null or …`) so the primary key index serves it
       where u.id > coalesce($1, '00000000-0000-0000-0000-000000000000'::uuid)
       order by u.id
       limit $2
    ), ledger as (
      -- the page is a contiguous id range: one range scan of the (user_id, id) index
      select t.user_id, sum(t.daily_delta) as daily, sum(t.purchased_delta) as purchased,
             max(t.id) as last_id
        from public.credits_transactions t
       where t.user_id between (select min(p.id::text)::uuid from page p)
                           and (select max(p.id::text)::uuid from page p)
       group by t.user_id
    ), checked as (
      select p.id, p.daily_credits, coalesce(l.daily, 0) as ledger_daily,
             p.purchased_credits, coalesce(l.purchased, 0) as ledger_purchased,
             p.credits_remaining, last.balance_after,
             (coalesce(l.daily, 0) <> p.daily_credits
               or coalesce(l.purchased, 0) <> p.purchased_credits
               or last.balance_after is distinct from p.credits_remaining) as mismatch
        from page p
        left join ledger l on l.user_id = p.id
        left join public.credits_transactions last on last.id = l.last_id
    ), summary as (
      select count(*)::integer as n, max(c.id::text)::uuid as last_id from checked c
    )
    -- every mismatching user, plus one summary row (user_id null) carrying the page's extent
    select c.id, c.daily_credits, c.ledger_daily, c.purchased_credits, c.ledger_purchased,
           c.credits_remaining, c.balance_after, true, s.n, s.last_id
      from checked c, summary s
     where c.mismatch
    union all
    select null, null, null, null, null, null, null, false, s.n, s.last_id
      from summary s
  $q$ using after_id, page_size;
end
$$;
grant execute on function private.ledger_mismatches_page(uuid, integer) to service_role;

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
  select p.user_id, p.daily_credits, p.ledger_daily, p.purchased_credits, p.ledger_purchased,
         p.credits_remaining, p.last_balance_after
    from private.ledger_mismatches_page(null, 2147483647) p
   where p.mismatch
$$;
grant execute on function private.ledger_mismatches() to service_role;

-- Change a user's buckets by the given deltas with its one ledger row; returns that row
-- (all fields null when the account no longer exists). Callers lock and check first; the
-- hot, set-based paths (perform_action, the daily reset batches) write their rows inline.
-- The daily part of an 'action' (charge) or 'action_refund' row also moves the day's use
-- (users.daily_used), which tier changes count against the new allowance.
create or replace function private.move_credits(
  target_user uuid,
  daily_delta integer,
  purchased_delta integer,
  kind text,
  reference text,
  ledger_key text default null,
  metadata jsonb default '{}'::jsonb
) returns public.credits_transactions
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance integer;
  v_row public.credits_transactions;
begin
  update public.users u
     set daily_credits = u.daily_credits + move_credits.daily_delta,
         purchased_credits = u.purchased_credits + move_credits.purchased_delta,
         daily_used = u.daily_used
                      - case when move_credits.kind in ('action', 'action_refund')
                             then move_credits.daily_delta else 0 end,
         updated_at = now()
   where u.id = target_user
  returning u.credits_remaining into v_balance;
  if not found then
    return v_row;
  end if;
  insert into public.credits_transactions as t
    (user_id, daily_delta, purchased_delta, kind, balance_after, reference, idempotency_key,
     metadata)
  values (target_user, move_credits.daily_delta, move_credits.purchased_delta, move_credits.kind,
          v_balance, move_credits.reference, ledger_key,
          coalesce(move_credits.metadata, '{}'::jsonb))
  returning t.* into v_row;
  return v_row;
end
$$;
grant execute on function private.move_credits(uuid, integer, integer, text, text, text, jsonb)
  to service_role;
