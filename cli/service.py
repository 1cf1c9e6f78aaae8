"""The admin commands' database connection: DATABASE_URL, acting as service_role."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cli.common import db_url, emit, errors_as_lines
from pyworker.db import SERVICE_ROLE, PooledConnection, connect


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def service_db(option: str | None) -> Iterator[PooledConnection[Any]]:
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


def show_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str) -> None:
    """A human table of `columns`, times in UTC (ids are never cut or wrapped: see emit)."""
    emit([{c: _cell(row.get(c)) for c in columns} for row in rows], False, columns, title)
