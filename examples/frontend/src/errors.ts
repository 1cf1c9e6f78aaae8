// One place that turns every failure into what the UI does: retry or not, and what to show.
//
// RPC errors (supabase-js `PostgrestError`): `code` is `PT<status>` for the backend's own
// errors, `message` a stable snake_case code, `details` a JSON string with the figures,
// `hint` a sentence. Python API errors (/api/user/*): `{error: {code, message, detail}}`
// with the HTTP status (docs/openapi.json, ErrorOut).
import type { PostgrestError, PostgrestSingleResponse } from '@supabase/supabase-js'

/** Whether to send the request again. */
export type Retry =
  | 'no' //             permanent: the same request fails the same way
  | 'same_request' //   temporary: send it again as is (same idempotency key) with backoff
  | 'after_sign_in' //  refresh or renew the session, then send it again
  | 'later' //          the service is busy or down: offer "try again" after a while

/** What the UI shows. */
export type Show =
  | 'sign_in'
  | 'buy_credits'
  | 'fix_input' //        highlight detail.field
  | 'wait_for_analyses'
  | 'contact_support'
  | 'not_found'
  | 'not_allowed'
  | 'already_done'
  | 'delete_saved_replies' // the saved replies are at their limit: delete some first
  | 'pay_open_invoice' // the billing portal: pay the unpaid invoice first
  | 'unavailable' //      "payments/analyses are unavailable right now"
  | 'try_again'
  | 'bug' //              our mistake: log it, show a generic message

export interface AppError {
  source: 'rpc' | 'api' | 'network'
  /** HTTP status; 0 when nothing answered. */
  status: number
  /** Stable snake_case code, e.g. insufficient_credits. */
  code: string
  /** The figures, e.g. {required: 20, available: 7}. */
  detail: Record<string, unknown>
  /** A sentence that may be shown as is. */
  hint: string
  retry: Retry
  show: Show
}

export class FlirtError extends Error {
  constructor(readonly info: AppError) {
    super(`${info.code} (${info.status})`)
    this.name = 'FlirtError'
  }
}

type Rule = { retry: Retry; show: Show }
const rule = (retry: Retry, show: Show): Rule => ({ retry, show })

/** Every code the backend answers with (RPCs and the Python API). */
const RULES: Record<string, Rule> = {
  // any RPC or route
  not_authenticated: rule('after_sign_in', 'sign_in'),
  invalid_token: rule('after_sign_in', 'sign_in'),
  token_expired: rule('after_sign_in', 'sign_in'),
  invalid_input: rule('no', 'fix_input'),
  invalid_request: rule('no', 'fix_input'),
  // perform_action
  unknown_action: rule('no', 'bug'),
  action_disabled: rule('no', 'unavailable'),
  idempotency_key_reused: rule('no', 'bug'),
  account_restricted: rule('no', 'contact_support'),
  too_many_pending: rule('later', 'wait_for_analyses'),
  insufficient_credits: rule('no', 'buy_credits'),
  // history, saved replies, admin
  analysis_not_found: rule('no', 'not_found'),
  reply_not_found: rule('no', 'not_found'),
  too_many_saved_replies: rule('no', 'delete_saved_replies'),
  user_not_found: rule('no', 'not_found'),
  forbidden: rule('no', 'not_allowed'),
  would_go_negative: rule('no', 'fix_input'),
  // billing (/api/user/*)
  pack_not_found: rule('no', 'bug'),
  tier_not_found: rule('no', 'bug'),
  tier_not_purchasable: rule('no', 'bug'),
  no_subscription: rule('no', 'not_found'),
  already_subscribed: rule('no', 'already_done'),
  subscription_not_active: rule('no', 'pay_open_invoice'),
  payment_provider_error: rule('same_request', 'try_again'),
  payments_not_configured: rule('no', 'unavailable'),
  // any route of the Python API
  payload_too_large: rule('no', 'bug'),
  internal_error: rule('later', 'try_again'),
}

/** A code the table does not know: decided by the HTTP status alone. */
function byStatus(status: number): Rule {
  if (status === 0) return rule('same_request', 'try_again') // network: nothing answered
  if (status === 401) return rule('after_sign_in', 'sign_in')
  if (status === 403) return rule('no', 'not_allowed')
  if (status === 404) return rule('no', 'not_found')
  if (status === 408 || status === 429) return rule('later', 'try_again')
  if (status >= 500) return rule('same_request', 'try_again')
  return rule('no', 'bug') // any other 4xx: the request itself is wrong (e.g. a malformed uuid)
}

function parseDetail(text: string | null | undefined): Record<string, unknown> {
  if (!text) return {}
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : { text }
  } catch {
    return { text }
  }
}

/** An RPC error. `status` is the response's (0 when the request never got an answer). */
export function fromRpc(error: PostgrestError, status: number): AppError {
  const own = /^PT\d{3}$/.test(error.code)
  const httpStatus = own ? Number(error.code.slice(2)) : status
  const code = own ? error.message : error.code || 'network_error'
  const known = own ? RULES[code] : undefined
  const { retry, show } = known ?? byStatus(httpStatus)
  return {
    source: httpStatus === 0 ? 'network' : 'rpc',
    status: httpStatus,
    code,
    detail: own ? parseDetail(error.details) : { message: error.message, details: error.details },
    hint: error.hint || error.message,
    retry,
    show,
  }
}

/** The data of an RPC response, or a FlirtError. */
export function unwrap<T>(response: PostgrestSingleResponse<T>): T {
  if (response.error) throw new FlirtError(fromRpc(response.error, response.status))
  return response.data
}

/** The API's error body (ErrorOut in docs/openapi.json). */
export interface ApiErrorBody {
  error: { code: string; message: string; detail: Record<string, unknown> }
}

function isApiErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false
  const inner: unknown = value.error
  return typeof inner === 'object' && inner !== null && 'code' in inner && 'message' in inner
}

/** A failed /api/user/* response. */
export async function fromApiResponse(response: Response): Promise<AppError> {
  const body: unknown = await response.json().catch(() => null)
  const status = response.status
  if (isApiErrorBody(body)) {
    const { retry, show } = RULES[body.error.code] ?? byStatus(status)
    return {
      source: 'api',
      status,
      code: body.error.code,
      detail: body.error.detail ?? {},
      hint: body.error.message,
      retry,
      show,
    }
  }
  return { source: 'api', status, code: `http_${status}`, detail: {}, hint: '', ...byStatus(status) }
}

/** An error known only by its HTTP status (e.g. from Storage); 0 when nothing answered. */
export function fromStatus(
  source: AppError['source'],
  status: number,
  code: string,
  hint: string,
): AppError {
  return { source, status, code, detail: {}, hint, ...byStatus(status) }
}

/** fetch() itself failed: offline, DNS, CORS, aborted. */
export function fromNetwork(cause: unknown): AppError {
  return {
    source: 'network',
    status: 0,
    code: 'network_error',
    detail: { message: cause instanceof Error ? cause.message : String(cause) },
    hint: 'No connection. Check your network and try again.',
    ...byStatus(0),
  }
}

/** Retry `call` while its error says the same request may be sent again (exponential backoff). */
export async function withRetry<T>(call: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call()
    } catch (e) {
      const again = e instanceof FlirtError && e.info.retry === 'same_request'
      if (!again || attempt >= attempts) throw e
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** (attempt - 1)))
    }
  }
}
