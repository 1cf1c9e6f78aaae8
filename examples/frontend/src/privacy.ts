// export_my_data: everything stored about the user, as table rows.
import type { Client, CompositeTypes } from './client'
import { unwrap } from './errors'

/**
 * {exported_at, account, credits_transactions, analyses, saved_replies, payments}: each a
 * row (or rows) of the table of that name, as in Tables<'users'>, Tables<'analyses'>, …
 */
export type DataExport = CompositeTypes<'data_export'>

export async function exportMyData(supabase: Client): Promise<DataExport> {
  return unwrap(await supabase.rpc('export_my_data'))
}

/** Offer the export as a JSON file download. */
export async function downloadMyData(supabase: Client): Promise<void> {
  const data = await exportMyData(supabase)
  const url = URL.createObjectURL(
    new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }),
  )
  const link = document.createElement('a')
  link.href = url
  link.download = `flirt-studio-export-${(data.exported_at ?? '').slice(0, 10)}.json`
  link.click()
  URL.revokeObjectURL(url)
}
