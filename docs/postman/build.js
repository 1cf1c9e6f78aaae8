#!/usr/bin/env node
// Builds flirt-studio.postman_collection.json in two steps:
//   1. generate: docs/openapi.json → Postman requests, by openapi-to-postmanv2 (untouched
//      but for reproducibility: the schema faker is seeded and random ids are dropped);
//   2. complete: example bodies, {{API_URL}}, bearer auth with {{ACCESS_TOKEN}}, tests,
//      the signed sample Stripe webhook, and the folder of PostgREST RPC calls.
// Usage (from docs/postman): npm run build            rewrite the committed collection
//                            npm run build -- --out F write it to F instead
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const rpc = require('./rpc')
const scripts = require('./scripts')

const HERE = __dirname
const SPEC = path.join(HERE, '..', 'openapi.json')
const TARGET = path.join(HERE, 'flirt-studio.postman_collection.json')

const CONVERTER_OPTIONS = {
  folderStrategy: 'Tags',
  parametersResolution: 'Example',
  enableOptionalParameters: false,
  alwaysInheritAuthentication: true,
  includeAuthInfoInExample: false,
  requestNameSource: 'Fallback',
}

// ---------------------------------------------------------------------------
// 1. generate
// ---------------------------------------------------------------------------

// json-schema-faker fills pattern-constrained examples from Math.random: a fixed seed
// keeps the generated part identical from one run to the next.
function seededRandom(seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function dropIds(node) {
  if (Array.isArray(node)) return node.map(dropIds)
  if (node && typeof node === 'object') {
    const out = {}
    for (const [key, value] of Object.entries(node)) {
      if (key === 'id' || key === '_postman_id') continue
      out[key] = dropIds(value)
    }
    return out
  }
  return node
}

function generate() {
  const spec = JSON.parse(fs.readFileSync(SPEC, 'utf8'))
  // seeded before the converter loads: its faker keeps a reference to Math.random
  Math.random = seededRandom(20261205)
  const converter = require('openapi-to-postmanv2')
  let result
  converter.convertV2({ type: 'json', data: spec }, CONVERTER_OPTIONS, (err, res) => {
    if (err) throw err
    result = res
  })
  if (!result || !result.result) {
    throw new Error(`openapi-to-postmanv2 failed: ${result ? result.reason : 'no result'}`)
  }
  // the faker dates its date-time examples from the clock
  const text = JSON.stringify(dropIds(result.output[0].data)).replace(
    /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g,
    '2026-12-31T00:00:00Z',
  )
  return JSON.parse(text)
}

// ---------------------------------------------------------------------------
// 2. complete
// ---------------------------------------------------------------------------

const json = (value) => JSON.stringify(value, null, 2)
const rawJson = (value) => ({
  mode: 'raw',
  raw: typeof value === 'string' ? value : json(value),
  options: { raw: { language: 'json' } },
})
const event = (listen, exec) => ({ listen, script: { type: 'text/javascript', exec } })
const NO_AUTH = { type: 'noauth' }
const BEARER = { type: 'bearer', bearer: [{ key: 'token', value: '{{ACCESS_TOKEN}}', type: 'string' }] }

// What each generated request gets: an example body and the tests run by newman.
const COMPLETIONS = {
  'GET /healthz': { tests: scripts.healthz },
  'GET /readyz': { tests: scripts.readyz },
  'GET /metrics': { tests: scripts.metrics },
  'POST /api/user/buy_pack': { body: { pack_id: '{{PACK_ID}}' }, tests: scripts.checkout },
  'POST /api/user/buy_quick_pack': { body: { pack_id: '{{PACK_ID}}' }, tests: scripts.quickPack },
  'POST /api/user/subscribe': { body: { tier: '{{TIER}}' }, tests: scripts.subscribe },
  'POST /api/user/cancel_subscription': { body: { immediately: false }, tests: scripts.cancel },
  'POST /api/user/billing_portal': { tests: scripts.portal },
  'POST /api/webhook/stripe': {
    body: '{{webhook_body}}',
    prerequest: scripts.signSampleWebhook,
    tests: scripts.webhookApplied,
    auth: NO_AUTH,
  },
}

// Requests the spec does not list one by one: the answers a client must handle.
const EXTRA = {
  billing: [
    {
      name: 'Buy Pack without an access token (401)',
      auth: NO_AUTH,
      method: 'POST',
      path: '/api/user/buy_pack',
      body: { pack_id: '{{PACK_ID}}' },
      tests: scripts.unauthenticated,
    },
    {
      name: 'Buy Pack of an unknown pack (404)',
      method: 'POST',
      path: '/api/user/buy_pack',
      body: { pack_id: 'no_such_pack' },
      tests: scripts.packNotFound,
    },
  ],
  webhooks: [
    {
      name: 'Stripe Webhook, the same event again (applied once)',
      auth: NO_AUTH,
      method: 'POST',
      path: '/api/webhook/stripe',
      body: '{{webhook_body}}',
      prerequest: scripts.resignSampleWebhook,
      tests: scripts.webhookDuplicate,
    },
    {
      name: 'Stripe Webhook with a bad signature (400)',
      auth: NO_AUTH,
      method: 'POST',
      path: '/api/webhook/stripe',
      body: '{{webhook_body}}',
      prerequest: scripts.badSignature,
      tests: scripts.badSignatureRefused,
    },
  ],
}

function keyOf(request) {
  return `${request.method} /${request.url.path.join('/')}`
}

function apiUrl(segments) {
  return { raw: `{{API_URL}}/${segments.join('/')}`, host: ['{{API_URL}}'], path: segments }
}

function rebase(node) {
  // the converter names the server {{baseUrl}}; the collection calls it {{API_URL}}
  return JSON.parse(JSON.stringify(node).replaceAll('{{baseUrl}}', '{{API_URL}}'))
}

function completeRequest(item) {
  const key = keyOf(item.request)
  const completion = COMPLETIONS[key]
  if (!completion) throw new Error(`no completion for ${key}: describe it in build.js`)
  const request = item.request
  request.url = apiUrl(request.url.path)
  delete request.auth
  if (completion.auth) request.auth = completion.auth
  for (const header of request.header || []) {
    if (header.key === 'Idempotency-Key') header.value = '{{$guid}}'
    if (header.key === 'Stripe-Signature') header.value = '{{stripe_signature}}'
  }
  if (completion.body !== undefined) request.body = rawJson(completion.body)
  const events = []
  if (completion.prerequest) events.push(event('prerequest', completion.prerequest))
  events.push(event('test', [...scripts.errorShape, ...completion.tests]))
  return { name: item.name, event: events, request, response: item.response }
}

function extraRequest(spec) {
  const headers = [{ key: 'Accept', value: 'application/json' }]
  if (spec.body !== undefined) headers.push({ key: 'Content-Type', value: 'application/json' })
  if (spec.path === '/api/webhook/stripe') {
    headers.push({ key: 'Stripe-Signature', value: '{{stripe_signature}}' })
  }
  const request = {
    method: spec.method,
    header: headers,
    url: apiUrl(spec.path.slice(1).split('/')),
  }
  if (spec.auth) request.auth = spec.auth
  if (spec.body !== undefined) request.body = rawJson(spec.body)
  const events = []
  if (spec.prerequest) events.push(event('prerequest', spec.prerequest))
  events.push(event('test', [...scripts.errorShape, ...spec.tests]))
  return { name: spec.name, event: events, request }
}

const FOLDER_TEXT = {
  ops: 'Liveness, readiness and Prometheus metrics. No token needed.',
  billing:
    'Stripe checkout, quick packs, subscriptions, cancel and the customer portal, for the ' +
    'signed-in user: `Authorization: Bearer {{ACCESS_TOKEN}}` (the Supabase access token). ' +
    'Errors answer `{"error": {"code", "message", "detail"}}`; 503 `payments_not_configured` ' +
    'when the API has no STRIPE_SECRET_KEY, 502 `payment_provider_error` when Stripe failed.',
  webhooks:
    "Stripe's deliveries. The pre-request script builds a sample `payment_intent.succeeded` " +
    'for {{USER_ID}} and the pack {{PACK_ID}} at its price, and signs it the way Stripe does ' +
    '(`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>"` keyed with ' +
    '{{STRIPE_WEBHOOK_SECRET}}). Run it only against a test-mode deployment: it grants credits.',
}
const FOLDER_ORDER = ['ops', 'billing', 'webhooks']

function complete(generated) {
  const folders = new Map(generated.item.map((folder) => [folder.name, folder]))
  const missing = [...folders.keys()].filter((name) => !FOLDER_ORDER.includes(name))
  if (missing.length) throw new Error(`new tag(s) in the spec: ${missing.join(', ')}`)
  const httpFolders = FOLDER_ORDER.filter((name) => folders.has(name)).map((name) => {
    const folder = folders.get(name)
    const items = [...folder.item].sort((a, b) => a.name.localeCompare(b.name))
    return {
      name,
      description: FOLDER_TEXT[name],
      item: [...items.map(completeRequest), ...(EXTRA[name] || []).map(extraRequest)],
    }
  })
  return {
    info: {
      name: 'AI Flirt Studio',
      description:
        'The backend as the frontend calls it.\n\n' +
        '* **HTTP API**: generated from docs/openapi.json (openapi-to-postmanv2), with example ' +
        'bodies and tests; runs green with newman against `flirt-admin api run`.\n' +
        '* **PostgREST RPCs**: every RPC the signed-in user may call, as supabase-js calls ' +
        'it: `POST {{SUPABASE_URL}}/rest/v1/rpc/<function>` with the project anon key as ' +
        '`apikey` and the user access token as `Authorization: Bearer`.\n\n' +
        'Set the variables in an environment (see flirt-studio.postman_environment.json). ' +
        'Built by `npm run build` in docs/postman; edit build.js, rpc.js or scripts.js, ' +
        'never the collection itself.',
      schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json',
    },
    auth: BEARER,
    item: [
      {
        name: 'HTTP API',
        description: rebase(generated.info.description || {}).content || '',
        item: rebase(httpFolders),
      },
      rpc.folder(),
    ],
    variable: [
      { key: 'API_URL', value: 'http://127.0.0.1:8000' },
      { key: 'ACCESS_TOKEN', value: '' },
      { key: 'USER_ID', value: '' },
      { key: 'SUPABASE_URL', value: 'https://<project-ref>.supabase.co' },
      { key: 'SUPABASE_ANON_KEY', value: '' },
      { key: 'STRIPE_WEBHOOK_SECRET', value: '' },
      { key: 'PACK_ID', value: 'small' },
      { key: 'PACK_PRICE_CENTS', value: '499' },
      { key: 'PACK_CURRENCY', value: 'usd' },
      { key: 'TIER', value: 'premium' },
    ],
  }
}

function main() {
  const args = process.argv.slice(2)
  const outIndex = args.indexOf('--out')
  const out = outIndex >= 0 ? args[outIndex + 1] : TARGET
  const collection = complete(generate())
  fs.writeFileSync(out, `${json(collection)}\n`)
}

main()
