// A screenshot analysis: upload to Storage at `<user id>/<file name>`, then image_analysis.
import { newIdempotencyKey, performAction, type Context, type Receipt } from './actions'
import { currentUserId, type Client } from './client'
import { FlirtError, fromStatus } from './errors'

/** config.toml [storage] screenshot_bucket */
export const SCREENSHOT_BUCKET = 'screenshots'

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
}

/** Upload the file into the user's own folder and return its path in the bucket. */
export async function uploadScreenshot(supabase: Client, file: Blob): Promise<string> {
  const userId = await currentUserId(supabase)
  if (userId === null) {
    throw new FlirtError(fromStatus('api', 401, 'not_authenticated', 'Sign in to continue.'))
  }
  // one folder per user, nothing deeper: perform_action checks the prefix
  const path = `${userId}/${crypto.randomUUID()}.${EXTENSIONS[file.type] ?? 'png'}`
  const { error } = await supabase.storage
    .from(SCREENSHOT_BUCKET)
    .upload(path, file, { contentType: file.type || 'image/png', upsert: false })
  // 400/403: the upload policy refused the path; 409: the name is taken; 413: too large
  if (error) {
    throw new FlirtError(fromStatus('api', error.status ?? 0, 'upload_failed', error.message))
  }
  return path
}

/** Upload, then charge and queue the image analysis (one key for the whole intent). */
export async function analyseScreenshot(
  supabase: Client,
  file: Blob,
  context?: Context,
): Promise<Receipt> {
  const key = newIdempotencyKey()
  const imagePath = await uploadScreenshot(supabase, file)
  return performAction(
    supabase,
    {
      action_type: 'image_analysis',
      input: context ? { image_path: imagePath, context } : { image_path: imagePath },
    },
    key,
  )
}
