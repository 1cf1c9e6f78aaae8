"""Shared CLI plumbing: options, settings, output and error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import stripe
import typer
from rich.console import Console
from rich.table import Table

from pyworker.db import ApiError, DatabaseError, DatabaseUnavailable
from pyworker.settings import Config, Secrets, SettingsError, load_config, load_secrets

console = Console()
err_console = Console(stderr=True)

DbUrl = Annotated[
    str | None,
    typer.Option(
        "--db-url",
        help="PostgreSQL URL (default: $DATABASE_URL; commands that need a session, such as"
        " db migrate, use $DIRECT_URL when it is set).",
        show_default=False,
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line and exit with `code`."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def config() -> Config:
    try:
        return load_config()
    except SettingsError as exc:
        fail(str(exc))


def secrets() -> Secrets:
    try:
        return load_secrets()
    except SettingsError as exc:
        fail(str(exc))


def db_url(option: str | None) -> str:
    url = option or secrets().database_url
    if not url:
        fail("environment variable DATABASE_URL is not set (or pass --db-url)")
    return url


def session_db_url(option: str | None) -> str:
    """The URL for what needs a session (migrations): --db-url, DIRECT_URL, DATABASE_URL."""
    url = option or secrets().session_url
    if not url:
        fail("environment variable DATABASE_URL is not set (or pass --db-url)")
    return url


@contextmanager
def errors_as_lines() -> Iterator[None]:
    """Turn domain and database errors into one line and exit code 1."""
    try:
        yield
    except ApiError as exc:
        fail(f"{exc.code}: {exc.hint} {json.dumps(exc.detail) if exc.detail else ''}".strip())
    except SettingsError as exc:
        fail(str(exc))
    except stripe.StripeError as exc:
        fail(f"stripe: {exc.user_message or type(exc).__name__}")
    except DatabaseUnavailable as exc:
        fail(f"database unavailable: {str(exc).strip().splitlines()[0]}")
    except DatabaseError as exc:
        fail(f"database error: {str(exc).strip().splitlines()[0]}")
    except (ValueError, OSError) as exc:
        fail(str(exc))


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def emit(
    rows: Sequence[dict[str, Any]] | dict[str, Any],
    as_json: bool,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Print rows as a table (or JSON with --json).

    Ids are never wrapped: a table wider than the terminal is printed one record
    per block instead, and output that is not a terminal (a pipe, a log) gets
    the table at its natural width, one line per row.
    """
    if as_json:
        sys.stdout.write(json.dumps(rows, default=str, indent=2) + "\n")
        return
    if isinstance(rows, dict):
        _print_table(_record_table(rows, title))
        return
    cols = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=title)
    for col in cols:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(_render(row.get(c)) for c in cols))
    if not _print_table(table, fold=False):
        for n, row in enumerate(rows, 1):
            record = _record_table(
                {c: row.get(c) for c in cols}, f"{title or 'row'} {n}/{len(rows)}"
            )
            console.print(record)
    if not rows:
        console.print("(no rows)")


def _record_table(row: dict[str, Any], title: str | None) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in row.items():
        table.add_row(key, _render(value))
    return table


def _print_table(table: Table, fold: bool = True) -> bool:
    """Print `table` unless it must fold on a terminal and `fold` is False; True if printed."""
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    if natural <= console.width:
        console.print(table)
    elif not console.is_terminal:
        # a pipe or a log: whole rows, whatever their width, so that grep finds them
        Console(width=natural, highlight=False, no_color=console.no_color).print(table)
    elif fold:
        console.print(table)
    else:
        return False
    return True


def _render(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)
