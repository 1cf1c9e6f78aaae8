// save_reply, get_saved_replies (paged like the history), delete_saved_reply.
import type { Client, CompositeTypes } from './client'
import { unwrap } from './errors'

export type SavedReply = CompositeTypes<'saved_reply'>

/** Keep a reply (1–2000 characters); saving the same text again returns the first row. */
export async function saveReply(
  supabase: Client,
  analysisId: string,
  reply: string,
): Promise<SavedReply> {
  return unwrap(await supabase.rpc('save_reply', { analysis_id: analysisId, reply }))
}

export async function getSavedReplies(
  supabase: Client,
  cursor: string | null = null,
  pageSize = 50,
): Promise<{ items: SavedReply[]; nextCursor: string | null }> {
  const page = unwrap(
    await supabase.rpc('get_saved_replies', {
      page_size: pageSize,
      ...(cursor === null ? {} : { cursor }),
    }),
  )
  return { items: page.items ?? [], nextCursor: page.next_cursor }
}

/** Delete one of the user's replies; PT404 reply_not_found when it is not there. */
export async function deleteSavedReply(supabase: Client, replyId: string): Promise<void> {
  const row = unwrap(await supabase.rpc('delete_saved_reply', { reply_id: replyId }).single())
  if (!row.deleted) throw new Error(`reply ${row.id} was not deleted`)
}
