// Payments go through the Python API (Stripe): fetch with the user's access token.
// Request and response types follow docs/openapi.json.
import { accessToken, type Client } from './client'
import { FlirtError, fromApiResponse, fromNetwork, fromStatus, withRetry } from './errors'

/** POST /api/user/buy_pack and /buy_quick_pack: BuyPackBody */
export type BuyPackBody = { pack_id: string }
/** POST /api/user/subscribe: SubscribeBody */
export type SubscribeBody = { tier: string }
/** POST /api/user/cancel_subscription: CancelBody (at period end unless immediately) */
export type CancelBody = { immediately?: boolean }

/** A Stripe Checkout Session: send the browser to checkout_url. */
export type CheckoutOut = { checkout_url: string; session_id: string }
/** A PaymentIntent: confirm client_secret with Stripe.js (Payment Element). */
export type QuickPackOut = { client_secret: string; payment_intent_id: string }
/** New subscription: checkout_url/session_id; a plan change in place: subscription_id/status. */
export type SubscribeOut = {
  checkout_url: string | null
  session_id: string | null
  subscription_id?: string | null
  status?: string | null
}
export type CancelOut = {
  status: string
  cancel_at_period_end: boolean
  current_period_end: string | null
}
export type PortalOut = { url: string }

async function post<T>(supabase: Client, apiUrl: string, path: string, body?: object): Promise<T> {
  const token = await accessToken(supabase)
  if (token === null) {
    throw new FlirtError(fromStatus('api', 401, 'not_authenticated', 'Sign in to continue.'))
  }
  // One key per click: a retry after a network failure or 5xx gets the first Stripe object.
  const idempotencyKey = crypto.randomUUID()
  return withRetry(async () => {
    let response: Response
    try {
      response = await fetch(`${apiUrl}/api/user/${path}`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Idempotency-Key': idempotencyKey,
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    } catch (cause) {
      throw new FlirtError(fromNetwork(cause))
    }
    if (!response.ok) throw new FlirtError(await fromApiResponse(response))
    return (await response.json()) as T
  })
}

/** Buy a pack on Stripe Checkout; credits arrive with the payment's webhook. */
export async function buyPack(supabase: Client, apiUrl: string, packId: string): Promise<void> {
  const out = await post<CheckoutOut>(supabase, apiUrl, 'buy_pack', {
    pack_id: packId,
  } satisfies BuyPackBody)
  window.location.assign(out.checkout_url)
}

/** Buy a pack in place (Stripe Payment Element); returns what Stripe.js confirms. */
export function buyQuickPack(supabase: Client, apiUrl: string, packId: string): Promise<QuickPackOut> {
  return post<QuickPackOut>(supabase, apiUrl, 'buy_quick_pack', {
    pack_id: packId,
  } satisfies BuyPackBody)
}

/** Subscribe to a tier, or change the plan of the current subscription. */
export async function subscribe(supabase: Client, apiUrl: string, tier: string): Promise<SubscribeOut> {
  const out = await post<SubscribeOut>(supabase, apiUrl, 'subscribe', { tier } satisfies SubscribeBody)
  if (out.checkout_url !== null) window.location.assign(out.checkout_url)
  return out
}

/** Cancel at the end of the period (default) or at once. */
export function cancelSubscription(
  supabase: Client,
  apiUrl: string,
  immediately = false,
): Promise<CancelOut> {
  return post<CancelOut>(supabase, apiUrl, 'cancel_subscription', {
    immediately,
  } satisfies CancelBody)
}

/** Open Stripe's customer portal (invoices, payment method). */
export async function openBillingPortal(supabase: Client, apiUrl: string): Promise<void> {
  const out = await post<PortalOut>(supabase, apiUrl, 'billing_portal')
  window.location.assign(out.url)
}
