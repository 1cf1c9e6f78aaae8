// perform_action: charge an action and queue its analysis, safely retried with an
// idempotency key (a retry with the same key returns the first analysis, replayed: true,
// and charges nothing).
import type { Client, RpcResult } from './client'
import { unwrap, withRetry } from './errors'

/** Strings of at most 200 characters each. */
export type Context = { goal?: string; tone?: string }
/** short_chat / long_chat: chat is non-blank, at most the action's max_input_chars. */
export type ChatInput = { chat: string; context?: Context }
/** image_analysis: a file uploaded to `<user id>/<file name>` in the screenshot bucket. */
export type ImageInput = { image_path: string; context?: Context }

export type ChatAction = 'short_chat' | 'long_chat'
export type ActionRequest =
  | { action_type: ChatAction; input: ChatInput }
  | { action_type: 'image_analysis'; input: ImageInput }

/** {analysis_id, status, cost, credits_remaining, daily_credits, purchased_credits, replayed} */
export type Receipt = RpcResult<'perform_action'>

/** One key per user intent (one click on "Analyse"): keep it for that intent's retries. */
export function newIdempotencyKey(): string {
  return crypto.randomUUID()
}

/** Charge and queue once; a network failure or 5xx is retried with the same key. */
export async function performAction(
  supabase: Client,
  request: ActionRequest,
  idempotencyKey: string = newIdempotencyKey(),
): Promise<Receipt> {
  return withRetry(async () =>
    unwrap(
      await supabase
        .rpc('perform_action', {
          action_type: request.action_type,
          input: request.input,
          idempotency_key: idempotencyKey,
        })
        .single(),
    ),
  )
}
