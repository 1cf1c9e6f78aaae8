// get_history: the user's analyses, newest first, one page at a time (keyset cursor).
import type { Client, CompositeTypes } from './client'
import { unwrap } from './errors'

export type HistoryItem = CompositeTypes<'history_item'>
export type HistoryPage = CompositeTypes<'history_page'>

/** One page; pass the previous page's next_cursor (opaque) for the next one. */
export async function getHistoryPage(
  supabase: Client,
  cursor: string | null = null,
  pageSize = 20,
): Promise<{ items: HistoryItem[]; nextCursor: string | null }> {
  const page = unwrap(
    await supabase.rpc('get_history', {
      page_size: pageSize,
      // no cursor: the first page (the parameter's default)
      ...(cursor === null ? {} : { cursor }),
    }),
  )
  return { items: page.items ?? [], nextCursor: page.next_cursor }
}

/** Every analysis, page after page, until next_cursor is null. */
export async function* allHistory(supabase: Client, pageSize = 50): AsyncGenerator<HistoryItem> {
  let cursor: string | null = null
  do {
    const page: { items: HistoryItem[]; nextCursor: string | null } = await getHistoryPage(
      supabase,
      cursor,
      pageSize,
    )
    yield* page.items
    cursor = page.nextCursor
  } while (cursor !== null)
}
