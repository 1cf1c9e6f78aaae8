"""What an event lacks for its rule, read from Stripe before the event is applied.

A Checkout Session event carries no line items (a pack is granted only when they
carry the pack's price), a dispute names its charge but no customer, and a charge
may lack its customer (a dispute or refund restricts or is recorded against the
charge's customer or its PaymentIntent's). These objects are retrieved here and
added to the event in Stripe's own expanded shape (`line_items`, `charge`,
`payment_intent` as objects), so the SQL reads one shape whoever fetched them.

No database transaction or row lock is open while Stripe is called: the event is
applied afterwards, in its own transaction (pyworker.api.events).
"""

from __future__ import annotations

from typing import Any

import stripe

CHECKOUT_EVENTS = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)
DISPUTE_EVENTS = frozenset({"charge.dispute.created", "charge.dispute.closed"})


def needs_line_items(session: dict[str, Any]) -> bool:
    """A paid pack session whose line items are still to be read."""
    return (
        session.get("mode") == "payment"
        and session.get("payment_status") == "paid"
        and bool((session.get("metadata") or {}).get("pack_id"))
        and "line_items" not in session
    )


def line_items(client: stripe.StripeClient, session_id: str) -> dict[str, Any]:
    """A session's line items, as `expand[]=line_items` would give them."""
    listing = client.v1.checkout.sessions.line_items.list(session_id, {"limit": 100})
    return {"object": "list", "data": [item.to_dict() for item in listing.auto_paging_iter()]}


def charge_with_intent(client: stripe.StripeClient, charge_id: str) -> dict[str, Any]:
    """A charge with its PaymentIntent expanded (whose metadata names the user)."""
    charge: dict[str, Any] = client.v1.charges.retrieve(
        charge_id, {"expand": ["payment_intent"]}
    ).to_dict()
    return charge


def payment_intent(client: stripe.StripeClient, intent_id: str) -> dict[str, Any]:
    intent: dict[str, Any] = client.v1.payment_intents.retrieve(intent_id).to_dict()
    return intent


def unattributed_charge(charge: dict[str, Any]) -> bool:
    """A charge naming neither its customer nor a user, with its PaymentIntent only an id."""
    return (
        not charge.get("customer")
        and not (charge.get("metadata") or {}).get("user_id")
        and isinstance(charge.get("payment_intent"), str)
    )


def payment_refs(event_type: str, obj: dict[str, Any]) -> tuple[str | None, str | None] | None:
    """(PaymentIntent id, charge id) of a dispute or refund whose charge must be looked up
    at Stripe unless it is a pack payment we hold; None when the event needs nothing."""
    if event_type in DISPUTE_EVENTS and isinstance(obj.get("charge"), str):
        return _id(obj.get("payment_intent")), obj["charge"]
    if event_type == "charge.refunded" and unattributed_charge(obj):
        return obj["payment_intent"], _id(obj.get("id"))
    return None


def expand_charge_refs(client: stripe.StripeClient, event_type: str, obj: dict[str, Any]) -> None:
    """Expand, in place, the charge of a dispute or the PaymentIntent of a refunded charge."""
    if event_type in DISPUTE_EVENTS:
        obj["charge"] = charge_with_intent(client, obj["charge"])
    else:
        obj["payment_intent"] = payment_intent(client, obj["payment_intent"])


def _id(ref: Any) -> str | None:
    if isinstance(ref, dict):
        ref = ref.get("id")
    return ref if isinstance(ref, str) else None
