// Admin RPCs: for users whose role is 'admin' (everyone else gets PT403 forbidden).
import type { Client, CompositeTypes, RpcResult, Tables } from './client'
import { unwrap } from './errors'

export type MetricsReport = CompositeTypes<'admin_metrics_report'>
/** One day: a row of admin_metrics (actions_by_type and revenue_cents are {key: number} maps). */
export type MetricsDay = Tables<'admin_metrics'>
export type AdminUser = CompositeTypes<'admin_user'>
export type UsersPage = CompositeTypes<'admin_users_page'>
export type Adjustment = RpcResult<'admin_adjust_credits'>

/** Daily metrics between two UTC dates (YYYY-MM-DD), at most 366 days. */
export async function getMetrics(supabase: Client, from: string, to: string): Promise<MetricsReport> {
  return unwrap(await supabase.rpc('admin_get_metrics', { from_date: from, to_date: to }))
}

/** A {key: number} map from the metrics (actions by type, revenue by currency). */
export function countsOf(map: MetricsDay['actions_by_type'] | null): Record<string, number> {
  const counts: Record<string, number> = {}
  if (typeof map === 'object' && map !== null && !Array.isArray(map)) {
    for (const [key, value] of Object.entries(map)) {
      if (typeof value === 'number') counts[key] = value
    }
  }
  return counts
}

/** Accounts, newest first, filtered by email/id text and tier. */
export async function listUsers(
  supabase: Client,
  filter: { search?: string; tier?: string; pageSize?: number; pageOffset?: number } = {},
): Promise<{ items: AdminUser[]; total: number }> {
  const page = unwrap(
    await supabase.rpc('admin_list_users', {
      ...(filter.search === undefined ? {} : { search: filter.search }),
      ...(filter.tier === undefined ? {} : { tier: filter.tier }),
      page_size: filter.pageSize ?? 50,
      page_offset: filter.pageOffset ?? 0,
    }),
  )
  return { items: page.items ?? [], total: page.total ?? 0 }
}

/** Move a user's purchased credits (never below zero) with a reason for the ledger. */
export async function adjustCredits(
  supabase: Client,
  userId: string,
  delta: number,
  reason: string,
): Promise<Adjustment> {
  return unwrap(
    await supabase.rpc('admin_adjust_credits', { user_id: userId, delta, reason }).single(),
  )
}
