// Pre-request and test scripts of the collection, one array of lines each (Postman's
// `exec`). They run in the Postman sandbox: pm, CryptoJS and the Chai `pm.expect`.
'use strict'

const lines = (text) => text.replace(/^\n/, '').replace(/\n\s*$/, '').split('\n')

// Every error of the HTTP API has one shape.
const errorShape = lines(`
if (pm.response.code >= 400) {
  pm.test('an error answers {error: {code, message, detail}}', () => {
    const body = pm.response.json()
    pm.expect(body.error.code).to.be.a('string').and.match(/^[a-z_]+$/)
    pm.expect(body.error.message).to.be.a('string')
    pm.expect(body.error.detail).to.be.an('object')
  })
}
`)

const healthz = lines(`
pm.test('200: the process answers', () => {
  pm.response.to.have.status(200)
  pm.expect(pm.response.json()).to.eql({ status: 'ok' })
})
`)

const readyz = lines(`
pm.test('200: the database answers', () => {
  pm.response.to.have.status(200)
  pm.expect(pm.response.json()).to.eql({ status: 'ok' })
})
`)

const metrics = lines(`
pm.test('200: Prometheus text with the billing and webhook series', () => {
  pm.response.to.have.status(200)
  pm.expect(pm.response.headers.get('Content-Type')).to.include('text/plain')
  pm.expect(pm.response.text()).to.include('flirt_webhook_events_total')
})
`)

const checkout = lines(`
pm.test('200: a Checkout Session to redirect to', () => {
  pm.response.to.have.status(200)
  const body = pm.response.json()
  pm.expect(body.checkout_url).to.match(/^https:\\/\\//)
  pm.expect(body.session_id).to.match(/^cs_/)
})
`)

const quickPack = lines(`
pm.test('200: a PaymentIntent to confirm with Stripe.js', () => {
  pm.response.to.have.status(200)
  const body = pm.response.json()
  pm.expect(body.payment_intent_id).to.match(/^pi_/)
  pm.expect(body.client_secret).to.include('_secret_')
})
`)

const subscribe = lines(`
pm.test('200: Checkout for a new subscription, or the subscription changed in place', () => {
  pm.response.to.have.status(200)
  const body = pm.response.json()
  if (body.checkout_url) {
    pm.expect(body.checkout_url).to.match(/^https:\\/\\//)
    pm.expect(body.session_id).to.match(/^cs_/)
  } else {
    pm.expect(body.subscription_id).to.match(/^sub_/)
    pm.expect(body.status).to.be.a('string')
  }
})
`)

const cancel = lines(`
pm.test('200 with the subscription state, or 404 no_subscription', () => {
  pm.expect(pm.response.code).to.be.oneOf([200, 404])
  const body = pm.response.json()
  if (pm.response.code === 404) {
    pm.expect(body.error.code).to.equal('no_subscription')
  } else {
    pm.expect(body.status).to.be.a('string')
    pm.expect(body.cancel_at_period_end).to.be.a('boolean')
  }
})
`)

const portal = lines(`
pm.test('200: a customer portal URL', () => {
  pm.response.to.have.status(200)
  pm.expect(pm.response.json().url).to.match(/^https:\\/\\//)
})
`)

const unauthenticated = lines(`
pm.test('401 not_authenticated, with WWW-Authenticate: Bearer', () => {
  pm.response.to.have.status(401)
  pm.expect(pm.response.json().error.code).to.equal('not_authenticated')
  pm.expect(pm.response.headers.get('WWW-Authenticate')).to.equal('Bearer')
})
`)

const packNotFound = lines(`
pm.test('404 pack_not_found, naming the pack', () => {
  pm.response.to.have.status(404)
  const error = pm.response.json().error
  pm.expect(error.code).to.equal('pack_not_found')
  pm.expect(error.detail.pack_id).to.equal('no_such_pack')
})
`)

