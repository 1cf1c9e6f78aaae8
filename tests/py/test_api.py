"""HTTP API: Supabase JWT auth, the billing endpoints against a fake Stripe, ops endpoints."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from pyworker.api.app import create_app
from pyworker.settings import ROOT, load_config
from tests.py.dbtools import TestDatabase, rpc
from tests.py.fakes import stripe_events as ev
from tests.py.fakes.billing_env import (  # noqa: F401
    JWT_SECRET,
    WEBHOOK_SECRET,
    auth,
    client_fixture,
    fake_stripe_fixture,
    secrets_for,
    token,
)
from tests.py.fakes.stripe_fake import FakeStripe

CFG = load_config()


def error_code(response: object) -> str:
    return response.json()["error"]["code"]  # type: ignore[attr-defined, no-any-return]


# -- authentication --------------------------------------------------------


def _none_token(user: uuid.UUID) -> str:
    header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    claims = {"sub": str(user), "aud": "authenticated", "exp": int(time.time()) + 600}
    body = jwt.utils.base64url_encode(json.dumps(claims).encode())
    return f"{header.decode()}.{body.decode()}."


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("missing", "not_authenticated"),
        ("expired", "token_expired"),
        ("wrong_key", "invalid_token"),
        ("wrong_audience", "invalid_token"),
        ("alg_none", "invalid_token"),
        ("no_expiry", "invalid_token"),
        ("garbage", "invalid_token"),
    ],
)
def test_bad_or_missing_token_gets_401(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe, case: str, code: str
) -> None:
    user = db.create_user()
    tokens = {
        "expired": token(user, exp=int(time.time()) - 10),
        "wrong_key": token(user, key="another-secret-that-is-long-enough!!"),
        "wrong_audience": token(user, aud="anon"),
        "alg_none": _none_token(user),
        "no_expiry": token(user, exp=None),
        "garbage": "not.a.jwt",
    }
    headers = {} if case == "missing" else {"Authorization": f"Bearer {tokens[case]}"}
    response = client.post("/api/user/buy_pack", json={"pack_id": "small"}, headers=headers)
    assert response.status_code == 401
    assert error_code(response) == code
    assert response.headers["www-authenticate"] == "Bearer"
    assert fake_stripe.calls == []


def test_issuer_is_checked_when_supabase_url_is_set(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    secrets = secrets_for(db, fake_stripe.url).model_copy(
        update={"supabase_url": "https://proj.supabase.co"}
    )
    with TestClient(create_app(CFG, secrets, pool_size=2)) as c:
        other = {"Authorization": f"Bearer {token(user, iss='https://evil.example/auth/v1')}"}
        assert c.post("/api/user/billing_portal", headers=other).status_code == 401
        good = {"Authorization": f"Bearer {token(user, iss='https://proj.supabase.co/auth/v1')}"}
        assert c.post("/api/user/billing_portal", headers=good).status_code == 200


@contextmanager
def serve_json(document: dict[str, object]) -> Iterator[str]:
    """Serve `document` over HTTP on loopback (a project's JWKS endpoint); yields its URL."""
    data = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/auth/v1/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def test_rs256_token_is_verified_with_the_project_jwks(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    signed = jwt.encode(
        {"sub": str(user), "aud": "authenticated", "exp": int(time.time()) + 600},
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    with serve_json({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}) as url:
        secrets = secrets_for(db, fake_stripe.url).model_copy(
            update={"supabase_jwks_url": url, "supabase_jwt_secret": None}
        )
        with TestClient(create_app(CFG, secrets, pool_size=2)) as c:
            ok = c.post("/api/user/billing_portal", headers={"Authorization": f"Bearer {signed}"})
            assert ok.status_code == 200, ok.text
            # an HS256 token is refused when only the JWKS is configured
            assert c.post("/api/user/billing_portal", headers=auth(user)).status_code == 401


# -- billing endpoints --------------------------------------------------------


def test_buy_pack_creates_checkout_session_with_metadata_and_idempotency(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    response = client.post("/api/user/buy_pack", json={"pack_id": "medium"}, headers=auth(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["checkout_url"].startswith("https://") and body["session_id"].startswith("cs_")
    assert fake_stripe.violations == []
    [call] = fake_stripe.creates("/v1/checkout/sessions")
    assert call.params["mode"] == "payment"
    assert call.params["line_items[0][price]"] == CFG.packs["medium"].stripe_price_id
    assert call.params["client_reference_id"] == str(user)
    assert call.params["metadata[user_id]"] == str(user)
    assert call.params["payment_intent_data[metadata][pack_id]"] == "medium"
    assert call.headers["idempotency-key"].startswith(f"buy_pack:{user}:medium:")
    assert call.headers["stripe-version"] == CFG.stripe.api_version
    # nothing is granted before Stripe says the payment succeeded
    assert db.fetchone("select count(*) as n from payments") == {"n": 0}
    account = db.fetchone("select stripe_customer_id from users where id = %s", [user])
    assert account is not None and account["stripe_customer_id"] == call.params["customer"]


def test_client_idempotency_key_is_passed_to_stripe(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    headers = {**auth(user), "Idempotency-Key": "attempt-1"}
    client.post("/api/user/buy_pack", json={"pack_id": "small"}, headers=headers)
    client.post("/api/user/buy_pack", json={"pack_id": "small"}, headers=headers)
    keys = [c.headers["idempotency-key"] for c in fake_stripe.creates("/v1/checkout/sessions")]
    assert keys == [f"buy_pack:{user}:small:attempt-1"] * 2


def test_buy_quick_pack_creates_payment_intent_for_pack_price(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    response = client.post(
        "/api/user/buy_quick_pack", json={"pack_id": "small"}, headers=auth(user)
    )
    assert response.status_code == 200, response.text
    assert response.json()["client_secret"].startswith(response.json()["payment_intent_id"])
    [call] = fake_stripe.creates("/v1/payment_intents")
    assert call.params["amount"] == str(CFG.packs["small"].price_cents)
    assert call.params["metadata[user_id]"] == str(user)
    assert call.params["metadata[pack_id]"] == "small"
    assert fake_stripe.violations == []


def test_unknown_or_invalid_pack_is_refused_without_calling_stripe(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    unknown = client.post("/api/user/buy_pack", json={"pack_id": "nope"}, headers=auth(user))
    assert unknown.status_code == 404 and error_code(unknown) == "pack_not_found"
    invalid = client.post("/api/user/buy_pack", json={"pack": "small"}, headers=auth(user))
    assert invalid.status_code == 422 and error_code(invalid) == "invalid_request"
    assert invalid.json()["error"]["detail"]["errors"]
    assert fake_stripe.calls == []


def test_concurrent_first_purchases_create_one_stripe_customer(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    fake_stripe.customer_delay = 0.3
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(
                lambda pack: client.post(
                    "/api/user/buy_pack", json={"pack_id": pack}, headers=auth(user)
                ),
                ["small", "medium", "large", "small"],
            )
        )
    assert [r.status_code for r in responses] == [200] * 4
    # each request may ask Stripe, always with the user's own key: one customer exists
    keys = {c.headers["idempotency-key"] for c in fake_stripe.creates("/v1/customers")}
    assert keys == {f"customer:{user}"}
    assert len(fake_stripe.customers) == 1
    customers = {c.params["customer"] for c in fake_stripe.creates("/v1/checkout/sessions")}
    assert customers == set(fake_stripe.customers)
    row = db.fetchone("select stripe_customer_id as c from users where id = %s", [user])
    assert row == {"c": next(iter(fake_stripe.customers))}


def test_slow_stripe_does_not_delay_the_users_perform_action(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    fake_stripe.delays["customers.create"] = 4.0
    with ThreadPoolExecutor(1) as pool, db.api_connect() as conn:
        buying = pool.submit(
            client.post, "/api/user/buy_pack", json={"pack_id": "small"}, headers=auth(user)
        )
        deadline = time.monotonic() + 10
        while not fake_stripe.started("POST", "/v1/customers"):
            assert time.monotonic() < deadline, "the customer was never created"
            time.sleep(0.01)
        time.sleep(0.2)  # the purchase now waits for Stripe
        started = time.perf_counter()
        out = rpc(conn, user, "perform_action", action_type="short_chat", input={"chat": "hi"})
        took = time.perf_counter() - started
        assert took < 0.25, f"perform_action waited {took:.2f}s for the Stripe call"
        assert not buying.done(), "Stripe answered before the action was timed"
        assert buying.result().status_code == 200
    assert out["status"] == "queued"


def test_stripe_failure_gives_502_and_records_nothing(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    fake_stripe.fail_with = 500
    response = client.post(
        "/api/user/buy_quick_pack", json={"pack_id": "small"}, headers=auth(user)
    )
    assert response.status_code == 502
    assert error_code(response) == "payment_provider_error"
    assert "nothing was charged" in response.json()["error"]["message"]
    assert db.fetchone("select count(*) as n from payments") == {"n": 0}
    row = db.fetchone("select stripe_customer_id from users where id = %s", [user])
    assert row == {"stripe_customer_id": None}


def _subscribe_via_webhook(
    client: TestClient, db: TestDatabase, fake: FakeStripe, user: uuid.UUID, tier: str
) -> str:
    """Checkout for `tier`, then Stripe's subscription event, as it happens in production."""
    response = client.post("/api/user/subscribe", json={"tier": tier}, headers=auth(user))
    assert response.status_code == 200, response.text
    assert response.json()["checkout_url"]
    customer = db.fetchone("select stripe_customer_id as c from users where id = %s", [user])
    assert customer is not None
    sub = fake.add_subscription(customer["c"], CFG.tiers[tier].stripe_price_id, str(user))
    body, headers = ev.signed(ev.event("customer.subscription.created", sub), WEBHOOK_SECRET)
    assert client.post("/api/webhook/stripe", content=body, headers=headers).status_code == 200
    return str(sub["id"])


def test_subscribe_uses_subscription_checkout_with_metadata(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    _subscribe_via_webhook(client, db, fake_stripe, user, "premium")
    [call] = fake_stripe.creates("/v1/checkout/sessions")
    assert call.params["mode"] == "subscription"
    assert call.params["line_items[0][price]"] == CFG.tiers["premium"].stripe_price_id
    assert call.params["subscription_data[metadata][user_id]"] == str(user)
    assert call.params["subscription_data[metadata][tier]"] == "premium"
    assert call.params["client_reference_id"] == str(user)
    assert db.fetchone("select tier from users where id = %s", [user]) == {"tier": "premium"}
    again = client.post("/api/user/subscribe", json={"tier": "premium"}, headers=auth(user))
    assert again.status_code == 409 and error_code(again) == "already_subscribed"


def test_changing_tier_while_subscribed_modifies_the_subscription_with_proration(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    sub_id = _subscribe_via_webhook(client, db, fake_stripe, user, "premium")
    response = client.post("/api/user/subscribe", json={"tier": "pro"}, headers=auth(user))
    assert response.status_code == 200, response.text
    assert response.json()["subscription_id"] == sub_id and response.json()["checkout_url"] is None
    [update] = [
        c
        for c in fake_stripe.calls
        if c.path == f"/v1/subscriptions/{sub_id}" and c.method == "POST"
    ]
    assert update.params["proration_behavior"] == "always_invoice"
    assert update.params["payment_behavior"] == "pending_if_incomplete"
    assert update.params["items[0][price]"] == CFG.tiers["pro"].stripe_price_id
    assert update.headers["idempotency-key"]
    assert len(fake_stripe.creates("/v1/checkout/sessions")) == 1  # never a second subscription
    assert len(fake_stripe.subscriptions) == 1
    assert fake_stripe.violations == []


@pytest.mark.parametrize("immediately", [False, True])
def test_cancel_subscription_at_period_end_or_immediately(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe, immediately: bool
) -> None:
    user = db.create_user()
    sub_id = _subscribe_via_webhook(client, db, fake_stripe, user, "premium")
    response = client.post(
        "/api/user/cancel_subscription", json={"immediately": immediately}, headers=auth(user)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    if immediately:
        assert body["status"] == "canceled"
        assert [c.method for c in fake_stripe.calls if c.path == f"/v1/subscriptions/{sub_id}"] == [
            "DELETE"
        ]
    else:
        assert body["status"] == "active" and body["cancel_at_period_end"] is True
        assert body["current_period_end"] is not None


def test_cancel_without_subscription_is_404(db: TestDatabase, client: TestClient) -> None:
    user = db.create_user()
    response = client.post("/api/user/cancel_subscription", json={}, headers=auth(user))
    assert response.status_code == 404 and error_code(response) == "no_subscription"


def test_billing_portal_returns_portal_url_for_the_users_customer(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    response = client.post("/api/user/billing_portal", headers=auth(user))
    assert response.status_code == 200, response.text
    [customer] = fake_stripe.customers
    assert response.json()["url"].endswith(customer)
    assert fake_stripe.creates("/v1/customers")[0].params["metadata[user_id]"] == str(user)


def test_restricted_account_cannot_buy(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    db.execute("update users set restricted_reason = 'payment_disputed' where id = %s", [user])
    response = client.post("/api/user/buy_pack", json={"pack_id": "small"}, headers=auth(user))
    assert response.status_code == 403 and error_code(response) == "account_restricted"
    assert fake_stripe.calls == []


# -- ops -------------------------------------------------------------------------


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(fake_stripe: FakeStripe) -> None:
    from pyworker.settings import Secrets

    secrets = Secrets(database_url="postgresql://nobody@127.0.0.1:1/none", supabase_jwt_secret="x")
    with TestClient(create_app(CFG, secrets, pool_size=1)) as c:
        response = c.get("/readyz")
    assert response.status_code == 503 and error_code(response) == "database_unavailable"


def test_cors_allows_only_configured_origins(client: TestClient) -> None:
    origin = CFG.api.cors_origins[0]
    ok = client.options(
        "/api/user/buy_pack",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert ok.headers["access-control-allow-origin"] == origin
    other = client.options(
        "/api/user/buy_pack",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers
    # Stripe calls the webhook server to server: no browser may, even from an allowed origin
    webhook = client.options(
        "/api/webhook/stripe",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in webhook.headers


def test_committed_openapi_matches_the_app(client: TestClient) -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert client.get("/openapi.json").json() == committed, (
        "docs/openapi.json is stale: run `python -m pyworker.api.openapi > docs/openapi.json`"
    )


def test_unknown_route_uses_the_error_shape(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found", "detail": {}}}


USER_ROUTES = [
    ("/api/user/buy_pack", {"pack_id": "small"}),
    ("/api/user/buy_quick_pack", {"pack_id": "small"}),
    ("/api/user/subscribe", {"tier": "premium"}),
    ("/api/user/cancel_subscription", {"immediately": False}),
    ("/api/user/billing_portal", None),
]


@pytest.mark.parametrize(("path", "body"), USER_ROUTES)
def test_every_user_route_answers_and_documents_404_and_413(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe, path: str, body: object
) -> None:
    documented = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
    # a valid token whose account is gone (deleted meanwhile)
    gone = client.post(path, json=body, headers=auth(uuid.uuid4()))
    assert (gone.status_code, error_code(gone)) == (404, "user_not_found")
    assert "404" in documented
    # a body over [api] max_body_bytes is refused while it is read
    user = db.create_user()
    big = client.post(path, json={"pad": "x" * 20_000}, headers=auth(user))
    assert (big.status_code, error_code(big)) == (413, "payload_too_large")
    assert "413" in documented
    assert fake_stripe.calls == []  # neither reached Stripe
