"""Money paths: no paid tier without payment, no credits kept through a dispute."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi.testclient import TestClient

from pyworker.settings import load_config
from tests.py.dbtools import TestDatabase
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
PRO = CFG.tiers["pro"].stripe_price_id or ""
PREMIUM = CFG.tiers["premium"].stripe_price_id or ""


def deliver(client: TestClient, evt: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    body, headers = ev.signed(evt, WEBHOOK_SECRET)
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


def account(db: TestDatabase, user: uuid.UUID) -> dict[str, Any]:
    row = db.fetchone(
        "select tier, subscription_status as status, daily_credits, purchased_credits,"
        " restricted_reason from users where id = %s",
        [user],
    )
    assert row is not None
    return row


def subscribed(
    client: TestClient, db: TestDatabase, fake: FakeStripe, user: uuid.UUID, price: str, t0: int
) -> dict[str, Any]:
    """A subscriber on `price` as the app makes one: Checkout, then Stripe's events at t0."""
    started = client.post("/api/user/subscribe", json={"tier": "pro"}, headers=auth(user))
    assert started.status_code == 200, started.text
    customer = db.fetchone("select stripe_customer_id as c from users where id = %s", [user])
    assert customer is not None
    sub = fake.add_subscription(customer["c"], price, str(user))
    deliver(client, ev.event("customer.subscription.created", sub, t0))
    return sub


