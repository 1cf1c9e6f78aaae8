"""Fixtures for the API tests: the fake Stripe, secrets, tokens and an in-process client."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from pyworker.api.app import create_app
from pyworker.settings import Secrets, load_config
from tests.py.dbtools import TestDatabase
from tests.py.fakes import stripe_fake

JWT_SECRET = "test-jwt-secret-at-least-32-bytes-long!!"
WEBHOOK_SECRET = "whsec_test_secret"


def token(
    user_id: uuid.UUID | str, key: Any = JWT_SECRET, algorithm: str = "HS256", **claims: Any
) -> str:
    """A Supabase-style access token for `user_id`, with claim overrides (None drops one)."""
    now = int(time.time())
    payload = {
        "sub": str(user_id),
        "aud": "authenticated",
        "role": "authenticated",
        "iat": now,
        "exp": now + 3600,
        "email": f"{user_id}@example.test",
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=algorithm)


def auth(user_id: uuid.UUID | str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user_id)}"}


def secrets_for(db: TestDatabase, stripe_url: str) -> Secrets:
    return Secrets(
        database_url=db.owner_dsn,
        supabase_url=None,
        supabase_jwks_url=None,
        supabase_jwt_secret=JWT_SECRET,
        stripe_secret_key="sk_test_fake",
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe_url,
    )


@pytest.fixture(name="fake_stripe")
def fake_stripe_fixture() -> Iterator[stripe_fake.FakeStripe]:
    yield from stripe_fake.serve()


@pytest.fixture(name="client")
def client_fixture(db: TestDatabase, fake_stripe: stripe_fake.FakeStripe) -> Iterator[TestClient]:
    app = create_app(load_config(), secrets_for(db, fake_stripe.url), pool_size=4)
    with TestClient(app) as test_client:
        yield test_client
