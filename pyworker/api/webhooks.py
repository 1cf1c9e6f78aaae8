"""POST /api/webhook/stripe: verify, record and apply each Stripe event once.

The body is bounded while it is read (`[api] max_webhook_bytes`, 413), and
the signature is checked on the raw body with the tolerance applied both
ways (the stripe library only rejects old timestamps). What the event lacks
for its rule (a session's line items, a disputed charge) is then read from
Stripe, with no transaction open (pyworker.api.expand). The event is then
recorded and applied in one transaction with its effects (grouped with the
events that arrive meanwhile: pyworker.api.events): a duplicate delivery,
even a concurrent one, waits for the first and changes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from functools import lru_cache
from typing import Any

import stripe
from fastapi import APIRouter
from fastapi.routing import APIRoute
from prometheus_client import Counter, Histogram
from pydantic import BaseModel
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from pyworker.api import expand
from pyworker.api.deps import Services
from pyworker.db import ApiError, InvalidValue


class RawRequestRoute(APIRoute):
    """A route whose endpoint takes the Request and returns the Response itself.

    The webhook reads, verifies and parses its raw body on its own, so it skips
    FastAPI's dependency solving, body parsing and response validation (about
    half the framework's time per delivery); OpenAPI documents it as usual.
    Dependencies would never run: the route refuses its own router's, and the
    app includes the router without any.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        d = self.dependant
        if (
            d.dependencies
            or d.path_params
            or d.query_params
            or d.header_params
            or d.cookie_params
            or d.body_params
        ):
            # they would never run: a guard added on the router must not pass silently
            raise TypeError(f"{self.path}: a RawRequestRoute endpoint takes only the Request")
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            response: Response = await endpoint(request)
            return response

        return handler


PATH = "/api/webhook/stripe"
# nginx's status for a client that went away before its answer (nobody receives it)
CLIENT_CLOSED_REQUEST = 499
router = APIRouter(tags=["webhooks"], route_class=RawRequestRoute)
log = logging.getLogger("pyworker.api.webhooks")

WEBHOOK_EVENTS = Counter(
    "flirt_webhook_events_total", "Stripe webhook deliveries by outcome", ["type", "status"]
)
WEBHOOK_REJECTED = Counter(
    "flirt_webhook_rejected_total", "Webhook deliveries refused before applying", ["reason"]
)
WEBHOOK_SECONDS = Histogram("flirt_webhook_seconds", "Time to verify and apply one delivery")


class WebhookOut(BaseModel):
    received: bool
    event_id: str
    status: str
    duplicate: bool


def _reject(reason: str, hint: str) -> ApiError:
    WEBHOOK_REJECTED.labels(reason).inc()
    return ApiError(400, reason, {}, hint)