def test_plan_change_while_past_due_is_refused_and_past_due_never_moves_up(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    t0 = int(time.time()) - 1000
    sub = subscribed(client, db, fake_stripe, user, PRO, t0)
    deliver(
        client, ev.event("invoice.payment_failed", ev.invoice(sub["id"], PRO, str(user)), t0 + 10)
    )
    assert account(db, user)["status"] == "past_due"

    upgrade = client.post("/api/user/subscribe", json={"tier": "premium"}, headers=auth(user))
    assert upgrade.status_code == 409, upgrade.text
    assert upgrade.json()["error"]["code"] == "subscription_not_active"
    assert not [c for c in fake_stripe.calls if c.path == f"/v1/subscriptions/{sub['id']}"]

    # a change made elsewhere (the portal) while the invoice is unpaid: pro at most
    moved = ev.subscription(str(user), PREMIUM, "past_due", sub["id"], sub["customer"])
    deliver(client, ev.event("customer.subscription.updated", moved, t0 + 20))
    assert account(db, user)["tier"] == "pro"
    assert account(db, user)["daily_credits"] <= CFG.tiers["pro"].daily_credits
    # once paid up, the subscription's premium price counts
    paid = ev.subscription(str(user), PREMIUM, "active", sub["id"], sub["customer"])
    deliver(client, ev.event("customer.subscription.updated", paid, t0 + 30))
    assert account(db, user)["tier"] == "premium"


def test_paying_an_old_invoice_keeps_the_tier_of_the_current_price(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    t0 = int(time.time()) - 1000
    sub = subscribed(client, db, fake_stripe, user, PREMIUM, t0)
    old = ev.invoice(sub["id"], PREMIUM, str(user), 1999)
    deliver(client, ev.event("invoice.payment_failed", old, t0 + 10))
    down = ev.subscription(str(user), PRO, "past_due", sub["id"], sub["customer"])
    deliver(client, ev.event("customer.subscription.updated", down, t0 + 20))
    assert account(db, user)["tier"] == "pro"

    deliver(client, ev.event("invoice.paid", old, t0 + 30))  # the old premium invoice, paid late
    assert account(db, user)["tier"] == "pro"
    assert account(db, user)["status"] == "active"


def test_upgrade_is_invoiced_at_once_and_applies_only_when_paid(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    t0 = int(time.time()) - 1000
    sub = subscribed(client, db, fake_stripe, user, PRO, t0)
    response = client.post("/api/user/subscribe", json={"tier": "premium"}, headers=auth(user))
    assert response.status_code == 200, response.text
    assert fake_stripe.violations == []
    [update] = [
        c
        for c in fake_stripe.calls
        if c.path == f"/v1/subscriptions/{sub['id']}" and c.method == "POST"
    ]
    assert update.params["items[0][price]"] == PREMIUM
    assert update.params["proration_behavior"] == "always_invoice"
    assert update.params["payment_behavior"] == "pending_if_incomplete"

    # Stripe's event while the upgrade invoice is open: the old price, the new one pending
    pending = fake_stripe.subscriptions[sub["id"]]
    assert pending["pending_update"]["subscription_items"][0]["price"]["id"] == PREMIUM
    deliver(client, ev.event("customer.subscription.updated", pending, t0 + 10))
    proration = ev.invoice(sub["id"], PREMIUM, str(user), 1000)
    deliver(client, ev.event("invoice.payment_failed", proration, t0 + 11))
    assert account(db, user)["tier"] == "pro"
    deliver(client, ev.event("invoice.paid", proration, t0 + 20))
    assert account(db, user)["tier"] == "pro"  # an invoice never sets the tier

    applied = fake_stripe.pay_pending_update(sub["id"])
    deliver(client, ev.event("customer.subscription.updated", applied, t0 + 21))
    assert account(db, user)["tier"] == "premium"


def test_immediate_cancel_invoices_what_is_not_yet_invoiced(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    sub = subscribed(client, db, fake_stripe, user, PREMIUM, int(time.time()) - 1000)
    response = client.post(
        "/api/user/cancel_subscription", json={"immediately": True}, headers=auth(user)
    )
    assert response.status_code == 200, response.text
    assert fake_stripe.violations == []
    [cancel] = [c for c in fake_stripe.calls if c.path == f"/v1/subscriptions/{sub['id']}"]
    assert cancel.method == "DELETE"
    assert (cancel.params["invoice_now"], cancel.params["prorate"]) == ("true", "true")


def test_dispute_before_the_pack_grant_restricts_at_once_and_the_grant_is_taken_back(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    start = account(db, user)["purchased_credits"]
    pack = CFG.packs["large"]
    intent = ev.payment_intent(str(user), "large", pack.price_cents)
    charge = fake_stripe.add_charge(None, intent, pack.price_cents)
    dispute = ev.dispute(intent["id"], pack.price_cents, charge_id=charge["id"])
    created = ev.event("charge.dispute.created", dispute)
    assert deliver(client, created)["status"] == "processed"
    assert dispute["id"] in (account(db, user)["restricted_reason"] or "")

    deliver(client, ev.event("payment_intent.succeeded", intent))
    granted = pack.credits + pack.bonus_credits
    after = account(db, user)
    assert after["purchased_credits"] == start
    assert dispute["id"] in (after["restricted_reason"] or "")
    assert deliver(client, {**created, "id": created["id"] + "_retry"})["status"] == "processed"
    assert account(db, user)["purchased_credits"] == start
    deliver(client, ev.event("charge.dispute.closed", {**dispute, "status": "lost"}))
    assert account(db, user)["purchased_credits"] == start
    row = db.fetchone("select status, credits_clawed_back from payments where user_id = %s", [user])
    assert row == {"status": "disputed", "credits_clawed_back": granted}


def test_failed_payment_never_makes_an_unpaid_subscription_paid_again(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    t0 = int(time.time()) - 1000
    # in order: unpaid, then the user's failed attempt at the open invoice
    user = db.create_user()
    sub = subscribed(client, db, fake_stripe, user, PREMIUM, t0)
    unpaid = ev.subscription(str(user), PREMIUM, "unpaid", sub["id"], sub["customer"])
    deliver(client, ev.event("customer.subscription.updated", unpaid, t0 + 100))
    assert account(db, user)["tier"] == CFG.subscriptions.fallback_tier
    invoice = ev.invoice(sub["id"], PREMIUM, str(user), 1999)
    deliver(client, ev.event("invoice.payment_failed", invoice, t0 + 200))
    assert (account(db, user)["status"], account(db, user)["tier"]) == (
        "unpaid",
        CFG.subscriptions.fallback_tier,
    )
    assert client.post("/api/user/subscribe", json={"tier": "premium"}, headers=auth(user)).json()[
        "checkout_url"
    ]  # not subscribed: a new subscription goes through Checkout

    # reordered: the failed attempt is applied before the (older) unpaid state arrives
    other = db.create_user()
    sub = subscribed(client, db, fake_stripe, other, PREMIUM, t0)
    invoice = ev.invoice(sub["id"], PREMIUM, str(other), 1999)
    deliver(client, ev.event("invoice.payment_failed", invoice, t0 + 50))
    late = ev.subscription(str(other), PREMIUM, "unpaid", sub["id"], sub["customer"])
    late_event = ev.event("customer.subscription.updated", late, t0 + 100)
    deliver(client, ev.event("invoice.payment_failed", invoice, t0 + 200))
    deliver(client, late_event)
    assert (account(db, other)["status"], account(db, other)["tier"]) == (
        "unpaid",
        CFG.subscriptions.fallback_tier,
    )
    # a paid invoice makes it active again; the tier follows the subscription's event
    deliver(client, ev.event("invoice.paid", invoice, t0 + 300))
    assert account(db, other)["status"] == "active"
    active = ev.subscription(str(other), PREMIUM, "active", sub["id"], sub["customer"])
    deliver(client, ev.event("customer.subscription.updated", active, t0 + 301))
    assert account(db, other)["tier"] == "premium"


def test_inquiry_closed_as_warning_closed_lifts_its_restriction(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    sub = subscribed(client, db, fake_stripe, user, PRO, int(time.time()) - 1000)
    charge = fake_stripe.add_charge(sub["customer"], None)
    inquiry = ev.dispute(None, 999, charge_id=charge["id"], status="warning_needs_response")
    deliver(client, ev.event("charge.dispute.created", inquiry))
    assert inquiry["id"] in (account(db, user)["restricted_reason"] or "")
    deliver(client, ev.event("charge.dispute.closed", {**inquiry, "status": "warning_closed"}))
    assert account(db, user)["restricted_reason"] is None


def test_lifting_a_restriction_while_a_dispute_is_open_leaves_the_dispute_restriction(
    db: TestDatabase, client: TestClient, fake_stripe: FakeStripe
) -> None:
    user = db.create_user()
    sub = subscribed(client, db, fake_stripe, user, PRO, int(time.time()) - 1000)
    db.execute("update users set restricted_reason = 'manual_review' where id = %s", [user])
    first = ev.dispute(None, 999, charge_id=fake_stripe.add_charge(sub["customer"], None)["id"])
    deliver(client, ev.event("charge.dispute.created", first))
    assert account(db, user)["restricted_reason"] == "manual_review"

    # the admin's review ends while the dispute is still open
    db.execute("update users set restricted_reason = null where id = %s", [user])
    assert first["id"] in (account(db, user)["restricted_reason"] or "")
    # lifting the dispute's own restriction by hand does not end it either
    db.execute("update users set restricted_reason = null where id = %s", [user])
    assert first["id"] in (account(db, user)["restricted_reason"] or "")
    deliver(client, ev.event("charge.dispute.closed", {**first, "status": "won"}))
    assert account(db, user)["restricted_reason"] is None

    # a lost dispute is over: an admin may lift what it left
    second = ev.dispute(None, 999, charge_id=fake_stripe.add_charge(sub["customer"], None)["id"])
    deliver(client, ev.event("charge.dispute.created", second))
    deliver(client, ev.event("charge.dispute.closed", {**second, "status": "lost"}))
    assert second["id"] in (account(db, user)["restricted_reason"] or "")
    db.execute("update users set restricted_reason = null where id = %s", [user])
    assert account(db, user)["restricted_reason"] is None
