"""Stripe webhooks: signed events in the pinned API version's shape, applied once each."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app
from pyworker.settings import load_config
from tests.py.dbtools import TestDatabase, balances, rpc, rpc_error
from tests.py.fakes import stripe_events as ev
from tests.py.fakes.billing_env import (  # noqa: F401
    WEBHOOK_SECRET,
    auth,
    client_fixture,
    fake_stripe_fixture,
)
from tests.py.fakes.stripe_fake import FakeStripe

URL = "/api/webhook/stripe"
CFG = load_config()


def deliver(client: TestClient, evt: dict[str, Any] | str, at: int | None = None) -> Any:
    body, headers = ev.signed(evt, WEBHOOK_SECRET, at)
    return client.post(URL, content=body, headers=headers)


def ledger(db: TestDatabase, user: uuid.UUID, kind: str | None = None) -> list[dict[str, Any]]:
    return db.fetchall(
        "select kind, daily_delta, purchased_delta, balance_after, reference, idempotency_key"
        " from credits_transactions where user_id = %s and (%s::text is null or kind = %s)"
        " order by id",
        [user, kind, kind],
    )


def pack_total(pack_id: str) -> int:
    return CFG.packs[pack_id].credits + CFG.packs[pack_id].bonus_credits


def paid_session(
    fake: FakeStripe, user: uuid.UUID, pack_id: str, line_pack: str | None = None, **kw: Any
) -> dict[str, Any]:
    """A Checkout Session for `pack_id` whose line item Stripe holds is `line_pack`'s price."""
    pack = CFG.packs[line_pack or pack_id]
    session = ev.checkout_session(str(user), pack_id, CFG.packs[pack_id].price_cents, **kw)
    fake.add_line_items(session["id"], pack.stripe_price_id or "", pack.price_cents)
    return session


