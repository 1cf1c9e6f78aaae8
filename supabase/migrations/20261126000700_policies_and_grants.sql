-- Row Level Security policies and table privileges.
-- One policy per operation and role, `(select auth.uid())` so it is evaluated
-- once per statement. Writes by users go through RPC functions only: a direct
-- write is refused with a permission error (42501).

set local lock_timeout = '5s';
set local statement_timeout = '60s';

revoke all on all tables in schema public from anon, authenticated;
revoke all on all sequences in schema public from anon, authenticated;
grant all on all tables in schema public to service_role;
grant usage on all sequences in schema public to service_role;

-- Configuration: everyone reads what is on offer (retired rows stay for history).
grant select on public.tiers, public.action_costs, public.credit_packs to anon, authenticated;

create policy "Anyone can read active tiers" on public.tiers
  for select to anon, authenticated using (active);
create policy "Anyone can read enabled actions" on public.action_costs
  for select to anon, authenticated using (enabled);
create policy "Anyone can read active credit packs" on public.credit_packs
  for select to anon, authenticated using (active);
create policy "Service role reads settings" on public.app_settings
  for select to service_role using (true);

-- Own rows: readable by their owner only.
grant select on public.users, public.credits_transactions, public.analyses,
  public.saved_replies, public.payments to authenticated;

create policy "Users read their own account" on public.users
  for select to authenticated using (id = (select auth.uid()));
create policy "Users read their own ledger" on public.credits_transactions
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users read their own analyses" on public.analyses
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users read their own saved replies" on public.saved_replies
  for select to authenticated using (user_id = (select auth.uid()));
create policy "Users read their own payments" on public.payments
  for select to authenticated using (user_id = (select auth.uid()));

-- Service-only tables.
create policy "Service role reads webhook events" on public.stripe_webhook_events
  for select to service_role using (true);
create policy "Service role reads admin metrics" on public.admin_metrics
  for select to service_role using (true);
