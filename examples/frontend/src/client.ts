// The Supabase client, typed with the generated Database type, and the access token
// that the Python API (/api/user/*) expects as `Authorization: Bearer <token>`.
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import type { Database } from '../../../supabase/types/database.types'

export type {
  CompositeTypes,
  Database,
  Json,
  Tables,
} from '../../../supabase/types/database.types'

export type Client = SupabaseClient<Database>

/** The RPCs as the generated file describes them: their arguments and results. */
export type Rpc = Database['public']['Functions']
export type RpcArgs<Fn extends keyof Rpc> = Rpc[Fn]['Args']
/** What `supabase.rpc(fn)` resolves to; for a `returns table` RPC, one row (`.single()`). */
export type RpcResult<Fn extends keyof Rpc> = Rpc[Fn]['Returns'] extends (infer Row)[]
  ? Row
  : Rpc[Fn]['Returns']

export interface Config {
  /** https://<project ref>.supabase.co */
  supabaseUrl: string
  /** The project's anon (publishable) key: safe in the browser. */
  supabaseAnonKey: string
  /** Where the Python API runs, e.g. https://api.example.com (no trailing slash). */
  apiUrl: string
}

/** One client for the whole app (in Vite: values from import.meta.env). */
export function makeClient(config: Config): Client {
  return createClient<Database>(config.supabaseUrl, config.supabaseAnonKey, {
    auth: { persistSession: true, autoRefreshToken: true },
  })
}

/**
 * The signed-in user's access token, or null when nobody is signed in.
 * getSession() refreshes an expired token first, so call it right before each request
 * instead of keeping the token around.
 */
export async function accessToken(supabase: Client): Promise<string | null> {
  const { data, error } = await supabase.auth.getSession()
  if (error) throw error
  return data.session?.access_token ?? null
}

/** The signed-in user's id (the folder of their screenshots), or null. */
export async function currentUserId(supabase: Client): Promise<string | null> {
  const { data, error } = await supabase.auth.getSession()
  if (error) throw error
  return data.session?.user.id ?? null
}
