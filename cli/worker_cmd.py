"""`flirt-admin worker …`: run the analysis worker, look at the queue."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import DbUrl, JsonOut, config, db_url, emit, fail
from cli.service import service_db
from pyworker import worker as analysis_worker
from pyworker.queries import Q

worker_app = typer.Typer(help="Analysis worker.", no_args_is_help=True)


@worker_app.command("run")
def run(
    db: DbUrl = None,
    concurrency: Annotated[
        int | None,
        typer.Option(help="AI calls in flight (default: worker.concurrency).", min=1),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT.", min=1, max=65535),
    ] = None,
    exit_when_empty: Annotated[
        bool, typer.Option(help="Stop once no analysis is ready or in flight.")
    ] = False,
) -> None:
    """Process queued analyses until SIGTERM (drains within shutdown_grace_seconds)."""
    cfg = config()
    url = db_url(db)
    analysis_worker.configure_logging()
    try:
        analysis_worker.run_worker(
            url,
            cfg,
            concurrency=concurrency,
            metrics_port=metrics_port,
            exit_when_empty=exit_when_empty,
        )
    except analysis_worker.WorkerSetupError as exc:
        fail(str(exc))


@worker_app.command("queue")
def queue(db: DbUrl = None, as_json: JsonOut = False) -> None:
    """Queue depth: queued, ready, processing, expired leases, oldest ready age."""
    with service_db(db) as conn:
        row = conn.execute(Q["queue_stats"]).fetchone()
    emit(row["stats"] if row else {}, as_json, title="analysis queue")
