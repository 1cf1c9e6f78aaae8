"""`flirt-admin analyses list|retry`: the queue and history, and retrying failures."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

import typer

from cli.common import DbUrl, JsonOut, emit, fail
from cli.service import service_db, show_table
from cli.users_cmd import parse_user_id
from pyworker.db import call_json
from pyworker.queries import Q

analyses_app = typer.Typer(help="Analyses: the queue and its history.", no_args_is_help=True)

LIST_COLUMNS = [
    "id",
    "user_id",
    "action_type",
    "status",
    "cost",
    "attempts",
    "created_at",
    "error",
]


class Status(StrEnum):
    queued = "queued"
    processing = "processing"
    done = "done"
    failed = "failed"


@analyses_app.command("list")
def list_analyses(
    status: Annotated[Status | None, typer.Option("--status", help="Only this status.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user id.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Analyses, newest first (inputs and results are not shown)."""
    user_id = parse_user_id(user) if user else None
    with service_db(db) as conn:
        rows = conn.execute(
            Q["list_analyses"],
            {"status": status.value if status else None, "user_id": user_id, "limit": limit},
        ).fetchall()
    if as_json:
        emit(rows, True)
        return
    show_table(rows, LIST_COLUMNS, title="analyses")


@analyses_app.command("retry")
def retry(
    analysis: Annotated[str, typer.Argument(help="The failed analysis's id.", show_default=False)],
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Charge the user again and put a failed analysis back in the queue."""
    try:
        analysis_id = uuid.UUID(analysis)
    except ValueError:
        fail(f"ID must be an analysis id (uuid), got {analysis!r}")
    with service_db(db) as conn:
        result = call_json(conn, "private.retry_analysis", analysis_id=analysis_id)
    emit(result, as_json, title="analysis queued again")
