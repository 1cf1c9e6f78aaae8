"""The one module that owns psycopg: connections, roles and error mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

SERVICE_ROLE = "service_role"


class ApiError(Exception):
    """An error raised by a SQL function with a PTxxx SQLSTATE."""

    def __init__(self, status: int, code: str, detail: dict[str, Any], hint: str) -> None:
        super().__init__(f"{code}: {hint}")
        self.status = status
        self.code = code
        self.detail = detail
        self.hint = hint


def api_error_from(exc: psycopg.Error) -> ApiError | None:
    """Map a PTxxx database error to ApiError; None for any other error."""
    diag = exc.diag
    state = diag.sqlstate or ""
    if not (state.startswith("PT") and state[2:].isdigit()):
        return None
    try:
        detail = json.loads(diag.message_detail or "{}")
    except ValueError:
        detail = {"text": diag.message_detail}
    return ApiError(
        int(state[2:]), diag.message_primary or "error", detail, diag.message_hint or ""
    )


def connect(
    dsn: str, *, role: str | None = None, autocommit: bool = False
) -> psycopg.Connection[Any]:
    """Open a connection; `role` is SET for the session (the service uses service_role)."""
    conn = psycopg.connect(dsn, autocommit=autocommit, row_factory=dict_row)
    if role:
        conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(role)))
        if not autocommit:
            conn.commit()
    return conn


@contextmanager
def service_connection(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection acting as service_role, closed on exit."""
    conn = connect(dsn, role=SERVICE_ROLE)
    try:
        yield conn
    finally:
        conn.close()


def _call(function: str, params: dict[str, Any], template: str) -> psycopg.sql.Composed:
    args = psycopg.sql.SQL(", ").join(
        psycopg.sql.SQL("{} => {}").format(psycopg.sql.Identifier(k), psycopg.sql.Placeholder(k))
        for k in params
    )
    schema, _, name = function.rpartition(".")
    ident = psycopg.sql.Identifier(schema, name) if schema else psycopg.sql.Identifier(name)
    return psycopg.sql.SQL(template).format(ident, args)


def _execute(
    conn: psycopg.Connection[Any], query: psycopg.sql.Composed, params: dict[str, Any]
) -> list[Any]:
    values = {k: (Jsonb(v) if isinstance(v, dict | list) else v) for k, v in params.items()}
    try:
        return conn.execute(query, values).fetchall()
    except psycopg.Error as exc:
        mapped = api_error_from(exc)
        if mapped:
            raise mapped from exc
        raise


def call_json(conn: psycopg.Connection[Any], function: str, **params: Any) -> Any:
    """Call `function(name => value, …)` returning one JSON value; PTxxx becomes ApiError."""
    rows = _execute(conn, _call(function, params, "select {}({}) as value"), params)
    return rows[0]["value"] if rows else None


def call_rpc(conn: psycopg.Connection[Any], function: str, **params: Any) -> Any:
    """Call an RPC that answers one row and return it as PostgREST renders it (with
    `.single()` for a `returns table`): a composite or a row as a dict, a scalar as its
    JSON value. PTxxx becomes ApiError."""
    rows = _execute(
        conn, _call(function, params, "select to_jsonb(r) as value from {}({}) r"), params
    )
    if len(rows) != 1:
        raise ValueError(f"{function} answered {len(rows)} rows, not one")
    return rows[0]["value"]
