// Balances (get_credits) and the price lists anyone may read.
import type { Client, RpcResult, Tables } from './client'
import { unwrap } from './errors'

/** {credits_remaining, daily_credits, purchased_credits, daily_limit, tier, next_reset_at, restricted} */
export type Credits = RpcResult<'get_credits'>

/** The signed-in user's balances; applies a due daily reset first. */
export async function getCredits(supabase: Client): Promise<Credits> {
  // get_credits returns a table of one row: .single() makes it an object
  return unwrap(await supabase.rpc('get_credits').single())
}

export type Pack = Pick<
  Tables<'credit_packs'>,
  'id' | 'name' | 'credits' | 'bonus_credits' | 'price_cents' | 'currency'
>

/** Credit packs on sale, cheapest first. */
export async function listPacks(supabase: Client): Promise<Pack[]> {
  return unwrap(
    await supabase
      .from('credit_packs')
      .select('id, name, credits, bonus_credits, price_cents, currency')
      .eq('active', true)
      .order('price_cents'),
  )
}

/** Subscription tiers and their daily allowance. */
export async function listTiers(supabase: Client): Promise<Tables<'tiers'>[]> {
  return unwrap(await supabase.from('tiers').select('*').order('sort_order'))
}

/** What each action costs, and whether it is switched on. */
export async function listActionCosts(
  supabase: Client,
): Promise<Pick<Tables<'action_costs'>, 'action_type' | 'cost' | 'max_input_chars' | 'enabled'>[]> {
  return unwrap(
    await supabase.from('action_costs').select('action_type, cost, max_input_chars, enabled'),
  )
}

/** "95 + 50 credits, refills at 01:00" */
export function describeCredits(credits: Credits, locale = 'en'): string {
  const refill = new Date(credits.next_reset_at).toLocaleTimeString(locale, {
    hour: '2-digit',
    minute: '2-digit',
  })
  return `${credits.daily_credits} + ${credits.purchased_credits} credits, refills at ${refill}`
}
