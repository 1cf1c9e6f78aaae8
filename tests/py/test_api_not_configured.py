"""An API deployed without its Stripe keys says so: 503, a stable code, and OpenAPI lists it."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from pyworker.api.app import create_app
from pyworker.settings import ROOT, load_config
from tests.py.dbtools import TestDatabase, balances
from tests.py.fakes import stripe_events as ev
from tests.py.fakes.billing_env import WEBHOOK_SECRET, auth, secrets_for

BILLING = [
    ("/api/user/buy_pack", {"pack_id": "small"}),
    ("/api/user/buy_quick_pack", {"pack_id": "small"}),
    ("/api/user/subscribe", {"tier": "premium"}),
    ("/api/user/billing_portal", None),
]


@pytest.mark.parametrize(("path", "body"), BILLING)
def test_payments_without_a_stripe_key_answer_503_payments_not_configured(
    db: TestDatabase, path: str, body: dict[str, str] | None
) -> None:
    user = db.create_user()
    secrets = secrets_for(db, "http://127.0.0.1:9").model_copy(update={"stripe_secret_key": None})
    with TestClient(create_app(load_config(), secrets, pool_size=2)) as client:
        response = client.post(path, json=body, headers=auth(user))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payments_not_configured"
    assert db.fetchone("select stripe_customer_id from users where id = %s", [user]) == {
        "stripe_customer_id": None
    }


def test_webhooks_without_a_signing_secret_answer_503_and_apply_nothing(db: TestDatabase) -> None:
    user = db.create_user()
    before = balances(db, user)
    secrets = secrets_for(db, "http://127.0.0.1:9").model_copy(
        update={"stripe_webhook_secret": None}
    )
    body, headers = ev.signed(
        ev.event("payment_intent.succeeded", ev.payment_intent(str(user), "small", 499)),
        WEBHOOK_SECRET,
    )
    with TestClient(create_app(load_config(), secrets, pool_size=2)) as client:
        response = client.post("/api/webhook/stripe", content=body, headers=headers)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "webhooks_not_configured"
    assert balances(db, user) == before


def test_openapi_documents_the_503_of_every_stripe_route() -> None:
    spec = json.loads((ROOT / "docs" / "openapi.json").read_text())
    routes = [path for path, _ in BILLING] + ["/api/user/cancel_subscription"]
    for path in [*routes, "/api/webhook/stripe"]:
        assert "503" in spec["paths"][path]["post"]["responses"], path
