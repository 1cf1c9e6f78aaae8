"""Statements and SQL function calls: named arguments, JSON values, retries on outages.

Database errors leave these as `errors.map_error` maps them (PTxxx becomes ApiError).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from psycopg import AsyncConnection, Connection, sql
from psycopg.abc import Params, Query
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from pyworker.db.errors import DatabaseUnavailable, mapped_errors
from pyworker.queries import Q


async def async_fetch(
    pool: AsyncConnectionPool[Any],
    query: Query,
    params: Params | None = None,
    *,
    deadline: float | None = None,
    on_retry: Callable[[DatabaseUnavailable, float], None] | None = None,
    timeout: float | None = None,
) -> list[Any]:
    """Run one statement on a pooled connection and fetch its rows. Connection errors are
    retried with backoff until `deadline` (time.monotonic(); None: not retried), each
    retry reported to `on_retry(error, delay)`; a PTxxx error becomes ApiError."""
    backoff = 0.05
    while True:
        try:
            with mapped_errors():
                async with pool.connection(timeout=timeout) as conn:
                    cur = await conn.execute(query, params)
                    return await cur.fetchall()
        except DatabaseUnavailable as exc:
            if deadline is None or time.monotonic() + backoff > deadline:
                raise
            if on_retry:
                on_retry(exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


def _call(function: str, params: dict[str, Any], template: str) -> sql.Composed:
    args = sql.SQL(", ").join(
        sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in params
    )
    schema, _, name = function.rpartition(".")
    ident = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    return sql.SQL(template).format(ident, args)


def _values(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (Jsonb(v) if isinstance(v, dict | list) else v) for k, v in params.items()}


def _execute(conn: Connection[Any], query: sql.Composed, params: dict[str, Any]) -> list[Any]:
    with mapped_errors():
        return conn.execute(query, _values(params)).fetchall()


def call_json(conn: Connection[Any], function: str, **params: Any) -> Any:
    """Call `function(name => value, …)` returning one JSON value; PTxxx becomes ApiError."""
    rows = _execute(conn, _call(function, params, "select {}({}) as value"), params)
    return rows[0]["value"] if rows else None


def call_rpc(conn: Connection[Any], function: str, **params: Any) -> Any:
    """Call an RPC that answers one row and return it as PostgREST renders it (with
    `.single()` for a `returns table`): a composite or a row as a dict, a scalar as its
    JSON value. PTxxx becomes ApiError."""
    rows = _execute(
        conn, _call(function, params, "select to_jsonb(r) as value from {}({}) r"), params
    )
    if len(rows) != 1:
        raise ValueError(f"{function} answered {len(rows)} rows, not one")
    return rows[0]["value"]


async def async_call_json(conn: AsyncConnection[Any], function: str, **params: Any) -> Any:
    """call_json on an async connection (the API's pool)."""
    with mapped_errors():
        cur = await conn.execute(_call(function, params, "select {}({}) as value"), _values(params))
        row = await cur.fetchone()
    return None if row is None else row["value"]


def user_rpc(conn: Connection[Any], user_id: str, function: str, **params: Any) -> Any:
    """Call public.<function> as the signed-in user `user_id` (one transaction), as
    PostgREST does: role `authenticated` and the token's claims for this transaction."""
    claims = {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}
    with conn.transaction():
        conn.execute(Q["as_user"], [json.dumps(claims)])
        return call_rpc(conn, f"public.{function}", **params)
