"""Realistic Stripe event payloads in the pinned API version's shape (2025-03-31.basil).

Since that version an invoice's subscription is at
`parent.subscription_details.subscription`, a line's price at
`pricing.price_details.price`, and a subscription's period on its items.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import stripe

API_VERSION = "2025-03-31.basil"
_seq = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_test{int(time.time() * 1000)}{next(_seq):05d}"


def event(
    type_: str, obj: dict[str, Any], created: int | None = None, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or _id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created or int(time.time()),
        "data": {"object": obj, "previous_attributes": {}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": _id("req"), "idempotency_key": None},
        "type": type_,
    }


def signed(
    evt: dict[str, Any] | str, secret: str, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Stripe would send for `evt`, signed at `at` (default now)."""
    payload = evt if isinstance(evt, str) else json.dumps(evt)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret, at or int(time.time())
    )
    return payload.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


def checkout_session(
    user_id: str,
    pack_id: str,
    amount: int,
    payment_intent: str | None = None,
    payment_status: str = "paid",
    customer: str | None = None,
) -> dict[str, Any]:
    return {
        "id": _id("cs_test"),
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "client_reference_id": user_id,
        "created": int(time.time()),
        "currency": "usd",
        "customer": customer or _id("cus"),
        "livemode": False,
        "metadata": {"user_id": user_id, "pack_id": pack_id},
        "mode": "payment",
        "payment_intent": payment_intent or _id("pi"),
        "payment_status": payment_status,
        "status": "complete",
        "url": None,
    }


def payment_intent(
    user_id: str | None,
    pack_id: str | None,
    amount: int,
    intent_id: str | None = None,
    status: str = "succeeded",
    currency: str = "usd",
) -> dict[str, Any]:
    pid = intent_id or _id("pi")
    return {
        "id": pid,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "created": int(time.time()),
        "currency": currency,
        "customer": _id("cus"),
        "latest_charge": "ch_" + pid.removeprefix("pi_"),
        "livemode": False,
        "metadata": {
            **({"user_id": user_id} if user_id else {}),
            **({"pack_id": pack_id} if pack_id else {}),
        },
        "status": status,
    }


def charge(
    intent_id: str, amount: int, amount_refunded: int, metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": metadata or {},
        "id": "ch_" + intent_id.removeprefix("pi_"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "currency": "usd",
        "payment_intent": intent_id,
        "refunded": amount_refunded >= amount,
        "status": "succeeded",
    }


def dispute(
    intent_id: str | None,
    amount: int,
    charge_id: str | None = None,
    status: str = "needs_response",
    dispute_id: str | None = None,
    reason: str = "fraudulent",
) -> dict[str, Any]:
    """A dispute as Stripe sends it: `charge` is an id (not expanded), no customer."""
    return {
        "id": dispute_id or _id("dp"),
        "object": "dispute",
        "amount": amount,
        "charge": charge_id or "ch_" + (intent_id or "").removeprefix("pi_"),
        "currency": "usd",
        "payment_intent": intent_id,
        "reason": reason,
        "status": status,
    }


def subscription(
    user_id: str,
    price: str,
    status: str = "active",
    sub_id: str | None = None,
    customer: str | None = None,
    cancel_at_period_end: bool = False,
    period_end: int | None = None,
) -> dict[str, Any]:
    now = int(time.time())
    sid = sub_id or _id("sub")
    return {
        "id": sid,
        "object": "subscription",
        "cancel_at_period_end": cancel_at_period_end,
        "created": now,
        "customer": customer or _id("cus"),
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_" + sid.removeprefix("sub_"),
                    "object": "subscription_item",
                    "current_period_end": period_end or now + 30 * 86400,
                    "current_period_start": now,
                    "price": {"id": price, "object": "price", "recurring": {"interval": "month"}},
                    "quantity": 1,
                    "subscription": sid,
                }
            ],
        },
        "livemode": False,
        "metadata": {"user_id": user_id},
        "status": status,
    }


def invoice(sub_id: str, price: str, user_id: str, amount: int = 999) -> dict[str, Any]:
    return {
        "id": _id("in"),
        "object": "invoice",
        "amount_due": amount,
        "amount_paid": amount,
        "billing_reason": "subscription_cycle",
        "currency": "usd",
        "customer": _id("cus"),
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": _id("il"),
                    "object": "line_item",
                    "amount": amount,
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {
                            "proration": False,
                            "subscription": sub_id,
                            "subscription_item": "si_" + sub_id.removeprefix("sub_"),
                        },
                    },
                    "pricing": {"type": "price_details", "price_details": {"price": price}},
                }
            ],
        },
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"metadata": {"user_id": user_id}, "subscription": sub_id},
        },
        "status": "paid",
    }
