"""User billing endpoints: packs, quick packs, subscriptions, cancel, customer portal.

Every object created at Stripe carries metadata.user_id (and pack_id or tier),
sessions carry client_reference_id, and every create has an idempotency key:
a client may send `Idempotency-Key` to make a retried request return the
same Stripe object. Credits are granted only by the webhook, never here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field

from pyworker.api.auth import CurrentUser, current_user
from pyworker.api.deps import BILLING_REQUESTS, Services, services
from pyworker.db import ApiError


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable snake_case code, e.g. pack_not_found.")
    message: str = Field(description="A human sentence.")
    detail: dict[str, Any] = Field(description="The figures behind the error.")


class ErrorOut(BaseModel):
    error: ErrorDetail


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "The tier cannot be bought (e.g. the free tier)",
        401: "Missing, expired or invalid access token",
        403: "Account restricted",
        404: "No account for this token (user_not_found), or an unknown pack, tier or subscription",
        409: "Already subscribed to this tier, or the subscription is not active for a plan change",
        413: "Body over [api] max_body_bytes (payload_too_large), refused while it is read",
        422: "Invalid body",
        502: "Stripe failed; nothing was charged",
        503: "Payments are not configured on this server (no STRIPE_SECRET_KEY)",
    }
    return {s: {"model": ErrorOut, "description": text[s]} for s in statuses}


router = APIRouter(
    prefix="/api/user", tags=["billing"], responses=_errors(401, 404, 413, 422, 502, 503)
)

User = Annotated[CurrentUser, Depends(current_user)]
Svc = Annotated[Services, Depends(services)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Optional: the same key returns the same Stripe object for a retried request.",
    ),
]
SLUG = r"^[a-z][a-z0-9_]{0,31}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BuyPackBody(_Body):
    pack_id: str = Field(pattern=SLUG, examples=["small"])


class SubscribeBody(_Body):
    tier: str = Field(pattern=SLUG, examples=["premium"])


class CancelBody(_Body):
    immediately: bool = False


class CheckoutOut(BaseModel):
    checkout_url: str
    session_id: str


class QuickPackOut(BaseModel):
    client_secret: str
    payment_intent_id: str


class SubscribeOut(BaseModel):
    checkout_url: str | None = Field(description="Set when a new subscription needs Checkout.")
    session_id: str | None
    subscription_id: str | None = Field(
        default=None, description="Set when the existing subscription was changed in place."
    )
    status: str | None = None


class CancelOut(BaseModel):
    status: str
    cancel_at_period_end: bool
    current_period_end: datetime | None


class PortalOut(BaseModel):
    url: str


def _key(kind: str, user: CurrentUser, client_key: str | None, *parts: str) -> str:
    """Stripe idempotency key: stable for a client-keyed retry, unique otherwise."""
    return ":".join([kind, str(user.id), *parts, client_key or uuid.uuid4().hex])


async def _account_with_customer(svc: Services, user: CurrentUser, purchase: bool) -> Any:
    """The account and its one Stripe customer, created on first need.

    No transaction or row lock is held while Stripe answers (it would hold up the
    user's perform_action): concurrent first requests all create the customer with
    the same idempotency key, so Stripe answers them the same customer, and the
    conditional set keeps the first id stored.
    """
    account = await svc.call("private.billing_account", target_user=user.id, purchase=purchase)
    if account["stripe_customer_id"]:
        return account
    params: Any = {"metadata": {"user_id": str(user.id)}}
    if account["email"]:
        params["email"] = account["email"]
    customer = await svc.stripe_call(
        "customers.create",
        lambda c: c.v1.customers.create(
            params,
            # derived from the user: concurrent and retried requests get the same customer
            options={"idempotency_key": f"customer:{user.id}"},
        ),
    )
    account["stripe_customer_id"] = await svc.call(
        "private.set_stripe_customer", target_user=user.id, customer_id=customer.id
    )
    return account


def _period_end(subscription: Any) -> datetime | None:
    # since API 2025-03-31 the billing period lives on the subscription items
    items = subscription.to_dict().get("items", {}).get("data", [])
    end = items[0].get("current_period_end") if items else None
    return datetime.fromtimestamp(end, UTC) if end else None


@router.post("/buy_pack", response_model=CheckoutOut, responses=_errors(403))
async def buy_pack(
    body: BuyPackBody, user: User, svc: Svc, idempotency_key: IdempotencyKey = None
) -> CheckoutOut:
    """Start a Stripe Checkout Session (mode payment) for a credit pack."""
    pack = await svc.call("private.billing_pack", pack=body.pack_id)
    account = await _account_with_customer(svc, user, purchase=True)
    meta = {"user_id": str(user.id), "pack_id": pack["id"]}
    params: Any = {
        "mode": "payment",
        "customer": account["stripe_customer_id"],
        "client_reference_id": str(user.id),
        "line_items": [{"price": pack["stripe_price_id"], "quantity": 1}],
        "metadata": meta,
        "payment_intent_data": {"metadata": meta},
        "success_url": svc.cfg.stripe.success_url,
        "cancel_url": svc.cfg.stripe.cancel_url,
    }
    key = _key("buy_pack", user, idempotency_key, pack["id"])
    session = await svc.stripe_call(
        "checkout.sessions.create",
        lambda c: c.v1.checkout.sessions.create(params, {"idempotency_key": key}),
    )
    BILLING_REQUESTS.labels("buy_pack", "ok").inc()
    return CheckoutOut(checkout_url=session.url or "", session_id=session.id)


@router.post("/buy_quick_pack", response_model=QuickPackOut, responses=_errors(403))
async def buy_quick_pack(
    body: BuyPackBody, user: User, svc: Svc, idempotency_key: IdempotencyKey = None
) -> QuickPackOut:
    """Create a PaymentIntent for a pack, confirmed by the frontend with Stripe.js."""
    pack = await svc.call("private.billing_pack", pack=body.pack_id)
    account = await _account_with_customer(svc, user, purchase=True)
    params: Any = {
        "amount": pack["price_cents"],
        "currency": pack["currency"],
        "customer": account["stripe_customer_id"],
        "automatic_payment_methods": {"enabled": True},
        "description": pack["name"],
        "metadata": {"user_id": str(user.id), "pack_id": pack["id"]},
    }
    key = _key("buy_quick_pack", user, idempotency_key, pack["id"])
    intent = await svc.stripe_call(
        "payment_intents.create",
        lambda c: c.v1.payment_intents.create(params, {"idempotency_key": key}),
    )
    BILLING_REQUESTS.labels("buy_quick_pack", "ok").inc()
    return QuickPackOut(client_secret=intent.client_secret or "", payment_intent_id=intent.id)


@router.post("/subscribe", response_model=SubscribeOut, responses=_errors(400, 403, 409))
async def subscribe(
    body: SubscribeBody, user: User, svc: Svc, idempotency_key: IdempotencyKey = None
) -> SubscribeOut:
    """Subscribe through Checkout, or move the existing subscription to `tier` (prorated)."""
    plan = await svc.call("private.plan_subscription", target_user=user.id, tier=body.tier)
    meta = {"user_id": str(user.id), "tier": plan["target_tier"]}
    key = _key("subscribe", user, idempotency_key, plan["target_tier"])
    if plan["action"] == "modify":
        # Never a second subscription: change the price of the existing one.
        sub_id = plan["subscription_id"]
        current = await svc.stripe_call(
            "subscriptions.retrieve", lambda c: c.v1.subscriptions.retrieve(sub_id)
        )
        item_id = current.to_dict()["items"]["data"][0]["id"]
        if plan["cancel_at_period_end"]:
            # a pending update takes only the price change: renewing is a change of its own
            renew_key = key + ":renew"
            await svc.stripe_call(
                "subscriptions.update",
                lambda c: c.v1.subscriptions.update(
                    sub_id, {"cancel_at_period_end": False}, {"idempotency_key": renew_key}
                ),
            )
        # The difference is invoiced and charged now, and the new price applies only once that
        # invoice is paid (until then Stripe keeps it in the subscription's pending_update).
        update: Any = {
            "items": [{"id": item_id, "price": plan["price_id"]}],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        }
        updated = await svc.stripe_call(
            "subscriptions.update",
            lambda c: c.v1.subscriptions.update(sub_id, update, {"idempotency_key": key}),
        )
        BILLING_REQUESTS.labels("subscribe", "modified").inc()
        return SubscribeOut(
            checkout_url=None, session_id=None, subscription_id=updated.id, status=updated.status
        )
    account = await _account_with_customer(svc, user, purchase=True)
    params: Any = {
        "mode": "subscription",
        "customer": account["stripe_customer_id"],
        "client_reference_id": str(user.id),
        "line_items": [{"price": plan["price_id"], "quantity": 1}],
        "metadata": meta,
        "subscription_data": {"metadata": meta},
        "success_url": svc.cfg.stripe.success_url,
        "cancel_url": svc.cfg.stripe.cancel_url,
    }
    session = await svc.stripe_call(
        "checkout.sessions.create",
        lambda c: c.v1.checkout.sessions.create(params, {"idempotency_key": key}),
    )
    BILLING_REQUESTS.labels("subscribe", "checkout").inc()
    return SubscribeOut(checkout_url=session.url or "", session_id=session.id)


@router.post("/cancel_subscription", response_model=CancelOut)
async def cancel_subscription(
    user: User, svc: Svc, body: CancelBody | None = None, idempotency_key: IdempotencyKey = None
) -> CancelOut:
    """Cancel at the end of the paid period (default) or immediately."""
    immediately = body.immediately if body else False
    account = await svc.call("private.billing_account", target_user=user.id, purchase=False)
    if not account["subscribed"]:
        raise ApiError(404, "no_subscription", {}, "There is no active subscription to cancel.")
    sub_id = account["subscription_id"]
    if immediately:
        now_key = _key("cancel_now", user, idempotency_key, sub_id)
        # Usage not yet invoiced (prorations of a plan change) is invoiced now, not dropped.
        cancel: Any = {"invoice_now": True, "prorate": True}
        sub = await svc.stripe_call(
            "subscriptions.cancel",
            lambda c: c.v1.subscriptions.cancel(
                sub_id, cancel, options={"idempotency_key": now_key}
            ),
        )
    else:
        key = _key("cancel", user, idempotency_key, sub_id)
        sub = await svc.stripe_call(
            "subscriptions.update",
            lambda c: c.v1.subscriptions.update(
                sub_id, {"cancel_at_period_end": True}, {"idempotency_key": key}
            ),
        )
    BILLING_REQUESTS.labels("cancel_subscription", "immediately" if immediately else "at_end").inc()
    # The database follows through the customer.subscription.* webhook.
    return CancelOut(
        status=sub.status,
        cancel_at_period_end=bool(sub.cancel_at_period_end),
        current_period_end=_period_end(sub),
    )


@router.post("/billing_portal", response_model=PortalOut)
async def billing_portal(user: User, svc: Svc, idempotency_key: IdempotencyKey = None) -> PortalOut:
    """A Stripe customer portal session (invoices, payment methods, plan)."""
    account = await _account_with_customer(svc, user, purchase=False)
    params: Any = {
        "customer": account["stripe_customer_id"],
        "return_url": svc.cfg.stripe.portal_return_url,
    }
    key = _key("portal", user, idempotency_key)
    portal = await svc.stripe_call(
        "billing_portal.sessions.create",
        lambda c: c.v1.billing_portal.sessions.create(params, {"idempotency_key": key}),
    )
    BILLING_REQUESTS.labels("billing_portal", "ok").inc()
    return PortalOut(url=portal.url)
