"""`flirt-admin billing sync` and `flirt-admin webhooks list|replay`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from pyworker.settings import load_config
from tests.py.dbtools import TestDatabase, balances
from tests.py.fakes import stripe_events as ev
from tests.py.fakes.billing_env import WEBHOOK_SECRET, client_fixture, fake_stripe_fixture  # noqa: F401
from tests.py.fakes.stripe_fake import FakeStripe

CFG = load_config()


def run(db: TestDatabase, fake: FakeStripe | None, *args: str) -> Result:
    env = {"STRIPE_SECRET_KEY": "sk_test_fake", "STRIPE_API_BASE": fake.url if fake else ""}
    return CliRunner().invoke(app, [*args, "--db-url", db.owner_dsn], env=env)


def test_billing_sync_applies_missed_payments_and_subscriptions_once(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    buyer, quick, subscriber = db.create_user(), db.create_user(), db.create_user()
    start = {u: balances(db, u)["purchased_credits"] for u in (buyer, quick)}
    # what Stripe holds while our webhook endpoint was down
    session = ev.checkout_session(str(buyer), "medium", 1999)
    unpaid = ev.checkout_session(str(buyer), "large", 4999, payment_status="unpaid")
    fake_stripe.sessions = {s["id"]: s for s in (session, unpaid)}
    fake_stripe.add_line_items(session["id"], CFG.packs["medium"].stripe_price_id or "", 1999)
    intent = ev.payment_intent(str(quick), "small", 499)
    same_as_session = ev.payment_intent(str(buyer), "medium", 1999, session["payment_intent"])
    fake_stripe.intents = {i["id"]: i for i in (intent, same_as_session)}
    sub = fake_stripe.add_subscription(
        "cus_x", CFG.tiers["premium"].stripe_price_id, str(subscriber)
    )
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    first = run(db, fake_stripe, "billing", "sync", "--since", since, "--json")
    assert first.exit_code == 0, first.output
    rows = json.loads(first.stdout)
    assert {(r["object"], r["status"]) for r in rows} >= {
        ("checkout.session", "processed"),
        ("checkout.session", "ignored"),
        ("payment_intent", "processed"),
        ("subscription", "processed"),
    }
    assert balances(db, buyer)["purchased_credits"] == start[buyer] + 550
    assert balances(db, quick)["purchased_credits"] == start[quick] + 100
    row = db.fetchone("select tier, subscription_id from users where id = %s", [subscriber])
    assert row == {"tier": "premium", "subscription_id": sub["id"]}

    again = run(db, fake_stripe, "billing", "sync", "--since", since)
    assert again.exit_code == 0, again.output
    assert "0 applied or updated" in again.stdout
    assert balances(db, buyer)["purchased_credits"] == start[buyer] + 550
    assert db.fetchone("select count(*) as n from payments") == {"n": 2}
    # the paid session's line items were read from Stripe: it sold the medium pack's price
    assert fake_stripe.started("GET", f"/v1/checkout/sessions/{session['id']}/line_items")
    # listed since the start of the hour, with the Stripe version pinned
    [listing] = [c for c in fake_stripe.calls if c.path == "/v1/checkout/sessions"][:1]
    assert int(listing.params["created[gte]"]) <= int(time.time()) - 3500


def test_billing_sync_without_stripe_key_fails_with_one_line(db: TestDatabase) -> None:
    result = CliRunner().invoke(
        app,
        ["billing", "sync", "--since", "2026-01-01", "--db-url", db.owner_dsn],
        env={"STRIPE_SECRET_KEY": ""},
    )
    assert result.exit_code == 1
    assert "STRIPE_SECRET_KEY" in result.output


def test_webhooks_list_and_replay_of_a_failed_event(db: TestDatabase, client: object) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    evt = ev.event("payment_intent.succeeded", ev.payment_intent(str(user), "mystery", 999))
    body, headers = ev.signed(evt, WEBHOOK_SECRET)
    assert client.post("/api/webhook/stripe", content=body, headers=headers).status_code == 500

    listed = run(db, None, "webhooks", "list", "--status", "failed", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["status"], row["last_error"]) == (evt["id"], "failed", "pack_not_found")

    still = run(db, None, "webhooks", "replay", "--failed")
    assert still.exit_code == 1  # still failing: exit code says so
    attempts = "select attempts from stripe_webhook_events where id = %s"
    assert db.fetchone(attempts, [evt["id"]]) == {"attempts": 2}
    db.execute(
        "insert into credit_packs (id, name, credits, price_cents, currency, stripe_price_id)"
        " values ('mystery', 'Mystery', 7, 999, 'usd', 'price_mystery')"
    )
    fixed = run(db, None, "webhooks", "replay", "--failed", "--json")
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)[0]["status"] == "processed"
    assert balances(db, user)["purchased_credits"] == before + 7
    # replaying a processed event changes nothing
    twice = run(db, None, "webhooks", "replay", evt["id"], "--json")
    assert json.loads(twice.stdout)[0]["duplicate"] is True
    assert balances(db, user)["purchased_credits"] == before + 7


@pytest.mark.parametrize("event_id", ["evt_unknown"])
def test_replay_of_unknown_event_fails_with_one_line(db: TestDatabase, event_id: str) -> None:
    result = run(db, None, "webhooks", "replay", event_id)
    assert result.exit_code == 1
    assert "event_not_found" in result.output


def test_replay_failed_with_nothing_failed_says_so_and_succeeds(db: TestDatabase) -> None:
    plain = run(db, None, "webhooks", "replay", "--failed")
    assert plain.exit_code == 0, plain.output
    assert "nothing to replay" in plain.output
    as_json = run(db, None, "webhooks", "replay", "--failed", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == []


def test_replay_without_ids_or_failed_is_refused(db: TestDatabase) -> None:
    result = run(db, None, "webhooks", "replay")
    assert result.exit_code == 1
    assert "give event ids or --failed" in result.output
