// The PostgREST folder: every RPC the signed-in user may call, the way supabase-js
// calls it (POST {{SUPABASE_URL}}/rest/v1/rpc/<function>, JSON body of named
// parameters, the anon key as apikey and the user's access token as bearer), plus the
// configuration tables the app reads. For a hosted project: no PostgREST runs locally.
'use strict'

const { lines } = require('./scripts')

// Each RPC: its parameters (JSON body), the fields of a successful answer, and what
// the test keeps for the next request. `error` names an expected PostgREST error.
const RPCS = [
  {
    fn: 'get_credits',
    body: {},
    fields: ['credits_remaining', 'daily_credits', 'purchased_credits', 'daily_limit', 'tier',
      'next_reset_at', 'restricted'],
  },
  {
    fn: 'perform_action',
    body: {
      action_type: 'short_chat',
      input: { chat: 'Them: free friday?\nMe: maybe!', context: { goal: 'a date', tone: 'playful' } },
      idempotency_key: '{{$guid}}',
    },
    fields: ['analysis_id', 'status', 'cost', 'credits_remaining', 'daily_credits',
      'purchased_credits', 'replayed'],
    keep: { ANALYSIS_ID: 'analysis_id' },
  },
  {
    fn: 'get_analysis',
    body: { analysis_id: '{{ANALYSIS_ID}}' },
    fields: ['analysis_id', 'action_type', 'status', 'cost', 'input', 'result', 'error', 'model',
      'usage', 'created_at', 'started_at', 'finished_at'],
  },
  {
    fn: 'get_analysis',
    name: 'get_analysis with a malformed id (400, do not retry)',
    body: { analysis_id: 'not-a-uuid' },
    error: { status: 400, code: '22P02' },
  },
  {
    fn: 'get_history',
    body: { page_size: 20, cursor: null },
    fields: ['items', 'next_cursor'],
  },
  {
    fn: 'save_reply',
    body: { analysis_id: '{{ANALYSIS_ID}}', reply: 'Drinks on friday?' },
    fields: ['id', 'analysis_id', 'reply', 'created_at'],
    keep: { REPLY_ID: 'id' },
  },
  {
    fn: 'get_saved_replies',
    body: { page_size: 50, cursor: null },
    fields: ['items', 'next_cursor'],
  },
  {
    fn: 'delete_saved_reply',
    body: { reply_id: '{{REPLY_ID}}' },
    fields: ['id', 'deleted'],
  },
  {
    fn: 'export_my_data',
    body: {},
    fields: ['exported_at', 'account', 'credits_transactions', 'analyses', 'saved_replies', 'payments'],
  },
  {
    fn: 'admin_get_metrics',
    body: { from_date: '2026-11-01', to_date: '2026-11-07' },
    admin: true,
  },
  {
    fn: 'admin_list_users',
    body: { search: 'alice', tier: null, page_size: 50, page_offset: 0 },
    admin: true,
  },
  {
    fn: 'admin_adjust_credits',
    body: { user_id: '{{USER_ID}}', delta: 25, reason: 'support ticket 4711' },
    admin: true,
  },
]

const TABLES = [
  { table: 'action_costs', query: 'select=action_type,cost,max_input_chars,enabled' },
  { table: 'tiers', query: 'select=*&order=sort_order' },
  { table: 'credit_packs', query: 'select=*&active=eq.true' },
]

const HEADERS = [
  { key: 'apikey', value: '{{SUPABASE_ANON_KEY}}' },
  { key: 'Authorization', value: 'Bearer {{ACCESS_TOKEN}}' },
  { key: 'Accept', value: 'application/json' },
]

function rpcTests(spec) {
  if (spec.error) {
    return lines(`
pm.test('${spec.error.status} ${spec.error.code}: a permanent error, not worth a retry', () => {
  pm.response.to.have.status(${spec.error.status})
  pm.expect(pm.response.json().code).to.equal('${spec.error.code}')
})
`)
  }
  if (spec.admin) {
    return lines(`
pm.test('200 for an admin, 403 forbidden for everyone else', () => {
  pm.expect(pm.response.code).to.be.oneOf([200, 403])
  if (pm.response.code === 403) {
    const error = pm.response.json()
    pm.expect(error.code).to.equal('PT403')
    pm.expect(error.message).to.equal('forbidden')
  }
})
`)
  }
  const keep = Object.entries(spec.keep || {}).map(
    ([variable, field]) => `  pm.collectionVariables.set('${variable}', data.${field})`,
  )
  return [
    ...lines(`
pm.test('200 with ${spec.fields.join(', ')}', () => {
  pm.response.to.have.status(200)
  const json = pm.response.json()
  // a composite result is an object; a set-returning one an array of one row
  const data = Array.isArray(json) ? json[0] : json
  pm.expect(data).to.include.all.keys(${spec.fields.map((f) => `'${f}'`).join(', ')})
`),
    ...keep,
    '})',
  ]
}

function rpcRequest(spec) {
  return {
    name: spec.name || spec.fn,
    event: [{ listen: 'test', script: { type: 'text/javascript', exec: rpcTests(spec) } }],
    request: {
      method: 'POST',
      header: [...HEADERS, { key: 'Content-Type', value: 'application/json' }],
      url: {
        raw: `{{SUPABASE_URL}}/rest/v1/rpc/${spec.fn}`,
        host: ['{{SUPABASE_URL}}'],
        path: ['rest', 'v1', 'rpc', spec.fn],
      },
      body: {
        mode: 'raw',
        raw: JSON.stringify(spec.body, null, 2),
        options: { raw: { language: 'json' } },
      },
    },
  }
}

function tableRequest(spec) {
  const query = spec.query.split('&').map((pair) => {
    const [key, value] = pair.split('=')
    return { key, value }
  })
  return {
    name: `select ${spec.table}`,
    event: [
      {
        listen: 'test',
        script: {
          type: 'text/javascript',
          exec: lines(`
pm.test('200: rows anyone may read', () => {
  pm.response.to.have.status(200)
  pm.expect(pm.response.json()).to.be.an('array')
})
`),
        },
      },
    ],
    request: {
      method: 'GET',
      header: HEADERS,
      url: {
        raw: `{{SUPABASE_URL}}/rest/v1/${spec.table}?${spec.query}`,
        host: ['{{SUPABASE_URL}}'],
        path: ['rest', 'v1', spec.table],
        query,
      },
    },
  }
}

function folder() {
  return {
    name: 'PostgREST RPCs (hosted project)',
    description:
      'What supabase-js sends for `supabase.rpc(fn, params)`: `POST ' +
      '{{SUPABASE_URL}}/rest/v1/rpc/<fn>` with the named parameters as a JSON object, ' +
      '`apikey: {{SUPABASE_ANON_KEY}}` and `Authorization: Bearer {{ACCESS_TOKEN}}` (a ' +
      "signed-in user's access token). Errors answer `{code, message, details, hint}`: " +
      '`code` PTxxx with HTTP status xxx, `message` the stable snake_case code, `details` a ' +
      'JSON string with the figures. Run in order: perform_action keeps ANALYSIS_ID for ' +
      'get_analysis and save_reply, save_reply keeps REPLY_ID for delete_saved_reply. The ' +
      'admin RPCs answer 403 forbidden unless the user is an admin. See docs/frontend.md.',
    auth: { type: 'noauth' },
    item: [...RPCS.map(rpcRequest), ...TABLES.map(tableRequest)],
  }
}

module.exports = { folder, RPCS }
