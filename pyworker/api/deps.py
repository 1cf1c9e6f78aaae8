"""What every request needs: the service_role connection pool, Stripe and settings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import stripe
from prometheus_client import Counter, Histogram
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from pyworker.api.events import EventApplier
from pyworker.db import SERVICE_ROLE, ApiError, AsyncPool, async_call_json, async_pool
from pyworker.settings import Config, Secrets

log = logging.getLogger("pyworker.api")
T = TypeVar("T")

STRIPE_CALLS = Histogram(
    "flirt_stripe_api_seconds", "Stripe API calls made by the API", ["operation", "outcome"]
)
BILLING_REQUESTS = Counter(
    "flirt_billing_requests_total", "User billing requests", ["endpoint", "outcome"]
)


STRIPE_TIMEOUT_SECONDS = 15


def make_stripe_client(cfg: Config, secrets: Secrets) -> stripe.StripeClient | None:
    """A Stripe client pinned to config's API version (None without STRIPE_SECRET_KEY)."""
    if not secrets.stripe_secret_key:
        return None
    bases: dict[str, str] = {}
    if secrets.stripe_api_base:
        bases["api"] = secrets.stripe_api_base.rstrip("/")
    return stripe.StripeClient(
        secrets.stripe_secret_key,
        stripe_version=cfg.stripe.api_version,
        base_addresses=bases,  # type: ignore[arg-type]
        max_network_retries=2,
        # bounded: a request waits at most this long for Stripe (no lock is held meanwhile)
        http_client=stripe.new_default_http_client(timeout=STRIPE_TIMEOUT_SECONDS),
    )


def make_pool(dsn: str, max_size: int = 10) -> AsyncPool[Any]:
    """Connections acting as service_role (opened by the app's lifespan); DATABASE_URL may
    be a transaction pooler (pyworker.db).

    Autocommit: one SQL function call is one transaction and one round trip
    (no separate BEGIN/COMMIT); multi-statement work uses `conn.transaction()`.
    """
    return async_pool(dsn, name="api", role=SERVICE_ROLE, min_size=2, max_size=max_size, timeout=10)


@dataclass
class Services:
    cfg: Config
    secrets: Secrets
    pool: AsyncPool[Any]
    stripe_client: stripe.StripeClient | None
    events: EventApplier

    async def call(self, function: str, **params: Any) -> Any:
        """One SQL function call (its own transaction); PTxxx becomes ApiError."""
        async with self.pool.connection() as conn:
            return await async_call_json(conn, function, **params)

    async def stripe_call(self, operation: str, fn: Callable[[stripe.StripeClient], T]) -> T:
        """Run a Stripe call off the event loop; any Stripe failure is a 502."""
        client = self.stripe_client
        if client is None:
            raise ApiError(503, "payments_not_configured", {}, "STRIPE_SECRET_KEY is not set.")
        started = time.perf_counter()
        try:
            result = await run_in_threadpool(fn, client)
        except stripe.StripeError as exc:
            STRIPE_CALLS.labels(operation, "error").observe(time.perf_counter() - started)
            log.warning(
                "stripe_call_failed operation=%s http_status=%s code=%s request_id=%s",
                operation,
                exc.http_status,
                exc.code,
                exc.request_id,
            )
            raise ApiError(
                502,
                "payment_provider_error",
                {"operation": operation, "stripe_code": exc.code, "request_id": exc.request_id},
                "The payment provider could not be reached or refused the request; "
                "nothing was charged. Try again.",
            ) from exc
        STRIPE_CALLS.labels(operation, "ok").observe(time.perf_counter() - started)
        return result


def services(request: Request) -> Services:
    """FastAPI dependency: the app's Services."""
    svc: Services = request.app.state.services
    return svc