def test_paid_checkout_session_grants_pack_credits_and_bonus(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    session = paid_session(fake_stripe, user, "medium")
    response = deliver(client, ev.event("checkout.session.completed", session))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processed"
    # the event carries no line items: they were read from Stripe
    assert fake_stripe.started("GET", f"/v1/checkout/sessions/{session['id']}/line_items")
    assert balances(db, user)["purchased_credits"] == before + 550
    [row] = ledger(db, user, "purchase")
    assert row["purchased_delta"] == 550 and row["daily_delta"] == 0
    assert row["idempotency_key"] == f"purchase:{session['payment_intent']}"
    payment = db.fetchone("select * from payments where user_id = %s", [user])
    assert payment is not None
    assert payment["status"] == "paid" and payment["credits_granted"] == 550
    assert payment["stripe_checkout_session_id"] == session["id"]


def test_unpaid_async_checkout_is_granted_only_when_payment_succeeds(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    session = paid_session(fake_stripe, user, "small", payment_status="unpaid")
    response = deliver(client, ev.event("checkout.session.completed", session))
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert balances(db, user)["purchased_credits"] == before
    succeeded = {**session, "payment_status": "paid"}
    response = deliver(client, ev.event("checkout.session.async_payment_succeeded", succeeded))
    assert response.json()["status"] == "processed"
    assert balances(db, user)["purchased_credits"] == before + pack_total("small")


def test_checkout_completed_and_payment_intent_succeeded_grant_once(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    intent = ev.payment_intent(str(user), "large", 4999)
    session = paid_session(fake_stripe, user, "large", payment_intent=intent["id"])
    assert deliver(client, ev.event("payment_intent.succeeded", intent)).status_code == 200
    assert deliver(client, ev.event("checkout.session.completed", session)).status_code == 200
    assert (
        deliver(client, ev.event("checkout.session.async_payment_succeeded", session)).status_code
        == 200
    )
    assert balances(db, user)["purchased_credits"] == before + pack_total("large")
    assert len(ledger(db, user, "purchase")) == 1
    payment = db.fetchone(
        "select * from payments where stripe_payment_intent_id = %s", [intent["id"]]
    )
    assert payment is not None and payment["stripe_checkout_session_id"] == session["id"]


def test_quick_pack_payment_intent_grants_and_non_pack_intent_is_ignored(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    quick = ev.payment_intent(str(user), "small", 499)
    assert (
        deliver(client, ev.event("payment_intent.succeeded", quick)).json()["status"] == "processed"
    )
    invoice_payment = ev.payment_intent(str(user), None, 999)  # a subscription invoice's intent
    assert (
        deliver(client, ev.event("payment_intent.succeeded", invoice_payment)).json()["status"]
        == "ignored"
    )
    assert balances(db, user)["purchased_credits"] == before + pack_total("small")


def test_redelivered_event_is_answered_200_and_changes_nothing(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    evt = ev.event("payment_intent.succeeded", ev.payment_intent(str(user), "small", 499))
    first = deliver(client, evt)
    again = deliver(client, evt)
    assert first.status_code == again.status_code == 200
    assert again.json()["duplicate"] is True
    assert len(ledger(db, user, "purchase")) == 1
    row = db.fetchone(
        "select status, attempts from stripe_webhook_events where id = %s", [evt["id"]]
    )
    assert row == {"status": "processed", "attempts": 1}


def test_partial_then_full_refund_claws_back_cumulatively(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    intent = ev.payment_intent(str(user), "small", 499)
    deliver(client, ev.event("payment_intent.succeeded", intent))
    after_purchase = balances(db, user)["purchased_credits"]

    partial = ev.event("charge.refunded", ev.charge(intent["id"], 499, 250))
    assert deliver(client, partial).json()["status"] == "processed"
    # ceil(100 * 250 / 499) = 51
    assert balances(db, user)["purchased_credits"] == after_purchase - 51
    full = ev.event("charge.refunded", ev.charge(intent["id"], 499, 499))
    assert deliver(client, full).status_code == 200
    assert balances(db, user)["purchased_credits"] == after_purchase - 100
    # a late copy of the partial refund (a new event) adds nothing
    late = ev.event("charge.refunded", ev.charge(intent["id"], 499, 250))
    assert deliver(client, late).status_code == 200
    assert balances(db, user)["purchased_credits"] == after_purchase - 100

    rows = ledger(db, user, "refund_clawback")
    assert [r["purchased_delta"] for r in rows] == [-51, -49]
    assert rows[0]["idempotency_key"] == f"refund_clawback:{partial['id']}"
    payment = db.fetchone(
        "select status, credits_clawed_back from payments where user_id = %s", [user]
    )
    assert payment == {"status": "refunded", "credits_clawed_back": 100}


def test_refund_arriving_before_the_grant_is_taken_back_by_the_grant(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    start = balances(db, user)["purchased_credits"]
    intent = ev.payment_intent(str(user), "small", 499)
    refund = ev.event(
        "charge.refunded", ev.charge(intent["id"], 499, 499, dict(intent["metadata"]))
    )
    assert deliver(client, refund).status_code == 200
    grant = ev.event("payment_intent.succeeded", intent)
    assert deliver(client, grant).status_code == 200
    recorded = db.fetchall(
        "select outcome from stripe_webhook_events where id = any(%s) order by received_at",
        [[refund["id"], grant["id"]]],
    )
    assert "a grant of pack small" in recorded[0]["outcome"]
    assert "took back 100" in recorded[1]["outcome"]
    assert [r["purchased_delta"] for r in ledger(db, user, "refund_clawback")] == [-100]
    assert balances(db, user)["purchased_credits"] == start
    # Stripe delivers the refund again: nothing more is taken
    assert deliver(client, {**refund, "id": refund["id"] + "_retry"}).status_code == 200
    assert balances(db, user)["purchased_credits"] == start


def test_dispute_claws_back_the_rest_and_restricts_the_account(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    intent = ev.payment_intent(str(user), "medium", 1999)
    deliver(client, ev.event("payment_intent.succeeded", intent))
    deliver(client, ev.event("charge.refunded", ev.charge(intent["id"], 1999, 1000)))
    start = balances(db, user)["purchased_credits"]
    clawed = 550 - 276  # ceil(550 * 1000 / 1999) = 276 already taken back
    response = deliver(client, ev.event("charge.dispute.created", ev.dispute(intent["id"], 1999)))
    assert response.status_code == 200
    assert balances(db, user)["purchased_credits"] == start - clawed
    [row] = ledger(db, user, "dispute_clawback")
    assert row["purchased_delta"] == -clawed
    account = db.fetchone("select restricted_reason from users where id = %s", [user])
    assert account is not None and account["restricted_reason"].startswith("payment_disputed")
    payment = db.fetchone("select status from payments where user_id = %s", [user])
    assert payment == {"status": "disputed"}


def test_clawback_after_spending_leaves_a_debt(db: TestDatabase, client: TestClient) -> None:
    user = db.create_user()
    intent = ev.payment_intent(str(user), "small", 499)
    deliver(client, ev.event("payment_intent.succeeded", intent))
    # the buyer spent everything purchased (simulated as the table owner, with its ledger row)
    db.execute(
        "with u as (update users set purchased_credits = 0 where id = %(u)s"
        " returning credits_remaining)"
        " insert into credits_transactions (user_id, purchased_delta, kind, balance_after)"
        " select %(u)s, -(select sum(purchased_delta) from credits_transactions"
        " where user_id = %(u)s), 'action', credits_remaining from u",
        {"u": user},
    )
    deliver(client, ev.event("charge.refunded", ev.charge(intent["id"], 499, 499)))
    assert balances(db, user)["purchased_credits"] == -100


def test_subscription_sets_tier_and_daily_allowance_follows(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    premium, free = CFG.tiers["premium"], CFG.tiers["free"]
    sub = ev.subscription(str(user), premium.stripe_price_id)
    t0 = int(time.time()) - 100
    assert deliver(client, ev.event("customer.subscription.created", sub, t0)).status_code == 200
    row = db.fetchone(
        "select tier, daily_credits, subscription_id, subscription_status, current_period_end"
        " from users where id = %s",
        [user],
    )
    assert row is not None
    assert (row["tier"], row["daily_credits"]) == ("premium", premium.daily_credits)
    assert (row["subscription_id"], row["subscription_status"]) == (sub["id"], "active")
    assert row["current_period_end"].timestamp() == sub["items"]["data"][0]["current_period_end"]
    [grant] = ledger(db, user, "subscription_grant")
    assert grant["daily_delta"] == premium.daily_credits - CFG.tiers["pro"].daily_credits

    deleted = {**sub, "status": "canceled"}
    assert (
        deliver(client, ev.event("customer.subscription.deleted", deleted, t0 + 10)).status_code
        == 200
    )
    row = db.fetchone(
        "select tier, daily_credits, subscription_status from users where id = %s", [user]
    )
    assert row == {
        "tier": "free",
        "daily_credits": free.daily_credits,
        "subscription_status": "canceled",
    }
    assert [g["daily_delta"] for g in ledger(db, user, "subscription_grant")][-1] == (
        free.daily_credits - premium.daily_credits
    )


def test_subscription_state_never_moves_backwards(db: TestDatabase, client: TestClient) -> None:
    user = db.create_user()
    price = CFG.tiers["premium"].stripe_price_id
    sub = ev.subscription(str(user), price)
    t0 = int(time.time()) - 100
    deliver(
        client, ev.event("customer.subscription.updated", {**sub, "status": "canceled"}, t0 + 20)
    )
    # the older "active" state arrives late and is ignored
    late = deliver(client, ev.event("customer.subscription.created", sub, t0))
    assert late.status_code == 200 and late.json()["status"] == "ignored"
    row = db.fetchone("select tier, subscription_status from users where id = %s", [user])
    assert row == {"tier": "free", "subscription_status": "canceled"}


def test_same_second_checkout_events_never_step_back_to_incomplete(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    price = CFG.tiers["premium"].stripe_price_id
    sub = ev.subscription(str(user), price)
    t0 = int(time.time()) - 100  # Stripe's `created` has one-second resolution
    deliver(client, ev.event("customer.subscription.updated", sub, t0))
    late = deliver(
        client, ev.event("customer.subscription.created", {**sub, "status": "incomplete"}, t0)
    )
    assert late.status_code == 200 and late.json()["status"] == "ignored"
    row = db.fetchone("select tier, subscription_status from users where id = %s", [user])
    assert row == {"tier": "premium", "subscription_status": "active"}
    # an ended subscription does not come back, whatever its timestamp says
    deliver(client, ev.event("customer.subscription.deleted", sub, t0 + 10))
    again = deliver(client, ev.event("customer.subscription.updated", sub, t0 + 10))
    assert again.json()["status"] == "ignored"
    row = db.fetchone("select tier, subscription_status from users where id = %s", [user])
    assert row == {"tier": "free", "subscription_status": "canceled"}


def test_renewal_update_delivered_after_the_invoice_still_sets_period_and_cancel_flag(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    price = CFG.tiers["premium"].stripe_price_id
    sub = ev.subscription(str(user), price)
    t0 = int(time.time()) - 100
    deliver(client, ev.event("customer.subscription.created", sub, t0))
    deliver(
        client, ev.event("invoice.payment_failed", ev.invoice(sub["id"], price, str(user)), t0 + 5)
    )
    deliver(client, ev.event("invoice.paid", ev.invoice(sub["id"], price, str(user)), t0 + 20))
    # the period rolled over (created t0+10) but Stripe delivers it after the invoice
    renewed = ev.subscription(
        str(user), price, status="past_due", sub_id=sub["id"], cancel_at_period_end=True,
        period_end=t0 + 60 * 86400,
    )  # fmt: skip
    late = deliver(client, ev.event("customer.subscription.updated", renewed, t0 + 10))
    assert late.json()["status"] == "processed"
    row = db.fetchone(
        "select subscription_status as s, tier, cancel_at_period_end as c,"
        " extract(epoch from current_period_end)::bigint as end from users where id = %s",
        [user],
    )
    # the newer invoice's payment state stands; the subscription's own fields are applied
    assert row == {"s": "active", "tier": "premium", "c": True, "end": t0 + 60 * 86400}


def test_invoice_events_update_status_in_order(db: TestDatabase, client: TestClient) -> None:
    user = db.create_user()
    price = CFG.tiers["premium"].stripe_price_id
    sub = ev.subscription(str(user), price)
    t0 = int(time.time()) - 100
    deliver(client, ev.event("customer.subscription.created", sub, t0))
    failed = deliver(
        client, ev.event("invoice.payment_failed", ev.invoice(sub["id"], price, str(user)), t0 + 10)
    )
    assert failed.json()["status"] == "processed"
    status = "select subscription_status as s, tier from users where id = %s"
    assert db.fetchone(status, [user]) == {"s": "past_due", "tier": "premium"}
    # an older invoice.paid arriving late changes nothing
    deliver(client, ev.event("invoice.paid", ev.invoice(sub["id"], price, str(user)), t0 + 5))
    assert db.fetchone(status, [user]) == {"s": "past_due", "tier": "premium"}
    deliver(client, ev.event("invoice.paid", ev.invoice(sub["id"], price, str(user)), t0 + 20))
    assert db.fetchone(status, [user]) == {"s": "active", "tier": "premium"}


def test_unknown_event_type_is_recorded_as_ignored(db: TestDatabase, client: TestClient) -> None:
    evt = ev.event("customer.created", {"id": "cus_x", "object": "customer"})
    response = deliver(client, evt)
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    row = db.fetchone(
        "select type, status, outcome from stripe_webhook_events where id = %s", [evt["id"]]
    )
    assert row == {
        "type": "customer.created",
        "status": "ignored",
        "outcome": "event type not handled",
    }


def test_failed_event_answers_500_keeps_nothing_and_succeeds_on_retry(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    evt = ev.event("payment_intent.succeeded", ev.payment_intent(str(user), "mystery", 999))
    response = deliver(client, evt)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "event_failed"
    assert balances(db, user)["purchased_credits"] == before
    assert db.fetchone("select count(*) as n from payments") == {"n": 0}
    row = db.fetchone(
        "select status, attempts, last_error from stripe_webhook_events where id = %s", [evt["id"]]
    )
    assert row is not None and (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "pack_not_found"
    # the pack gets configured; Stripe's retry is applied
    db.execute(
        "insert into credit_packs (id, name, credits, price_cents, currency, stripe_price_id)"
        " values ('mystery', 'Mystery', 7, 999, 'usd', 'price_mystery')"
    )
    assert deliver(client, evt).status_code == 200
    assert balances(db, user)["purchased_credits"] == before + 7
    row = db.fetchone(
        "select status, attempts from stripe_webhook_events where id = %s", [evt["id"]]
    )
    assert row == {"status": "processed", "attempts": 2}


def _nothing_recorded(db: TestDatabase) -> bool:
    return db.fetchone("select count(*) as n from stripe_webhook_events") == {"n": 0}


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("bad_signature", "invalid_signature"),
        ("stale_timestamp", "stale_signature"),
        ("future_timestamp", "future_signature"),
        ("malformed_json", "malformed_payload"),
        ("missing_header", "missing_signature"),
        ("not_an_event", "malformed_payload"),
        ("replayed_with_fresh_timestamp", "invalid_signature"),
    ],
)
def test_rejected_delivery_gets_400_and_applies_nothing(
    db: TestDatabase, client: TestClient, case: str, code: str
) -> None:
    user = db.create_user()
    before = balances(db, user)
    evt = ev.event("payment_intent.succeeded", ev.payment_intent(str(user), "small", 499))
    body, headers = ev.signed(evt, WEBHOOK_SECRET)
    tolerance = CFG.stripe.webhook_tolerance_seconds
    if case == "bad_signature":
        body, headers = ev.signed(evt, "whsec_someone_else")
    elif case == "stale_timestamp":
        body, headers = ev.signed(evt, WEBHOOK_SECRET, int(time.time()) - tolerance - 60)
    elif case == "future_timestamp":
        body, headers = ev.signed(evt, WEBHOOK_SECRET, int(time.time()) + tolerance + 60)
    elif case == "malformed_json":
        body, headers = ev.signed('{"id": "evt_1", "type": ', WEBHOOK_SECRET)
    elif case == "missing_header":
        headers = {"Content-Type": "application/json"}
    elif case == "not_an_event":
        body, headers = ev.signed(json.dumps({"id": "evt_2", "type": "x"}), WEBHOOK_SECRET)
    elif case == "replayed_with_fresh_timestamp":
        # a captured old delivery with a second, current t= appended to its header
        body, headers = ev.signed(evt, WEBHOOK_SECRET, int(time.time()) - tolerance - 60)
        headers["Stripe-Signature"] += f",t={int(time.time())}"
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert _nothing_recorded(db)
    assert balances(db, user) == before


def test_failed_first_invoice_leaves_subscription_incomplete_and_tier_unchanged(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    price = CFG.tiers["premium"].stripe_price_id
    sub = ev.subscription(str(user), price, status="incomplete")
    t0 = int(time.time()) - 100
    deliver(client, ev.event("customer.subscription.created", sub, t0))
    invoice = ev.invoice(sub["id"], price, str(user))
    deliver(client, ev.event("invoice.payment_failed", invoice, t0 + 1))
    row = db.fetchone("select tier, subscription_status as s from users where id = %s", [user])
    assert row == {"tier": CFG.signup.default_tier, "s": "incomplete"}
    # the customer pays: the invoice makes it active, the tier follows the subscription's
    # price in the event that comes with it (an invoice's lines may be an old price)
    deliver(client, ev.event("invoice.paid", invoice, t0 + 2))
    row = db.fetchone("select tier, subscription_status as s from users where id = %s", [user])
    assert row == {"tier": CFG.signup.default_tier, "s": "active"}
    active = ev.subscription(str(user), price, status="active", sub_id=sub["id"])
    deliver(client, ev.event("customer.subscription.updated", active, t0 + 2))
    row = db.fetchone("select tier, subscription_status as s from users where id = %s", [user])
    assert row == {"tier": "premium", "s": "active"}


# -- R4: a pack is granted only for a payment of the pack's price ----------------------


@pytest.mark.parametrize(
    ("amount", "currency", "reason"),
    [
        (1, "jpy", "amount_mismatch"),
        (4999, "eur", "amount_mismatch"),
        (499, "usd", "amount_mismatch"),
    ],
)
def test_payment_intent_not_paying_the_pack_price_is_rejected_and_acknowledged(
    db: TestDatabase, client: TestClient, amount: int, currency: str, reason: str
) -> None:
    user = db.create_user()
    before = balances(db, user)
    intent = ev.payment_intent(str(user), "large", amount, currency=currency)
    evt = ev.event("payment_intent.succeeded", intent)
    response = deliver(client, evt)
    # acknowledged: Stripe must not retry it
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert balances(db, user) == before
    assert db.fetchone("select count(*) as n from payments") == {"n": 0}
    row = db.fetchone(
        "select status, outcome from stripe_webhook_events where id = %s", [evt["id"]]
    )
    assert row is not None and row["status"] == "rejected"
    assert reason in row["outcome"] and f"{amount} {currency}" in row["outcome"]
    # a redelivery is a duplicate of the rejection, still 200 and still nothing granted
    again = deliver(client, evt)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert balances(db, user) == before


def test_checkout_session_whose_line_items_lack_the_pack_price_is_rejected(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    before = balances(db, user)
    # metadata names the large pack; what was bought is the small pack's price
    session = paid_session(fake_stripe, user, "large", line_pack="small")
    evt = ev.event("checkout.session.completed", session)
    response = deliver(client, evt)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert balances(db, user) == before
    row = db.fetchone(
        "select status, outcome from stripe_webhook_events where id = %s", [evt["id"]]
    )
    assert row is not None and row["status"] == "rejected"
    assert "price_mismatch" in row["outcome"]


def test_checkout_session_whose_line_items_cannot_be_read_fails_for_a_retry(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    before = balances(db, user)
    session = ev.checkout_session(str(user), "small", 499)  # Stripe does not know it (yet)
    evt = ev.event("checkout.session.completed", session)
    response = deliver(client, evt)
    assert response.status_code == 500 and response.json()["error"]["code"] == "event_failed"
    assert balances(db, user) == before
    row = db.fetchone("select status from stripe_webhook_events where id = %s", [evt["id"]])
    assert row == {"status": "failed"}
    fake_stripe.add_line_items(session["id"], CFG.packs["small"].stripe_price_id or "", 499)
    assert deliver(client, evt).json()["status"] == "processed"
    assert balances(db, user)["purchased_credits"] == before["purchased_credits"] + 100


def test_rejected_payments_are_listed_by_webhooks_list_and_doctor(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    underpaid = ev.payment_intent(str(user), "large", 1, currency="jpy")
    evt = ev.event("payment_intent.succeeded", underpaid)
    deliver(client, evt)
    listed = CliRunner().invoke(
        app, ["webhooks", "list", "--status", "rejected", "--json", "--db-url", db.owner_dsn]
    )
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert row["id"] == evt["id"] and row["status"] == "rejected"
    assert "amount_mismatch" in row["outcome"]
    doctor = CliRunner().invoke(app, ["doctor", "--json", "--db-url", db.owner_dsn])
    checks = {c["check"]: c for c in json.loads(doctor.stdout)}
    assert checks["rejected payments"]["status"] == "warn"
    assert evt["id"] in checks["rejected payments"]["detail"]


# -- R3: disputes and refunds on any charge of the user's customer ---------------------


def _customer_of(client: TestClient, db: TestDatabase, user: uuid.UUID) -> str:
    """The user's Stripe customer, created the way the app creates it."""
    assert client.post("/api/user/billing_portal", headers=auth(user)).status_code == 200
    row = db.fetchone("select stripe_customer_id as c from users where id = %s", [user])
    assert row is not None and row["c"]
    return str(row["c"])


def _subscribed(client: TestClient, db: TestDatabase, user: uuid.UUID) -> tuple[str, str]:
    """A premium subscriber: (customer id, subscription id)."""
    customer = _customer_of(client, db, user)
    price = CFG.tiers["premium"].stripe_price_id or ""
    sub = ev.subscription(str(user), price, customer=customer)
    t0 = int(time.time()) - 100
    deliver(client, ev.event("customer.subscription.created", sub, t0))
    deliver(client, ev.event("invoice.paid", ev.invoice(sub["id"], price, str(user)), t0 + 1))
    assert balances(db, user)["tier"] == "premium"
    return customer, sub["id"]


def _restriction(db: TestDatabase, user: uuid.UUID) -> str | None:
    row = db.fetchone("select restricted_reason from users where id = %s", [user])
    assert row is not None
    return row["restricted_reason"]  # type: ignore[no-any-return]


def test_dispute_on_a_subscription_invoice_restricts_and_a_won_dispute_lifts_it(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    customer, _ = _subscribed(client, db, user)
    invoice_intent = ev.payment_intent(None, None, 999)  # an invoice's intent: none of our metadata
    charge = fake_stripe.add_charge(customer, {**invoice_intent, "customer": customer})
    before = balances(db, user)
    dispute = ev.dispute(invoice_intent["id"], 999, charge_id=charge["id"], reason="fraudulent")
    created = deliver(client, ev.event("charge.dispute.created", dispute))
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "processed"
    reason = _restriction(db, user)
    assert reason is not None and dispute["id"] in reason and "fraudulent" in reason
    row = db.fetchone(
        "select user_id, reason, status, stripe_charge_id from private.disputes where id = %s",
        [dispute["id"]],
    )
    assert row == {
        "user_id": user,
        "reason": "fraudulent",
        "status": "needs_response",
        "stripe_charge_id": charge["id"],
    }
    # the paid tier's allowance no longer buys anything, and no credits moved
    with db.connect() as conn:
        refused = rpc_error(conn, user, "perform_action", action_type="short_chat",
                            input={"chat": "hi"})  # fmt: skip
    assert (refused.status, refused.code) == (403, "account_restricted")
    assert balances(db, user) == before

    won = {**dispute, "status": "won"}
    closed = deliver(client, ev.event("charge.dispute.closed", won))
    assert closed.status_code == 200 and closed.json()["status"] == "processed"
    assert _restriction(db, user) is None
    assert db.fetchone("select status from private.disputes where id = %s", [dispute["id"]]) == {
        "status": "won"
    }


def test_dispute_is_attributed_through_the_payment_intent_when_the_charge_has_no_customer(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    intent = ev.payment_intent(str(user), None, 999)
    charge = fake_stripe.add_charge(None, intent)
    dispute = ev.dispute(intent["id"], 999, charge_id=charge["id"])
    assert deliver(client, ev.event("charge.dispute.created", dispute)).status_code == 200
    assert dispute["id"] in (_restriction(db, user) or "")


def test_won_dispute_leaves_a_restriction_set_for_another_reason(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    customer = _customer_of(client, db, user)
    db.execute("update users set restricted_reason = 'manual_review' where id = %s", [user])
    charge = fake_stripe.add_charge(customer, None)
    dispute = ev.dispute(None, 999, charge_id=charge["id"])
    deliver(client, ev.event("charge.dispute.created", dispute))
    assert _restriction(db, user) == "manual_review"
    deliver(client, ev.event("charge.dispute.closed", {**dispute, "status": "won"}))
    assert _restriction(db, user) == "manual_review"


def test_won_dispute_leaves_the_restriction_of_another_open_dispute(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    customer = _customer_of(client, db, user)
    first = ev.dispute(None, 999, charge_id=fake_stripe.add_charge(customer, None)["id"])
    second = ev.dispute(None, 999, charge_id=fake_stripe.add_charge(customer, None)["id"])
    deliver(client, ev.event("charge.dispute.created", first))
    deliver(client, ev.event("charge.dispute.created", second))
    deliver(client, ev.event("charge.dispute.closed", {**first, "status": "won"}))
    assert second["id"] in (_restriction(db, user) or "")
    deliver(client, ev.event("charge.dispute.closed", {**second, "status": "lost"}))
    assert second["id"] in (_restriction(db, user) or "")


def test_refunded_subscription_charge_is_recorded_without_clawback(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    customer, _ = _subscribed(client, db, user)
    before = balances(db, user)
    charge = fake_stripe.add_charge(customer, None, amount=999, amount_refunded=999)
    evt = ev.event("charge.refunded", charge)
    response = deliver(client, evt)
    assert response.status_code == 200 and response.json()["status"] == "processed"
    row = db.fetchone(
        "select user_id, amount_cents, amount_refunded_cents from private.subscription_refunds"
        " where stripe_charge_id = %s",
        [charge["id"]],
    )
    assert row == {"user_id": user, "amount_cents": 999, "amount_refunded_cents": 999}
    assert balances(db, user) == before
    assert ledger(db, user, "refund_clawback") == []


def test_refund_of_a_rejected_pack_payment_is_acknowledged(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    before = balances(db, user)
    intent = ev.payment_intent(str(user), "large", 1, currency="jpy")
    deliver(client, ev.event("payment_intent.succeeded", intent))
    # the support team refunds the 1 JPY: nothing was granted, nothing to wait for
    refund = ev.event("charge.refunded", ev.charge(intent["id"], 1, 1, dict(intent["metadata"])))
    response = deliver(client, refund)
    assert response.status_code == 200 and response.json()["status"] == "processed"
    assert balances(db, user) == before
    assert ledger(db, user, "purchase") == ledger(db, user, "refund_clawback") == []


def test_slow_charge_lookup_does_not_delay_the_users_perform_action(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    customer = _customer_of(client, db, user)
    charge = fake_stripe.add_charge(customer, None)
    fake_stripe.delays["charges.retrieve"] = 4.0
    dispute = ev.dispute(None, 999, charge_id=charge["id"])
    with ThreadPoolExecutor(1) as pool, db.api_connect() as conn:
        delivering = pool.submit(deliver, client, ev.event("charge.dispute.created", dispute))
        deadline = time.monotonic() + 10
        while not fake_stripe.started("GET", f"/v1/charges/{charge['id']}"):
            assert time.monotonic() < deadline, "the charge was never retrieved"
            time.sleep(0.01)
        time.sleep(0.2)  # the delivery now waits for Stripe
        started = time.perf_counter()
        out = rpc(conn, user, "perform_action", action_type="short_chat", input={"chat": "hi"})
        took = time.perf_counter() - started
        assert took < 0.25, f"perform_action waited {took:.2f}s for the Stripe call"
        assert not delivering.done(), "Stripe answered before the action was timed"
        assert delivering.result().status_code == 200
    assert out["status"] == "queued"
    assert dispute["id"] in (_restriction(db, user) or "")
