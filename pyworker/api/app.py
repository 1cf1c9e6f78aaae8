"""The FastAPI application: routes, CORS, one JSON error shape, health and metrics.

The API faces the internet (Stripe must reach its webhook), so its operational
surface is closed by default: `/metrics` on the API's port answers only with
`Authorization: Bearer <METRICS_TOKEN>` (404 when METRICS_TOKEN is unset), or
is served on a loopback port of its own (`flirt-admin api run --metrics-port`);
`/docs`, `/redoc` and `/openapi.json` follow `[api] docs`.

Every error answers `{"error": {"code", "message", "detail"}}`: `code` is a
stable snake_case string (the same codes the SQL functions raise), `message`
a human sentence, `detail` an object with the figures.
"""

from __future__ import annotations

import gc
import hmac
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pyworker.api import billing, webhooks
from pyworker.api.auth import TokenVerifier
from pyworker.api.deps import Services, make_pool, make_stripe_client
from pyworker.api.events import EventApplier
from pyworker.api.limits import BodyLimitMiddleware
from pyworker.db import ApiError
from pyworker.queries import Q
from pyworker.settings import Config, Secrets, get_config, load_secrets

log = logging.getLogger("pyworker.api")
HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


# Metrics are Prometheus (/metrics); FastAPI's OpenTelemetry hooks would only look up
# unconfigured providers on every request.
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


class BrowserCORSMiddleware(CORSMiddleware):
    """CORS for the routes browsers call; Stripe's server-to-server deliveries skip it."""

    def __init__(self, app: ASGIApp, /, skip_paths: frozenset[str], **options: Any) -> None:
        super().__init__(app, **options)
        self.skip_paths = skip_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.skip_paths:
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def error_response(
    status: int,
    code: str,
    message: str,
    detail: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "detail": jsonable_encoder(detail or {})}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.code, exc.hint or exc.code, exc.detail, headers)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), None, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg")}
        for e in exc.errors()
    ]
    return error_response(422, "invalid_request", "The request is not valid.", {"errors": errors})


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an Authorization header carries `Bearer <token>` (compared in constant time)."""
    scheme, _, given = (authorization or "").partition(" ")
    matches = hmac.compare_digest(given.strip().encode(), token.encode())
    return scheme.lower() == "bearer" and matches


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("api_unhandled_error path=%s", request.url.path)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def create_app(
    cfg: Config | None = None,
    secrets: Secrets | None = None,
    database_url: str | None = None,
    pool_size: int | None = None,
    metrics_port: int | None = None,
) -> FastAPI:
    """Build the app; settings default to config.toml and the environment.

    The pool is small on purpose (FLIRT_API_POOL_SIZE, default 5): every request
    is one short SQL call, and more connections than cores only add switching.
    `metrics_port` (FLIRT_API_METRICS_PORT, set by `api run --metrics-port`)
    serves Prometheus metrics on 127.0.0.1 while the app runs.
    """
    pool_size = pool_size or int(os.environ.get("FLIRT_API_POOL_SIZE") or 5)
    metrics_port = metrics_port or int(os.environ.get("FLIRT_API_METRICS_PORT") or 0)
    cfg = cfg or get_config()
    secrets = secrets or load_secrets()
    dsn = database_url or secrets.database_url
    if not dsn:
        raise RuntimeError("environment variable DATABASE_URL is not set")
    pool = make_pool(dsn, pool_size)
    services = Services(cfg, secrets, pool, make_stripe_client(cfg, secrets), EventApplier(pool))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.pool.open(wait=False)
        metrics_server = None
        if metrics_port:
            metrics_server, _ = start_http_server(metrics_port, addr="127.0.0.1")
            log.info("metrics_listening address=127.0.0.1:%s", metrics_port)
        gc.freeze()  # startup objects never need collecting: cheaper GC passes per request
        log.info("api_started stripe_api_version=%s", cfg.stripe.api_version)
        try:
            yield
        finally:
            if metrics_server:
                metrics_server.shutdown()
                metrics_server.server_close()
            await services.pool.close()

    app = FastAPI(
        title="AI Flirt Studio API",
        version="1.0.0",
        description="Stripe checkout, subscriptions and webhooks for AI Flirt Studio.",
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
        docs_url="/docs" if cfg.api.docs else None,
        redoc_url="/redoc" if cfg.api.docs else None,
        openapi_url="/openapi.json" if cfg.api.docs else None,
    )
    app.state.services = services
    app.state.verifier = TokenVerifier(secrets)
    app.add_middleware(  # inside CORS: a browser can read its 413
        BodyLimitMiddleware,
        limit=cfg.api.max_body_bytes,
        own_limit_paths=frozenset({webhooks.PATH}),  # bounded as it reads its raw body
    )
    app.add_middleware(
        BrowserCORSMiddleware,
        skip_paths=frozenset({webhooks.PATH}),
        allow_origins=cfg.api.cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        max_age=600,
    )
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(webhooks.router)  # first: Stripe's deliveries are the busiest route
    app.include_router(billing.router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "Database unreachable"}})
    async def readyz() -> Any:
        """Readiness: the database answers."""
        try:
            async with services.pool.connection(timeout=2) as conn:
                await conn.execute(Q["ping"])
        except Exception as exc:
            log.warning("readyz_failed error=%s", type(exc).__name__)
            return error_response(503, "database_unavailable", "The database does not answer.")
        return {"status": "ok"}

    # not in the OpenAPI document: an operator's route, not the clients'
    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics, for the bearer of METRICS_TOKEN only."""
        token = secrets.metrics_token
        if not token:
            raise ApiError(404, "not_found", {}, "Not Found")
        if not bearer_matches(request.headers.get("authorization"), token):
            raise ApiError(401, "not_authenticated", {}, "Metrics need the metrics bearer token.")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
