"""Missed-webhook recovery: apply recent Stripe objects through the same SQL functions.

Stripe retries a webhook for three days; after a longer outage (or a
misconfigured endpoint) events are lost. `flirt-admin billing sync --since T`
lists Checkout Sessions, PaymentIntents and subscriptions created since T, then
refunds and disputes created since T, and applies each through
`private.sync_stripe_object`, which hands it to the handler of its webhook event
and is idempotent (a pack is granted once per PaymentIntent, and only for a
payment of the pack's price: a paid session's line items are read first; a
subscription state is applied only when it is not older than the state already
applied).

Refunds and disputes come after the payments, so that a clawback finds the grant
of a payment refunded or disputed during the outage. A refund is applied as its
charge's `charge.refunded` (the charge, read from Stripe with its PaymentIntent,
carries the cumulative amount refunded: several refunds of one charge are one
charge); a dispute as its `charge.dispute.created`, or `charge.dispute.closed`
when it is closed already, with its charge read from Stripe as the webhook does.
Either takes back only what was not taken yet, so a second sync or the late
webhook of the same refund or dispute claws back nothing more. An object whose
handler fails (a refund of a pack whose grant is older than T and was missed
too) is reported as failed and the others are still applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe

from pyworker.api.expand import charge_with_intent, line_items, needs_line_items
from pyworker.db import ApiError, Connection, DatabaseError, DatabaseUnavailable, call_json

SYNCED = ("checkout.session", "payment_intent", "subscription", "charge", "dispute")


@dataclass(frozen=True)
class SyncResult:
    object: str
    id: str
    status: str
    outcome: str


def stripe_objects(
    client: stripe.StripeClient, since: datetime, all_subscriptions: bool = False
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, object) for every synced object created since `since`: payments first, then
    the charges refunded and the disputes opened since then."""
    created = {"gte": int(since.timestamp())}
    recent: Any = {"created": created, "limit": 100}
    subscriptions: Any = {"status": "all", "limit": 100}
    if not all_subscriptions:
        subscriptions["created"] = created
    listings: list[tuple[str, Callable[[], Any]]] = [
        ("checkout.session", lambda: client.v1.checkout.sessions.list(recent)),
        ("payment_intent", lambda: client.v1.payment_intents.list(recent)),
        ("subscription", lambda: client.v1.subscriptions.list(subscriptions)),
    ]
    for kind, first_page in listings:
        for obj in first_page().auto_paging_iter():
            yield kind, obj.to_dict()
    yield from refunded_charges(client, recent)
    for dispute in client.v1.disputes.list(recent).auto_paging_iter():
        obj = dispute.to_dict()
        if isinstance(obj.get("charge"), str):
            # a dispute names no customer: its charge (and PaymentIntent) name the user
            obj["charge"] = charge_with_intent(client, obj["charge"])
        yield "dispute", obj


def refunded_charges(
    client: stripe.StripeClient, params: Any
) -> Iterator[tuple[str, dict[str, Any]]]:
    """("charge", charge) once for each charge with a refund created in `params`' window,
    as it is now (its amount_refunded is cumulative)."""
    seen: set[str] = set()
    for refund in client.v1.refunds.list(params).auto_paging_iter():
        charge = refund.to_dict().get("charge")
        charge_id = charge.get("id") if isinstance(charge, dict) else charge
        if not charge_id or charge_id in seen:
            continue  # a refund of no charge (a customer balance) grants or takes nothing here
        seen.add(charge_id)
        yield "charge", charge_with_intent(client, charge_id)


def sync_since(
    conn: Connection[Any],
    client: stripe.StripeClient,
    since: datetime,
    all_subscriptions: bool = False,
    on_result: Callable[[SyncResult], None] | None = None,
) -> list[SyncResult]:
    """Apply every listed object (one transaction each) and return what happened."""
    # Subscription states are as of the start of the listing: a webhook applied
    # meanwhile with a later Stripe timestamp is not overwritten.
    observed_at = datetime.now(UTC)
    results = []
    for kind, obj in stripe_objects(client, since, all_subscriptions):
        if kind == "checkout.session" and needs_line_items(obj):
            # read before the transaction: no lock is held across a Stripe call
            obj["line_items"] = line_items(client, obj["id"])
        result = _apply(conn, kind, obj, observed_at)
        results.append(result)
        if on_result:
            on_result(result)
    return results


def _apply(
    conn: Connection[Any], kind: str, obj: dict[str, Any], observed_at: datetime
) -> SyncResult:
    """One object in its own transaction; a handler's error fails this object only."""
    try:
        with conn.transaction():
            outcome = call_json(
                conn, "private.sync_stripe_object", object=obj, observed_at=observed_at
            )
    except DatabaseUnavailable:
        raise
    except (ApiError, DatabaseError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return SyncResult(kind, obj["id"], "failed", message)
    return SyncResult(kind, obj["id"], outcome["status"], outcome["outcome"])