// Stripe's scheme: Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256("<t>.<raw body>")>,
// keyed with the endpoint's whole signing secret (whsec_…).
const SIGN = lines(`
function signStripe(body) {
  const secret = pm.variables.get('STRIPE_WEBHOOK_SECRET')
  if (!secret) throw new Error('set STRIPE_WEBHOOK_SECRET (the endpoint signing secret, whsec_...)')
  const t = Math.floor(Date.now() / 1000)
  const v1 = CryptoJS.HmacSHA256(t + '.' + body, secret).toString(CryptoJS.enc.Hex)
  pm.variables.set('stripe_signature', 't=' + t + ',v1=' + v1)
}
`)

const signSampleWebhook = [
  ...SIGN,
  ...lines(`
// A sample payment_intent.succeeded: the pack {{PACK_ID}} paid at its price by {{USER_ID}}.
const userId = pm.variables.get('USER_ID')
if (!userId) throw new Error('set USER_ID (the user the sample payment credits)')
const suffix = Date.now().toString(36) + Math.floor(Math.random() * 1e9).toString(36)
const intentId = 'pi_postman_' + suffix
const now = Math.floor(Date.now() / 1000)
const amount = Number(pm.variables.get('PACK_PRICE_CENTS'))
const body = JSON.stringify({
  id: 'evt_postman_' + suffix,
  object: 'event',
  api_version: '2025-03-31.basil',
  created: now,
  livemode: false,
  pending_webhooks: 1,
  request: { id: null, idempotency_key: null },
  type: 'payment_intent.succeeded',
  data: {
    object: {
      id: intentId,
      object: 'payment_intent',
      amount: amount,
      amount_received: amount,
      currency: pm.variables.get('PACK_CURRENCY'),
      customer: null,
      latest_charge: 'ch_postman_' + suffix,
      livemode: false,
      created: now,
      status: 'succeeded',
      metadata: { user_id: userId, pack_id: pm.variables.get('PACK_ID') },
    },
    previous_attributes: {},
  },
})
// the request body is {{webhook_body}}: exactly the bytes signed here
pm.collectionVariables.set('webhook_body', body)
pm.collectionVariables.set('webhook_event_id', 'evt_postman_' + suffix)
signStripe(body)
`),
]

const resignSampleWebhook = [
  ...SIGN,
  ...lines(`
// Stripe delivers an event again when it saw no 2xx: same id, a fresh signature.
signStripe(pm.collectionVariables.get('webhook_body'))
`),
]

const badSignature = [
  ...SIGN,
  ...lines(`
signStripe(pm.collectionVariables.get('webhook_body') + ' ')
`),
]

const webhookApplied = lines(`
pm.test('200: the event is recorded and applied once', () => {
  pm.response.to.have.status(200)
  const body = pm.response.json()
  pm.expect(body.received).to.equal(true)
  pm.expect(body.event_id).to.equal(pm.collectionVariables.get('webhook_event_id'))
  pm.expect(body.status).to.equal('processed')
  pm.expect(body.duplicate).to.equal(false)
})
`)

const webhookDuplicate = lines(`
pm.test('200: a second delivery is acknowledged and changes nothing', () => {
  pm.response.to.have.status(200)
  const body = pm.response.json()
  pm.expect(body.event_id).to.equal(pm.collectionVariables.get('webhook_event_id'))
  pm.expect(body.duplicate).to.equal(true)
})
`)

const badSignatureRefused = lines(`
pm.test('400 invalid_signature: a body that is not the one signed is refused', () => {
  pm.response.to.have.status(400)
  pm.expect(pm.response.json().error.code).to.equal('invalid_signature')
})
`)

module.exports = {
  lines,
  errorShape,
  healthz,
  readyz,
  metrics,
  checkout,
  quickPack,
  subscribe,
  cancel,
  portal,
  unauthenticated,
  packNotFound,
  signSampleWebhook,
  resignSampleWebhook,
  badSignature,
  webhookApplied,
  webhookDuplicate,
  badSignatureRefused,
}
