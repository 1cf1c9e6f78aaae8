"""`flirt-admin api …`: the HTTP API (Stripe checkout, subscriptions, webhooks)."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
import uvicorn

from cli.common import DbUrl, config, db_url, fail

api_app = typer.Typer(
    help="HTTP API: Stripe checkout, subscriptions and webhooks.", no_args_is_help=True
)


@api_app.command("run")
def run(
    host: Annotated[str | None, typer.Option(help="Bind address (default: [api] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: [api] port).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request line.")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Also serve Prometheus metrics on 127.0.0.1:PORT.", min=1, max=65535),
    ] = None,
    db: DbUrl = None,
) -> None:
    """Serve the API with uvicorn (reads DATABASE_URL, SUPABASE_*, STRIPE_* from the env)."""
    cfg = config()
    if metrics_port and workers > 1:
        # each uvicorn process has its own counters and cannot share one port
        fail("--metrics-port serves one process: run one API process per port instead")
    os.environ["DATABASE_URL"] = db_url(db)
    if metrics_port:
        os.environ["FLIRT_API_METRICS_PORT"] = str(metrics_port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        "pyworker.api.app:create_app",
        factory=True,
        host=host or cfg.api.host,
        port=port or cfg.api.port,
        workers=workers,
        # the C HTTP parser: about half the CPU of h11 per request (bench_webhooks.py)
        http="httptools",
        access_log=access_log,
        log_level="info",
    )
