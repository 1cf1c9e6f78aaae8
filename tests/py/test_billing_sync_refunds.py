"""`flirt-admin billing sync` after an outage: money that went back (refunds, disputes) is
taken back too, once, whether sync or the late webhook comes first."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from cli.main import app
from pyworker.settings import load_config
from tests.py.dbtools import TestDatabase, balances
from tests.py.fakes import stripe_events as ev
from tests.py.fakes.billing_env import (  # noqa: F401
    WEBHOOK_SECRET,
    client_fixture,
    fake_stripe_fixture,
)
from tests.py.fakes.stripe_fake import FakeStripe

CFG = load_config()
URL = "/api/webhook/stripe"


def sync(db: TestDatabase, fake: FakeStripe, since: datetime | None = None) -> list[dict[str, Any]]:
    """`billing sync --since <an hour ago> --json`: the rows it printed (it must succeed)."""
    start = since or datetime.now(UTC) - timedelta(hours=1)
    env = {"STRIPE_SECRET_KEY": "sk_test_fake", "STRIPE_API_BASE": fake.url}
    result: Result = CliRunner().invoke(
        app,
        ["billing", "sync", "--since", start.isoformat(), "--json", "--db-url", db.owner_dsn],
        env=env,
    )
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def deliver(client: TestClient, evt: dict[str, Any]) -> dict[str, Any]:
    body, headers = ev.signed(evt, WEBHOOK_SECRET)
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def paid_pack(
    fake: FakeStripe, user: uuid.UUID, pack_id: str, created: int | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A pack PaymentIntent that succeeded at Stripe, and its charge."""
    pack = CFG.packs[pack_id]
    intent = ev.payment_intent(str(user), pack_id, pack.price_cents)
    if created is not None:
        intent["created"] = created
    charge = fake.add_charge(intent["customer"], intent, pack.price_cents)
    intent["latest_charge"] = charge["id"]
    return intent, charge


def granted(pack_id: str) -> int:
    return CFG.packs[pack_id].credits + CFG.packs[pack_id].bonus_credits


def ledger(db: TestDatabase, user: uuid.UUID) -> list[tuple[str, int]]:
    rows = db.fetchall(
        "select kind, purchased_delta from credits_transactions"
        " where user_id = %s and kind <> 'signup_bonus' order by id",
        [user],
    )
    return [(r["kind"], r["purchased_delta"]) for r in rows]


def payment(db: TestDatabase, user: uuid.UUID) -> dict[str, Any] | None:
    return db.fetchone(
        "select status, amount_refunded_cents, credits_granted, credits_clawed_back"
        " from payments where user_id = %s",
        [user],
    )


def outcomes(rows: list[dict[str, Any]], kind: str) -> list[tuple[str, str]]:
    return [(r["status"], r["outcome"]) for r in rows if r["object"] == kind]


