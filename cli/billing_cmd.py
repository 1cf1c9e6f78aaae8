"""`flirt-admin billing sync` and `flirt-admin webhooks list|replay`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from cli.common import DbUrl, JsonOut, config, db_url, emit, errors_as_lines, fail, secrets
from pyworker.api.deps import make_stripe_client
from pyworker.api.sync import SyncResult, sync_since
from pyworker.db import call_json, service_connection

billing_app = typer.Typer(help="Stripe billing operations.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Received Stripe webhook events.", no_args_is_help=True)


def _parse_since(value: str) -> datetime:
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since: not an ISO date or timestamp: {value!r}")
    return since if since.tzinfo else since.replace(tzinfo=UTC)


@billing_app.command("sync")
def sync(
    since: Annotated[
        str, typer.Option(help="ISO date/time (UTC unless given): objects created since.")
    ],
    all_subscriptions: Annotated[
        bool, typer.Option(help="Sync every subscription, not only those created since.")
    ] = False,
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Apply Checkout Sessions, PaymentIntents, subscriptions, refunds and disputes that
    webhooks missed (exit 1 if one of them failed; the others are still applied)."""
    start = _parse_since(since)
    client = make_stripe_client(config(), secrets())
    if client is None:
        fail("environment variable STRIPE_SECRET_KEY is not set")
    seen: list[SyncResult] = []
    with (
        errors_as_lines(),
        service_connection(db_url(db)) as conn,
        Progress(
            SpinnerColumn(), TextColumn("{task.description}"), transient=True, disable=as_json
        ) as progress,
    ):
        task = progress.add_task("listing Stripe objects", total=None)

        def advance(result: SyncResult) -> None:
            seen.append(result)
            progress.update(task, description=f"{len(seen)} checked: {result.object} {result.id}")

        results = sync_since(conn, client, start, all_subscriptions, on_result=advance)
    rows = [vars(r) for r in results]
    failed = any(r["status"] == "failed" for r in rows)
    if as_json:
        emit(rows, True)
        if failed:
            raise typer.Exit(1)
        return
    changed = [
        r
        for r in rows
        if r["status"] == "processed" and not r["outcome"].startswith(("already", "unchanged"))
    ]
    emit(
        rows,
        False,
        ["object", "id", "status", "outcome"],
        title=f"Stripe objects since {start:%Y-%m-%d %H:%M}Z",
    )
    typer.echo(f"{len(rows)} objects checked, {len(changed)} applied or updated")
    if failed:
        raise typer.Exit(1)


@webhooks_app.command("list")
def list_events(
    status: Annotated[
        str | None, typer.Option(help="processed | ignored | rejected | failed")
    ] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Stripe event type")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Received events, newest first."""
    with errors_as_lines(), service_connection(db_url(db)) as conn:
        rows: list[dict[str, Any]] = call_json(
            conn,
            "private.list_stripe_events",
            status_filter=status,
            type_filter=type_,
            max_rows=limit,
        )
    emit(
        rows, as_json, ["id", "type", "status", "attempts", "received_at", "outcome", "last_error"]
    )


@webhooks_app.command("replay")
def replay(
    event_ids: Annotated[list[str] | None, typer.Argument(help="Stripe event ids (evt_…)")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Replay every failed event.")] = False,
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Apply stored events again; only failed ones change anything (exit 1 if one still fails).

    `--failed` with no failed event prints that there is nothing to replay and exits 0.
    """
    with errors_as_lines(), service_connection(db_url(db)) as conn:
        ids = list(event_ids or [])
        if failed:
            with conn.transaction():  # ended before the replays, so that each of them commits
                listed = call_json(
                    conn, "private.list_stripe_events", status_filter="failed", max_rows=1000
                )
            ids += [e["id"] for e in listed]
        if not ids and not failed:
            fail("give event ids or --failed")
        if not ids:
            if as_json:
                emit([], True)
            else:
                typer.echo("no failed events: nothing to replay")
            return
        rows = []
        for event_id in ids:
            with conn.transaction():
                rows.append(call_json(conn, "private.replay_stripe_event", event_id=event_id))
    emit(rows, as_json, ["event_id", "type", "status", "duplicate", "outcome", "error"])
    if any(r["status"] == "failed" for r in rows):
        raise typer.Exit(1)
