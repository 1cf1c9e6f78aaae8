"""`flirt-admin credits adjust|history`, `reset-daily` and `reconcile`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.common import DbUrl, JsonOut, console, emit, err_console, fail
from cli.service import service_db, show_table
from cli.users_cmd import UserId, parse_user_id
from pyworker.db import Diagnostic, call_json, call_rpc
from pyworker.queries import Q

credits_app = typer.Typer(help="Credit balances and the ledger.", no_args_is_help=True)

HISTORY_COLUMNS = [
    "id",
    "created_at",
    "kind",
    "daily_delta",
    "purchased_delta",
    "balance_after",
    "reference",
    "metadata",
]
MISMATCH_COLUMNS = [
    "user_id",
    "daily_credits",
    "ledger_daily",
    "purchased_credits",
    "ledger_purchased",
    "credits_remaining",
    "last_balance_after",
]


def _progress(quiet: bool) -> Progress:
    """A progress bar on stderr, so --json output on stdout stays clean."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
    )


@credits_app.command("adjust", context_settings={"ignore_unknown_options": True})
def adjust(
    user: UserId,
    delta: Annotated[
        int,
        typer.Argument(help="Credits to add (negative to take back), purchased bucket."),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (required; stored in the ledger).")
    ] = "",
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Add or remove purchased credits with one admin_adjust ledger row."""
    user_id = parse_user_id(user)
    if not reason.strip():
        fail("--reason is required: say why the balance changes")
    with service_db(db) as conn:
        result = call_rpc(
            conn, "public.admin_adjust_credits", user_id=user_id, delta=delta, reason=reason
        )
    emit(result, as_json, title="credits adjusted")


@credits_app.command("history")
def history(
    user: UserId,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="Newest rows.")] = 50,
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """A user's ledger rows, newest first."""
    user_id = parse_user_id(user)
    with service_db(db) as conn:
        rows = conn.execute(Q["credit_history"], [user_id, limit]).fetchall()
    if as_json:
        emit(rows, True)
        return
    show_table(rows, HISTORY_COLUMNS, title=f"ledger of {user_id}")


def reset_daily(
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, help="Users per committed batch (default: config)."),
    ] = None,
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Give every due user today's allowance now, in committed batches (as the cron job does)."""
    summary: dict[str, str] = {}
    with service_db(db) as conn, _progress(as_json) as bar:
        task = bar.add_task("daily reset", total=None)

        def on_notice(diag: Diagnostic) -> None:
            # `daily_reset_batch day=… rows=… ms=…` per batch, then `daily_reset day=… users=…`
            name, *fields = (diag.message_primary or "").split()
            values = dict(field.split("=", 1) for field in fields)
            if name == "daily_reset_batch":
                bar.update(task, description=f"reset for credit day {values['day']}")
                bar.advance(task, int(values["rows"]))
            elif name == "daily_reset":
                summary.update(values)

        # the cron job's own command, so both run the same loop over reset_due_users
        command = call_json(
            conn, "private.daily_reset_command", batch_size=batch_size, progress=True
        )
        conn.add_notice_handler(on_notice)
        with conn.as_connected_user():  # the block COMMITs: it must be sent alone
            conn.execute(command)
    emit(
        {
            "credit_day": summary["day"],
            "users_reset": int(summary["users"]),
            "batches": int(summary["batches"]),
        },
        as_json,
        title="daily reset",
    )


def reconcile(
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Users per query.")] = 5000,
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Check the ledger invariant for every user; exit 1 listing each mismatching user."""
    mismatches: list[dict[str, Any]] = []
    checked = 0
    with service_db(db) as conn:
        row = conn.execute(Q["count_users"]).fetchone()
        after: uuid.UUID | None = None
        with _progress(as_json) as bar:
            task = bar.add_task("reconcile ledger", total=row["n"] if row else None)
            while True:
                page = conn.execute(Q["ledger_mismatches_page"], [after, batch_size]).fetchall()
                summary = next(r for r in page if not r["mismatch"])
                mismatches += [{c: r[c] for c in MISMATCH_COLUMNS} for r in page if r["mismatch"]]
                checked += summary["users_checked"]
                bar.advance(task, summary["users_checked"])
                if summary["users_checked"] < batch_size:
                    break
                after = summary["last_user_id"]
    if as_json:
        emit({"users_checked": checked, "mismatches": mismatches}, True)
    elif mismatches:
        show_table(mismatches, MISMATCH_COLUMNS, title="ledger mismatches")
    else:
        console.print(f"ledger matches every balance ({checked} users)")
    if mismatches:
        for m in mismatches:
            err_console.print(
                f"mismatch: user {m['user_id']} daily {m['daily_credits']} vs ledger"
                f" {m['ledger_daily']}, purchased {m['purchased_credits']} vs ledger"
                f" {m['ledger_purchased']}, remaining {m['credits_remaining']} vs last"
                f" balance_after {m['last_balance_after']}",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(1)
