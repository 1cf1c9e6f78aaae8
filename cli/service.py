"""The admin commands' database connection: DATABASE_URL, acting as service_role."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from rich.table import Table

from cli.common import console, db_url, errors_as_lines
from pyworker.db import SERVICE_ROLE, connect


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def service_db(option: str | None) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit service_role connection; errors inside become one line and exit 1.

    application_name names the operator, so audit metadata (`by`) says who acted.
    """
    url = db_url(option)
    with errors_as_lines():
        name = f"flirt-admin:{_operator()}"
        # the role and the name go with every statement: DATABASE_URL may be a pooler
        conn = connect(
            url,
            role=SERVICE_ROLE,
            autocommit=True,
            settings={"application_name": name},
            application_name=name,
        )
        try:
            yield conn
        finally:
            conn.close()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def show_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    title: str,
    keep_whole: Sequence[str] = ("id", "user_id", "day"),
) -> None:
    """A human table where ids and days are never cut short (other cells wrap)."""
    table = Table(title=title)
    for col in columns:
        whole = col in keep_whole
        table.add_column(
            col, no_wrap=whole, min_width=36 if whole and col != "day" else None, overflow="fold"
        )
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    console.print(table)
    if not rows:
        console.print("(no rows)")
