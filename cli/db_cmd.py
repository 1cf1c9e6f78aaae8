"""`flirt-admin db …` and `config sync`: migrations and configuration.

They run on DIRECT_URL when it is set: a migration holds a session advisory lock.
"""

from __future__ import annotations

import psycopg
import typer

from cli.common import DbUrl, JsonOut, config, console, emit, errors_as_lines, session_db_url
from pyworker import migrate as migrations

db_app = typer.Typer(help="Schema migrations.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration tables.", no_args_is_help=True)


@db_app.command("migrate")
def migrate(db: DbUrl = None, as_json: JsonOut = False) -> None:
    """Apply pending migrations, every functions_sql file, then config sync."""
    cfg = config()
    with errors_as_lines():
        report = migrations.migrate(session_db_url(db), cfg)
    if as_json:
        emit(report.__dict__, True)
        return
    for name in report.applied:
        console.print(f"applied {name}")
    if not report.applied:
        console.print("no pending migrations")
    console.print(f"functions: {len(report.functions)} files applied")
    console.print(f"config: {report.config}")
    console.print(f"cron jobs: {', '.join(report.cron_jobs) or 'pg_cron not in this database'}")


@db_app.command("status")
def status(db: DbUrl = None, as_json: JsonOut = False) -> None:
    """List applied and pending migrations (exit 1 when any is pending)."""
    with errors_as_lines(), psycopg.connect(session_db_url(db)) as conn:
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
    with errors_as_lines(), psycopg.connect(session_db_url(db)) as conn:
        counts, jobs = migrations.sync_config(conn, cfg)
    emit({**counts, "cron_jobs": jobs}, as_json, title="config synced")
