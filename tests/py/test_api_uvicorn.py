"""The API as deployed: `flirt-admin api run` (uvicorn) in its own process.

One served database and one fake Stripe for the module. Covers concurrent
duplicate webhook deliveries and a schemathesis run over the OpenAPI spec.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyworker import devstack
from pyworker.settings import load_config
from tests.py.conftest import TEMPLATE, _free_port
from tests.py.dbtools import TestDatabase, balances, ledger_mismatches
from tests.py.fakes import stripe_events as ev
from tests.py.fakes import stripe_fake
from tests.py.fakes.billing_env import JWT_SECRET, WEBHOOK_SECRET, auth

CFG = load_config()
METRICS_TOKEN = "uvicorn-metrics-token"


@dataclass
class Served:
    db: TestDatabase
    fake: stripe_fake.FakeStripe
    url: str
    port: int
    log: Path


@pytest.fixture(scope="module")
def served(cluster: devstack.Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    name = f"api_{os.getpid()}"
    cluster.create_database(name, template=TEMPLATE)
    db = TestDatabase(name, cluster.port)
    fakes = stripe_fake.serve()
    fake = next(fakes)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db.owner_dsn,
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        "SUPABASE_URL": "",
        "SUPABASE_JWKS_URL": "",
        "STRIPE_SECRET_KEY": "sk_test_fake",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake.url,
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    log = tmp_path_factory.mktemp("api") / "api.log"
    with log.open("wb") as out:
        # cwd outside the checkout: a developer's .env must not leak into the test
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield Served(db, fake, url, port, log)
        assert ledger_mismatches(db) == [], "ledger invariant broken"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        next(fakes, None)
        cluster.drop_database(name)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"api exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"api not ready: {log.read_text()[-2000:]}")


def test_same_event_delivered_20_times_concurrently_has_one_effect(served: Served) -> None:
    db = served.db
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    evt = ev.event("payment_intent.succeeded", ev.payment_intent(str(user), "medium", 1999))
    body, headers = ev.signed(evt, WEBHOOK_SECRET)
    barrier = threading.Barrier(20)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def deliver() -> None:
        with httpx.Client(base_url=served.url, timeout=30) as http:
            barrier.wait()
            response = http.post("/api/webhook/stripe", content=body, headers=headers)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 20
    assert sorted(r.json()["duplicate"] for r in results) == [False] + [True] * 19
    assert balances(db, user)["purchased_credits"] == before + 550
    purchases = db.fetchall(
        "select 1 from credits_transactions where user_id = %s and kind = 'purchase'", [user]
    )
    assert len(purchases) == 1
    row = db.fetchone(
        "select status, attempts from stripe_webhook_events where id = %s", [evt["id"]]
    )
    assert row == {"status": "processed", "attempts": 1}


def test_schemathesis_finds_no_server_errors(served: Served) -> None:
    user = served.db.create_user()
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    headers = auth(user)
    # fuzz everything, plus valid pack ids and tiers so the Stripe paths run too
    valid = [
        schema[path]["POST"].as_strategy(headers=headers, body=body)
        for path, body in [
            *(("/api/user/buy_pack", {"pack_id": p}) for p in CFG.packs),
            *(("/api/user/buy_quick_pack", {"pack_id": p}) for p in CFG.packs),
            *(("/api/user/subscribe", {"tier": t}) for t in CFG.tiers),
        ]
    ]
    strategy = st.one_of(
        schema.as_strategy(schemathesis.GenerationMode.POSITIVE, headers=headers),
        schema.as_strategy(schemathesis.GenerationMode.NEGATIVE, headers=headers),
        *valid,
    )
    failures: list[str] = []
    seen: Counter[tuple[str, int]] = Counter()

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: Any) -> None:
        response = case.call(base_url=served.url, timeout=30)
        seen[(case.path, response.status_code)] += 1
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
            )

    check()
    assert failures == []
    # the run reached the business logic, not only validation errors
    assert seen[("/api/user/buy_pack", 200)] > 0, seen
    assert served.fake.violations == []


def _log_since(served: Served, offset: int, until: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = served.log.read_bytes()[offset:].decode(errors="replace")
        if until in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_client_that_disconnects_mid_webhook_is_one_log_line_and_changes_nothing(
    served: Served,
) -> None:
    db = served.db
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    evt = ev.event("payment_intent.succeeded", ev.payment_intent(str(user), "small", 499))
    body, headers = ev.signed(evt, WEBHOOK_SECRET)
    offset = served.log.stat().st_size
    head = (
        f"POST /api/webhook/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Stripe-Signature: {headers['Stripe-Signature']}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
        time.sleep(0.3)  # the server is now waiting for the rest of the body
    text = _log_since(served, offset, "stripe_webhook_client_disconnected")
    assert text.count("stripe_webhook_client_disconnected") == 1, text
    assert "Traceback" not in text and "api_unhandled_error" not in text, text
    found = db.fetchone("select 1 as found from stripe_webhook_events where id = %s", [evt["id"]])
    assert found is None
    assert balances(db, user)["purchased_credits"] == before
    # Stripe, which got no answer, delivers the event again: applied once
    retry = httpx.post(f"{served.url}/api/webhook/stripe", content=body, headers=headers)
    assert retry.status_code == 200 and retry.json()["duplicate"] is False
    assert balances(db, user)["purchased_credits"] == before + CFG.packs["small"].credits


def test_metrics_need_the_metrics_token_on_the_served_api(served: Served) -> None:
    assert httpx.get(f"{served.url}/metrics").status_code == 401
    scraped = httpx.get(
        f"{served.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert scraped.status_code == 200 and "flirt_webhook_events_total" in scraped.text
