"""Missed-webhook recovery: apply recent Stripe objects through the same SQL functions.

Stripe retries a webhook for three days; after a longer outage (or a
misconfigured endpoint) events are lost. `flirt-admin billing sync --since T`
lists Checkout Sessions, PaymentIntents and subscriptions created since T and
applies each through `private.sync_stripe_object`, which is idempotent (a
pack is granted once per PaymentIntent, and only for a payment of the pack's
price: a paid session's line items are read first; a subscription state is
applied only when it is not older than the state already applied).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe

from pyworker.api.expand import line_items, needs_line_items
from pyworker.db import Connection, call_json

SYNCED = ("checkout.session", "payment_intent", "subscription")


@dataclass(frozen=True)
class SyncResult:
    object: str
    id: str
    status: str
    outcome: str


def stripe_objects(
    client: stripe.StripeClient, since: datetime, all_subscriptions: bool = False
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, object) for every synced object created since `since`."""
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
        with conn.transaction():
            outcome = call_json(
                conn, "private.sync_stripe_object", object=obj, observed_at=observed_at
            )
        result = SyncResult(kind, obj["id"], outcome["status"], outcome["outcome"])
        results.append(result)
        if on_result:
            on_result(result)
    return results
