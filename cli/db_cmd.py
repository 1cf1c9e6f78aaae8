"""`flirt-admin db …` and `config sync`: migrations and configuration.

They run on DIRECT_URL when it is set: a migration holds a session advisory lock.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import (
    DbUrl,
    JsonOut,
    config,
    console,
    emit,
    errors_as_lines,
    fail,
    session_db_url,
)
from pyworker import devstack
from pyworker import migrate as migrations
from pyworker import schema as schema_file
from pyworker.db import DatabaseError, session_connect
from pyworker.settings import ROOT

db_app = typer.Typer(help="Schema migrations.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration tables.", no_args_is_help=True)


@db_app.command("migrate")
def migrate(
    db: DbUrl = None,
    as_json: JsonOut = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Change nothing: list pending migrations and the functions no functions_sql"
            " file defines any more (exit 1 when there is any).",
        ),
    ] = False,
) -> None:
    """Apply pending migrations, enable pg_cron, apply every functions_sql file (dropping
    the functions none defines), then config sync and the cron jobs."""
    if check:
        _check(db, as_json)
        return
    cfg = config()
    with errors_as_lines():
        report = migrations.migrate(session_db_url(db), cfg)
    if as_json:
        emit(report.__dict__, True)
    else:
        for name in report.applied:
            console.print(f"applied {name}")
        if not report.applied:
            console.print("no pending migrations")
        console.print(f"functions: {len(report.functions)} files applied")
        for signature in report.dropped_functions:
            console.print(f"dropped {signature} (no functions_sql file defines it)")
        console.print(f"config: {report.config}")
        console.print(f"cron jobs: {', '.join(report.cron_jobs) or 'none'}")
    if report.cron_problem:
        fail(report.cron_problem)


def _check(db: str | None, as_json: bool) -> None:
    with errors_as_lines():
        report = migrations.check(session_db_url(db))
    if as_json:
        emit(report.__dict__, True)
    else:
        for name in report.pending:
            console.print(f"pending {name}")
        for signature in report.drop_functions:
            console.print(f"drop {signature} (no functions_sql file defines it)")
        if report.clean:
            console.print("nothing to apply, no function to drop")
    if not report.clean:
        raise typer.Exit(1)


@db_app.command("schema")
def schema(
    write: Annotated[
        bool, typer.Option("--write", help="Write supabase/schema.sql instead of printing.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 when supabase/schema.sql is not the current schema."),
    ] = False,
) -> None:
    """The schema of the project's schemas after a fresh migrate (on a throwaway local cluster)."""
    cfg = config()
    try:
        text = schema_file.current_schema(cfg)
    except (devstack.StackError, RuntimeError, DatabaseError) as exc:
        fail(str(exc).strip().splitlines()[0])
    path = schema_file.SCHEMA_FILE
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if check:
        if not path.exists() or path.read_text() != text:
            fail(f"{name} is stale: run `{schema_file.WRITE_COMMAND}`")
        console.print(f"{name} is current")
    elif write:
        path.write_text(text)
        console.print(f"wrote {name}")
    else:
        typer.echo(text, nl=False)


@db_app.command("status")
def status(db: DbUrl = None, as_json: JsonOut = False) -> None:
    """List applied and pending migrations (exit 1 when any is pending)."""
    with errors_as_lines(), session_connect(session_db_url(db)) as conn:
        rows = [
            {"version": m.version, "name": m.name, "applied": ok}
            for m, ok in migrations.status(conn)
        ]
    emit(rows, as_json, ["version", "name", "applied"], title="migrations")
    if not all(r["applied"] for r in rows):
        raise typer.Exit(1)


@config_app.command("sync")
def sync(db: DbUrl = None, as_json: JsonOut = False) -> None:
    """Write config.toml into tiers, action_costs, credit_packs and app_settings."""
    cfg = config()
    with errors_as_lines(), session_connect(session_db_url(db)) as conn:
        counts, jobs = migrations.sync_config(conn, cfg)
    emit({**counts, "cron_jobs": jobs}, as_json, title="config synced")