def _too_large(limit: int) -> ApiError:
    WEBHOOK_REJECTED.labels("payload_too_large").inc()
    return ApiError(
        413,
        "payload_too_large",
        {"limit_bytes": limit},
        f"Webhook bodies are limited to {limit} bytes ([api] max_webhook_bytes).",
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise _too_large(limit)
    return bytes(chunks)


async def _expand(svc: Services, event: dict[str, Any]) -> bool:
    """Add to the event what its rule needs from Stripe; True when something was added."""
    kind, obj = event["type"], event["data"]["object"]
    if kind in expand.CHECKOUT_EVENTS and expand.needs_line_items(obj):
        session_id = str(obj.get("id"))
        obj["line_items"] = await svc.stripe_call(
            "checkout.sessions.line_items.list", lambda c: expand.line_items(c, session_id)
        )
        return True
    refs = expand.payment_refs(kind, obj)
    if refs is None or await svc.call(
        "private.pack_payment_exists", payment_intent=refs[0], charge=refs[1]
    ):
        return False
    await svc.stripe_call("charges.retrieve", lambda c: expand.expand_charge_refs(c, kind, obj))
    return True


@lru_cache(maxsize=4)
def webhook_secrets(value: str) -> tuple[str, ...]:
    """STRIPE_WEBHOOK_SECRET as its comma-separated secrets (two while one is rotated)."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _signed_with(payload: str, header: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    except stripe.SignatureVerificationError:
        return False
    return True


def verify_signature(payload: str, header: str, secrets: Sequence[str], tolerance: int) -> None:
    """Raise a 400 ApiError unless `header` signs `payload` with one of `secrets`.

    The signature's timestamp must also be within ±tolerance seconds of now.
    """
    try:
        if not any(_signed_with(payload, header, secret) for secret in secrets):
            raise stripe.SignatureVerificationError("no signature matches", header)
        # the SDK verifies against the first t=; a header with several could pair an old
        # signature with a fresh-looking timestamp, so exactly one is accepted
        (timestamp,) = [
            int(v) for k, _, v in (p.partition("=") for p in header.split(",")) if k == "t"
        ]
    except (stripe.SignatureVerificationError, KeyError, ValueError) as exc:
        raise _reject("invalid_signature", "The Stripe-Signature header does not match.") from exc
    skew = time.time() - timestamp
    if skew > tolerance:
        raise _reject("stale_signature", f"The signature is older than {tolerance} s.")
    if skew < -tolerance:
        raise _reject("future_signature", f"The signature is dated over {tolerance} s ahead.")


@router.post(
    PATH,
    response_model=WebhookOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "parameters": [
            {
                "name": "Stripe-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
    },
    responses={
        400: {"description": "Bad signature or payload"},
        413: {"description": "Body over [api] max_webhook_bytes"},
        500: {"description": "Retry"},
        503: {"description": "Webhooks are not configured (no STRIPE_WEBHOOK_SECRET)"},
    },
)
async def stripe_webhook(request: Request) -> Response:
    """Receive a Stripe event (signed); 200 once applied, ignored or rejected (a payment that
    did not pay its pack's price: recorded, never retried), 500 so Stripe retries."""
    started = time.perf_counter()
    svc: Services = request.app.state.services
    secrets = webhook_secrets(svc.secrets.stripe_webhook_secret or "")
    if not secrets:
        raise ApiError(503, "webhooks_not_configured", {}, "STRIPE_WEBHOOK_SECRET is not set.")
    try:
        raw = await _read_body(request, svc.cfg.api.max_webhook_bytes)
    except ClientDisconnect:
        # nothing was recorded or applied: Stripe, having no answer, delivers it again
        WEBHOOK_REJECTED.labels("client_disconnected").inc()
        log.info("stripe_webhook_client_disconnected stage=body")
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    header = request.headers.get("stripe-signature")
    if not header:
        raise _reject("missing_signature", "The Stripe-Signature header is missing.")
    try:
        payload = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _reject("malformed_payload", "The body is not UTF-8.") from exc
    verify_signature(payload, header, secrets, svc.cfg.stripe.webhook_tolerance_seconds)
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise _reject("malformed_payload", "The body is not JSON.") from exc
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and type(event.get("created")) is int
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise _reject("malformed_payload", "The body is not a Stripe event.")
    if "\\u0000" in payload:  # valid JSON that jsonb cannot hold
        raise _reject("malformed_payload", "The event cannot be stored as JSON.")

    try:
        if await _expand(svc, event):
            payload = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    except ApiError as exc:  # Stripe failed: keep the event as failed, Stripe retries it
        result = await svc.events.record_failure(payload, f"{exc.code}: {exc.hint}")
        log.warning("stripe_event_expand_failed event_id=%s error=%s", event["id"], exc.code)
        raise ApiError(
            500,
            "event_failed",
            {"event_id": event["id"], "error": result.get("error")},
            "Reading the event's objects from Stripe failed; Stripe will retry it.",
        ) from exc
    try:
        result = await svc.events.apply(payload)
    except InvalidValue as exc:  # cannot be stored as jsonb
        raise _reject("malformed_payload", "The event cannot be stored as JSON.") from exc
    status = result.get("status", "failed")
    WEBHOOK_EVENTS.labels(event["type"], "duplicate" if result.get("duplicate") else status).inc()
    WEBHOOK_SECONDS.observe(time.perf_counter() - started)
    log.log(
        logging.WARNING if status == "rejected" else logging.INFO,
        "stripe_event event_id=%s type=%s status=%s duplicate=%s outcome=%r",
        event["id"],
        event["type"],
        status,
        result.get("duplicate"),
        result.get("outcome") or result.get("error"),
    )
    if status == "failed":
        # Effects were rolled back and the failure recorded; a 500 makes Stripe retry.
        raise ApiError(
            500,
            "event_failed",
            {"event_id": event["id"], "error": result.get("error")},
            "Applying the event failed; Stripe will retry it.",
        )
    # a plain JSONResponse: the hot path skips response-model validation
    return JSONResponse(
        {
            "received": True,
            "event_id": event["id"],
            "status": status,
            "duplicate": bool(result.get("duplicate")),
        }
    )
