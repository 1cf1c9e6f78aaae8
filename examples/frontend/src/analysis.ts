// get_analysis, and waiting for an analysis to finish with Realtime instead of polling.
import type { RealtimeChannel } from '@supabase/supabase-js'
import type { Client, CompositeTypes, Json, Tables } from './client'
import { unwrap } from './errors'

/** The whole analysis; `input`, `result` and `usage` are JSON documents (below). */
export type Analysis = CompositeTypes<'analysis_detail'>
export type AnalysisStatus = 'queued' | 'processing' | 'done' | 'failed'

/**
 * The schema of `result` once the analysis is done (the worker validates it before
 * storing it): a summary, an interest level 0–10, the tone, red flags, and three
 * suggested replies.
 */
export type AnalysisResult = {
  summary: string
  interest_level: number
  tone: string
  red_flags: string[]
  suggestions: { reply: string; style: string; rationale: string }[]
}

/** `usage`: the AI provider's token counts. */
export type Usage = { prompt_tokens: number; completion_tokens: number }

function isObject(value: Json | undefined): value is { [key: string]: Json | undefined } {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** `result` as AnalysisResult, or null while there is none (queued, processing, failed). */
export function parseResult(result: Json | null): AnalysisResult | null {
  if (!isObject(result)) return null
  const { summary, interest_level, tone, red_flags, suggestions } = result
  if (
    typeof summary !== 'string' ||
    typeof interest_level !== 'number' ||
    typeof tone !== 'string' ||
    !Array.isArray(red_flags) ||
    !Array.isArray(suggestions)
  ) {
    return null
  }
  return {
    summary,
    interest_level,
    tone,
    red_flags: red_flags.filter((flag): flag is string => typeof flag === 'string'),
    suggestions: suggestions.filter(isObject).map((s) => ({
      reply: typeof s.reply === 'string' ? s.reply : '',
      style: typeof s.style === 'string' ? s.style : '',
      rationale: typeof s.rationale === 'string' ? s.rationale : '',
    })),
  }
}

/** One of the user's analyses; PT404 analysis_not_found for any other id. */
export async function getAnalysis(supabase: Client, analysisId: string): Promise<Analysis> {
  return unwrap(await supabase.rpc('get_analysis', { analysis_id: analysisId }))
}

export function isFinished(status: string | null): boolean {
  return status === 'done' || status === 'failed'
}

/**
 * Call `onFinished` once when the analysis is done or failed (a failed one was refunded:
 * re-read get_credits). Realtime sends the updates of the user's own `analyses` rows (RLS);
 * once subscribed, get_analysis is read once, for an analysis that finished before.
 * Returns a function that stops watching.
 */
export function watchAnalysis(
  supabase: Client,
  analysisId: string,
  onFinished: (analysis: Analysis) => void,
  onError: (error: unknown) => void = console.error,
): () => void {
  let done = false
  const finish = (analysis: Analysis): void => {
    if (done || !isFinished(analysis.status)) return
    done = true
    void supabase.removeChannel(channel)
    onFinished(analysis)
  }
  const channel: RealtimeChannel = supabase
    .channel(`analysis-${analysisId}`)
    .on<Tables<'analyses'>>(
      'postgres_changes',
      { event: 'UPDATE', schema: 'public', table: 'analyses', filter: `id=eq.${analysisId}` },
      (payload) => {
        // the row as stored; get_analysis gives the documented shape
        if (isFinished(payload.new.status)) {
          getAnalysis(supabase, analysisId).then(finish, onError)
        }
      },
    )
    .subscribe((state, error) => {
      if (state === 'SUBSCRIBED') getAnalysis(supabase, analysisId).then(finish, onError)
      if (error) onError(error)
    })
  return () => {
    done = true
    void supabase.removeChannel(channel)
  }
}
