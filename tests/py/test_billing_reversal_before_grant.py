"""A refund or dispute applied before its pack is granted is taken back when the grant
arrives, whichever path (webhook, `billing sync`) brings each, in any order, and whether
or not the charge carries the PaymentIntent's metadata."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.py.dbtools import TestDatabase, as_role, balances
from tests.py.fakes import stripe_events as ev
from tests.py.fakes.billing_env import client_fixture, fake_stripe_fixture  # noqa: F401
from tests.py.fakes.stripe_fake import FakeStripe
from tests.py.test_billing_sync_refunds import (
    deliver,
    granted,
    ledger,
    outcomes,
    paid_pack,
    payment,
    sync,
)


def refund_waits(db: TestDatabase) -> bool:
    """Some transaction waits for an advisory lock (pg_locks shows every role's)."""
    row = db.fetchone(
        "select count(*) as n from pg_locks where locktype = 'advisory' and not granted"
    )
    return bool(row and row["n"])


def customer_of(db: TestDatabase, user: uuid.UUID, intent: dict[str, Any]) -> None:
    """The user's Stripe customer is the one the payment was made by (as the API sets it)."""
    db.execute("update users set stripe_customer_id = %s where id = %s", [intent["customer"], user])


@pytest.mark.parametrize("refunded", ["all", "part"])
def test_refund_delivered_before_its_grant_is_taken_back_when_the_grant_arrives(
    db: TestDatabase, fake_stripe: FakeStripe, client: TestClient, refunded: str
) -> None:
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    intent, charge = paid_pack(fake_stripe, user, "small")
    customer_of(db, user, intent)
    fake_stripe.refund(charge["id"], charge["amount"] if refunded == "all" else 250)
    # the charge names its customer, not the pack: nothing says it bought credits
    refund = ev.event("charge.refunded", dict(fake_stripe.charges[charge["id"]]))
    grant = ev.event("payment_intent.succeeded", intent)

    assert deliver(client, refund)["status"] == "processed"
    assert deliver(client, grant)["status"] == "processed"

    credits = granted("small")
    owed = credits if refunded == "all" else -(-credits * 250 // charge["amount"])
    assert balances(db, user)["purchased_credits"] == start + credits - owed
    assert ledger(db, user) == [("purchase", credits), ("refund_clawback", -owed)]
    assert payment(db, user) == {
        "status": "refunded" if refunded == "all" else "partially_refunded",
        "amount_refunded_cents": charge["amount"] if refunded == "all" else 250,
        "credits_granted": credits,
        "credits_clawed_back": owed,
    }
    # Stripe's retries of either, and a sync, take nothing more
    deliver(client, {**refund, "id": refund["id"] + "_again"})
    deliver(client, {**grant, "id": grant["id"] + "_again"})
    sync(db, fake_stripe)
    assert balances(db, user)["purchased_credits"] == start + credits - owed


def test_refund_of_a_customer_not_on_file_is_taken_back_when_the_grant_arrives(
    db: TestDatabase, fake_stripe: FakeStripe, client: TestClient
) -> None:
    """The charge names a customer the account does not have on file (yet), and neither
    the user nor the pack: the refund is still kept for the grant of its PaymentIntent."""
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    intent, charge = paid_pack(fake_stripe, user, "small")
    fake_stripe.refund(charge["id"], charge["amount"])
    refund = ev.event("charge.refunded", dict(fake_stripe.charges[charge["id"]]))
    assert refund["data"]["object"]["customer"] and not refund["data"]["object"]["metadata"]
    grant = ev.event("payment_intent.succeeded", intent)

    assert deliver(client, refund)["status"] == "processed"
    assert deliver(client, grant)["status"] == "processed"

    credits = granted("small")
    assert balances(db, user)["purchased_credits"] == start
    assert ledger(db, user) == [("purchase", credits), ("refund_clawback", -credits)]
    assert payment(db, user)["credits_clawed_back"] == credits  # type: ignore[index]


def test_sync_that_first_saw_the_refund_then_the_payment_takes_the_pack_back(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    two_days_ago = int(time.time()) - 2 * 86400
    _, charge = paid_pack(fake_stripe, user, "small", created=two_days_ago)
    fake_stripe.refund(charge["id"], charge["amount"])

    sync(db, fake_stripe)  # since an hour ago: the refund is listed, its payment is not
    rows = sync(db, fake_stripe, since=datetime.now(UTC) - timedelta(days=3))

    assert balances(db, user)["purchased_credits"] == start
    assert payment(db, user)["credits_clawed_back"] == granted("small")  # type: ignore[index]
    [(status, outcome)] = outcomes(rows, "payment_intent")
    assert status == "processed" and f"took back {granted('small')}" in outcome


def test_dispute_of_a_payment_sync_rejected_restricts_the_account(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    """A pack paid short (R4: nothing granted) and then disputed: the dispute still
    restricts the account, and sync reports no failure."""
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    intent, charge = paid_pack(fake_stripe, user, "small")
    intent["amount_received"] = 1
    dispute = fake_stripe.dispute(charge["id"])

    rows = sync(db, fake_stripe)

    assert outcomes(rows, "payment_intent")[0][0] == "rejected"
    [(status, _)] = outcomes(rows, "dispute")
    assert status == "processed"
    account = db.fetchone(
        "select purchased_credits, restricted_reason from users where id = %s", [user]
    )
    assert account == {
        "purchased_credits": start,
        "restricted_reason": f"payment_disputed:{dispute['id']}:fraudulent",
    }


def test_dispute_recorded_before_the_grant_is_taken_back_by_a_later_sync_of_the_payment(
    db: TestDatabase, fake_stripe: FakeStripe, client: TestClient
) -> None:
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    two_days_ago = int(time.time()) - 2 * 86400
    intent, charge = paid_pack(fake_stripe, user, "medium", created=two_days_ago)
    intent["metadata"].pop("pack_id")  # as seen by the dispute: not a pack, so recorded
    dispute = fake_stripe.dispute(charge["id"])
    sync(db, fake_stripe)
    intent["metadata"]["pack_id"] = "medium"

    sync(db, fake_stripe, since=datetime.now(UTC) - timedelta(days=3))

    assert balances(db, user)["purchased_credits"] == start
    assert payment(db, user)["status"] == "disputed"  # type: ignore[index]
    row = db.fetchone("select payment_id is not null as linked from private.disputes")
    assert row == {"linked": True}
    assert dispute["id"] in (
        db.fetchone("select restricted_reason from users where id = %s", [user]) or {}
    ).get("restricted_reason", "")


def test_refund_applied_while_its_grant_commits_is_taken_back(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    """Stripe sends the payment and its refund at once: the refund's transaction must not
    miss a grant that commits while it runs."""
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    intent, charge = paid_pack(fake_stripe, user, "small")
    customer_of(db, user, intent)
    fake_stripe.refund(charge["id"], charge["amount"])
    refund = ev.event("charge.refunded", dict(fake_stripe.charges[charge["id"]]))
    apply = "select private.apply_stripe_event(%s::jsonb)"

    def apply_refund() -> None:
        with db.api_connect() as conn, as_role(conn, "service_role"):
            conn.execute(apply, [json.dumps(refund)])

    with db.api_connect() as grant_conn, as_role(grant_conn, "service_role"):
        grant_conn.execute(apply, [json.dumps(ev.event("payment_intent.succeeded", intent))])
        refunder = threading.Thread(target=apply_refund)
        refunder.start()
        deadline = time.monotonic() + 5
        while refunder.is_alive() and not refund_waits(db):
            assert time.monotonic() < deadline, "the refund neither waited nor finished"
            time.sleep(0.02)
    refunder.join(10)

    assert balances(db, user)["purchased_credits"] == start
    assert ledger(db, user) == [
        ("purchase", granted("small")),
        ("refund_clawback", -granted("small")),
    ]