def test_pack_refunded_during_the_outage_is_granted_then_clawed_back_by_sync(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    _, charge = paid_pack(fake_stripe, user, "medium")
    fake_stripe.refund(charge["id"], charge["amount"])  # no webhook reaches us

    rows = sync(db, fake_stripe)

    credits = granted("medium")
    assert balances(db, user)["purchased_credits"] == start
    assert ledger(db, user) == [("purchase", credits), ("refund_clawback", -credits)]
    assert payment(db, user) == {
        "status": "refunded",
        "amount_refunded_cents": charge["amount"],
        "credits_granted": credits,
        "credits_clawed_back": credits,
    }
    [(status, outcome)] = outcomes(rows, "charge")
    assert status == "processed" and f"clawed back {credits} credits" in outcome


def test_refund_since_t_of_a_payment_made_before_t_is_clawed_back(
    db: TestDatabase, fake_stripe: FakeStripe, client: TestClient
) -> None:
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    two_days_ago = int(time.time()) - 2 * 86400
    intent, charge = paid_pack(fake_stripe, user, "small", created=two_days_ago)
    deliver(client, ev.event("payment_intent.succeeded", intent, two_days_ago))
    # the outage starts an hour ago; the refund falls in it
    fake_stripe.refund(charge["id"], charge["amount"])

    rows = sync(db, fake_stripe)

    assert [r["object"] for r in rows] == ["charge"]  # the payment itself is older than T
    assert balances(db, user)["purchased_credits"] == start
    assert payment(db, user)["status"] == "refunded"  # type: ignore[index]


def test_pack_disputed_during_the_outage_is_clawed_back_and_the_account_restricted(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    _, charge = paid_pack(fake_stripe, user, "large")
    dispute = fake_stripe.dispute(charge["id"])

    rows = sync(db, fake_stripe)

    credits = granted("large")
    account = db.fetchone(
        "select purchased_credits, restricted_reason from users where id = %s", [user]
    )
    assert account == {
        "purchased_credits": start,
        "restricted_reason": f"payment_disputed:{dispute['id']}:fraudulent",
    }
    assert ledger(db, user) == [("purchase", credits), ("dispute_clawback", -credits)]
    assert payment(db, user) == {
        "status": "disputed",
        "amount_refunded_cents": 0,
        "credits_granted": credits,
        "credits_clawed_back": credits,
    }
    [(status, outcome)] = outcomes(rows, "dispute")
    assert status == "processed" and "account restricted" in outcome


def test_dispute_lost_during_the_outage_is_recorded_closed_and_clawed_back(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    _, charge = paid_pack(fake_stripe, user, "small")
    dispute = fake_stripe.dispute(charge["id"], status="lost")

    sync(db, fake_stripe)

    assert balances(db, user)["purchased_credits"] == start
    row = db.fetchone("select status from private.disputes where id = %s", [dispute["id"]])
    assert row == {"status": "lost"}


def test_sync_twice_then_late_webhooks_take_nothing_more_and_grant_nothing_more(
    db: TestDatabase, fake_stripe: FakeStripe, client: TestClient
) -> None:
    refunded, disputed = db.create_user(), db.create_user()
    start = {u: balances(db, u)["purchased_credits"] for u in (refunded, disputed)}
    intent_r, charge_r = paid_pack(fake_stripe, refunded, "small")
    intent_d, charge_d = paid_pack(fake_stripe, disputed, "medium")
    fake_stripe.refund(charge_r["id"], charge_r["amount"])
    dispute = fake_stripe.dispute(charge_d["id"])

    first = sync(db, fake_stripe)
    second = sync(db, fake_stripe)
    # the outage ends: Stripe's retries of the original events arrive after the syncs
    late = [
        ev.event("payment_intent.succeeded", intent_r),
        ev.event("charge.refunded", dict(fake_stripe.charges[charge_r["id"]])),
        ev.event("payment_intent.succeeded", intent_d),
        ev.event("charge.dispute.created", dict(dispute)),
    ]
    answers = [deliver(client, evt) for evt in late]

    assert all(a["status"] == "processed" for a in answers), answers
    assert balances(db, refunded)["purchased_credits"] == start[refunded]
    assert balances(db, disputed)["purchased_credits"] == start[disputed]
    assert ledger(db, refunded) == [("purchase", 100), ("refund_clawback", -100)]
    assert ledger(db, disputed) == [("purchase", 550), ("dispute_clawback", -550)]
    assert db.fetchone("select count(*) as n from payments") == {"n": 2}
    # the second run applied nothing and says so
    assert len(outcomes(first, "charge") + outcomes(first, "dispute")) == 2
    again = outcomes(second, "charge") + outcomes(second, "dispute")
    assert len(again) == 2 and all(o.startswith("already applied") for _, o in again), again
    restricted = db.fetchone("select restricted_reason from users where id = %s", [disputed])
    assert restricted == {"restricted_reason": f"payment_disputed:{dispute['id']}:fraudulent"}


def test_partial_refund_by_sync_claws_back_what_the_webhook_would(
    db: TestDatabase, fake_stripe: FakeStripe, client: TestClient
) -> None:
    online, offline = db.create_user(), db.create_user()
    start = {u: balances(db, u)["purchased_credits"] for u in (online, offline)}
    # online: the webhooks arrive as they happen
    intent_on = ev.payment_intent(str(online), "small", 499)
    deliver(client, ev.event("payment_intent.succeeded", intent_on))
    deliver(client, ev.event("charge.refunded", ev.charge(intent_on["id"], 499, 250)))
    # offline: the same payment and partial refund while the endpoint is down
    _, charge = paid_pack(fake_stripe, offline, "small")
    fake_stripe.refund(charge["id"], 250)

    sync(db, fake_stripe)

    # ceil(100 * 250 / 499) = 51 either way
    assert (
        ledger(db, offline) == ledger(db, online) == [("purchase", 100), ("refund_clawback", -51)]
    )
    assert balances(db, offline)["purchased_credits"] == start[offline] + 49
    assert (
        payment(db, offline)
        == payment(db, online)
        == {
            "status": "partially_refunded",
            "amount_refunded_cents": 250,
            "credits_granted": 100,
            "credits_clawed_back": 51,
        }
    )

    # the rest is refunded later and also missed: the next sync takes what is left, once
    fake_stripe.refund(charge["id"], 249)
    sync(db, fake_stripe)
    sync(db, fake_stripe)
    assert ledger(db, offline) == [
        ("purchase", 100),
        ("refund_clawback", -51),
        ("refund_clawback", -49),
    ]
    assert balances(db, offline)["purchased_credits"] == start[offline]
    assert payment(db, offline)["status"] == "refunded"  # type: ignore[index]


def test_refund_whose_grant_is_missing_is_kept_and_the_later_grant_takes_it_back(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    # paid before T and its grant was missed too: nothing to claw back from yet
    _, charge = paid_pack(fake_stripe, user, "small", created=int(time.time()) - 2 * 86400)
    fake_stripe.refund(charge["id"], charge["amount"])

    [(status, outcome)] = outcomes(sync(db, fake_stripe), "charge")
    assert status == "processed" and "a grant of pack small" in outcome
    assert payment(db, user) is None

    # a sync from before the payment grants it, and the refund takes it back at once
    sync(db, fake_stripe, since=datetime.now(UTC) - timedelta(days=3))
    assert balances(db, user)["purchased_credits"] == start
    assert ledger(db, user) == [("purchase", granted("small")), ("refund_clawback", -100)]


def test_an_object_that_fails_fails_alone_and_sync_exits_1(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    lost, fine = db.create_user(), db.create_user()
    start = balances(db, fine)["purchased_credits"]
    intent = ev.payment_intent(str(lost), "retired", 999)  # a pack no longer configured
    fake_stripe.add_charge(intent["customer"], intent, 999)
    _, charge = paid_pack(fake_stripe, fine, "small")
    fake_stripe.refund(charge["id"], 250)  # listed after the payment that fails

    since = datetime.now(UTC) - timedelta(hours=1)
    env = {"STRIPE_SECRET_KEY": "sk_test_fake", "STRIPE_API_BASE": fake_stripe.url}
    result = CliRunner().invoke(
        app,
        ["billing", "sync", "--since", since.isoformat(), "--json", "--db-url", db.owner_dsn],
        env=env,
    )

    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    failed = [r for r in rows if r["status"] == "failed"]
    assert [r["id"] for r in failed] == [intent["id"]]
    assert failed[0]["outcome"].startswith("pack_not_found")
    assert outcomes(rows, "charge")[0][0] == "processed"
    # the other payment and its refund were still applied
    assert balances(db, fine)["purchased_credits"] == start + 100 - 51
    assert payment(db, lost) is None


def test_dispute_won_before_sync_takes_nothing_and_restricts_nothing(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    _, charge = paid_pack(fake_stripe, user, "small")
    dispute = fake_stripe.dispute(charge["id"], status="won")

    sync(db, fake_stripe)

    account = db.fetchone(
        "select purchased_credits, restricted_reason from users where id = %s", [user]
    )
    assert account == {"purchased_credits": start + 100, "restricted_reason": None}
    row = db.fetchone("select status from private.disputes where id = %s", [dispute["id"]])
    assert row == {"status": "won"}
