"""The one module that owns psycopg: connections (sync, async pools), roles, requests
made the PostgREST way, SQL function calls, retries and error mapping. The statements
themselves are named in pyworker/queries.sql.

Two database URLs (see README "Settings"):

- `DATABASE_URL` may point at a transaction pooler (Supavisor on 6543, PgBouncer
  with `pool_mode = transaction`): each transaction may run on another server
  connection. Everything opened on it is built here to keep no state between
  transactions: no server-side prepared statements (`prepare_threshold=None`),
  and the role and settings a connection acts with (`set role service_role`,
  the worker's `synchronous_commit = off`) are sent with `set local` in front of
  every statement, in the same message (one round trip, one transaction). A
  session `SET` would stay on the pooler's server connection for other clients.
- `DIRECT_URL` is the direct connection, for what needs a session: the worker's
  LISTEN, migrations (a session advisory lock) and the local stack. Without it,
  `DATABASE_URL` serves both.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, overload

import psycopg
from psycopg import AsyncClientCursor, AsyncCursor, ClientCursor, Cursor, sql
from psycopg.abc import Params, Query, QueryNoTemplate
from psycopg.conninfo import make_conninfo
from psycopg.rows import Row, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

SERVICE_ROLE = "service_role"

# Connection options that hold through a transaction pooler: psycopg would otherwise
# prepare a statement run five times on one server connection and execute it later
# on another ("prepared statement _pg3_0 does not exist", or someone else's _pg3_0).
TRANSACTION_MODE: dict[str, Any] = {"prepare_threshold": None}


def local_state(role: str | None, settings: Mapping[str, str] | None = None) -> str:
    """`set local role …; set local name = 'value'; …` for the front of every statement."""
    parts = []
    if role:
        parts.append(sql.SQL("set local role {}; ").format(sql.Identifier(role)))
    for name, value in (settings or {}).items():
        parts.append(sql.SQL("set local {} = {}; ").format(sql.Identifier(name), value))
    return sql.Composed(parts).as_string(None) if parts else ""


def _with_state(state: str, query: Query, params: Params | None) -> sql.Composed:
    if not isinstance(query, str | bytes | sql.Composable):
        raise psycopg.NotSupportedError("template strings are not supported here")
    if params is not None:  # the statement is parsed for placeholders: keep `%` literal
        state = state.replace("%", "%%")
    if isinstance(query, sql.Composable):
        return sql.SQL(state) + query
    return sql.SQL(state) + sql.SQL(query.decode() if isinstance(query, bytes) else query)


class PooledConnection(psycopg.Connection[Row]):
    """A connection safe behind a transaction pooler: `act_as` state rides on each statement.

    `execute` sends `set local …; <statement>` as one simple-protocol message with
    client-side parameters: Postgres runs the message as one transaction (an
    explicit one when the caller opened it), so the state never outlives it.
    """

    _local_state = ""

    def act_as(self, role: str | None, settings: Mapping[str, str] | None = None) -> None:
        self._local_state = local_state(role, settings)

    @contextmanager
    def as_connected_user(self) -> Iterator[PooledConnection[Row]]:
        """Statements sent alone, as the user that connected (no `set local` in front): what
        a DO block that COMMITs needs, as pg_cron sends its jobs."""
        state, self._local_state = self._local_state, ""
        try:
            yield self
        finally:
            self._local_state = state

    @overload
    def execute(
        self,
        query: QueryNoTemplate,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool = False,
    ) -> Cursor[Row]: ...

    @overload
    def execute(
        self, query: Any, *, prepare: bool | None = None, binary: bool = False
    ) -> Cursor[Row]: ...

    def execute(
        self,
        query: Query,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool = False,
    ) -> Cursor[Row]:
        if not self._local_state:
            return super().execute(query, params, prepare=prepare, binary=binary)  # type: ignore[arg-type]
        cur = ClientCursor(self, row_factory=self.row_factory)
        cur.execute(_with_state(self._local_state, query, params), params)
        while cur.nextset():  # the statement's own result comes after the SETs'
            pass
        return cur


class AsyncPooledConnection(psycopg.AsyncConnection[Row]):
    """The asyncio twin of PooledConnection."""

    _local_state = ""

    def act_as(self, role: str | None, settings: Mapping[str, str] | None = None) -> None:
        self._local_state = local_state(role, settings)

    @overload
    async def execute(
        self,
        query: QueryNoTemplate,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool = False,
    ) -> AsyncCursor[Row]: ...

    @overload
    async def execute(
        self, query: Any, *, prepare: bool | None = None, binary: bool = False
    ) -> AsyncCursor[Row]: ...

    async def execute(
        self,
        query: Query,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool = False,
    ) -> AsyncCursor[Row]:
        if not self._local_state:
            return await super().execute(query, params, prepare=prepare, binary=binary)  # type: ignore[arg-type]
        cur = AsyncClientCursor(self, row_factory=self.row_factory)
        await cur.execute(_with_state(self._local_state, query, params), params)
        while cur.nextset():
            pass
        return cur


def async_pool(
    dsn: str,
    *,
    name: str,
    role: str,
    settings: Mapping[str, str] | None = None,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 30.0,
    **kwargs: Any,
) -> AsyncConnectionPool[Any]:
    """An autocommit pool on DATABASE_URL whose connections act as `role` (opened by the caller).

    Autocommit: one statement is one transaction and one round trip; work of several
    statements uses `conn.transaction()`, each statement carrying the role again.
    """

    async def configure(conn: AsyncPooledConnection[Any]) -> None:
        conn.act_as(role, settings)

    return AsyncConnectionPool(
        dsn,
        connection_class=AsyncPooledConnection,
        min_size=min(min_size, max_size),
        max_size=max_size,
        open=False,
        kwargs={"row_factory": dict_row, "autocommit": True, **TRANSACTION_MODE, **kwargs},
        configure=configure,
        timeout=timeout,
        name=name,
    )


async def async_fetch(
    pool: AsyncConnectionPool[Any],
    query: Query,
    params: Params | None = None,
    *,
    deadline: float | None = None,
    on_retry: Callable[[psycopg.OperationalError, float], None] | None = None,
    timeout: float | None = None,
) -> list[Any]:
    """Run one statement on a pooled connection and fetch its rows. Connection errors are
    retried with backoff until `deadline` (time.monotonic(); None: not retried), each
    retry reported to `on_retry(error, delay)`; a PTxxx error becomes ApiError."""
    backoff = 0.05
    while True:
        try:
            async with pool.connection(timeout=timeout) as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall()
        except psycopg.OperationalError as exc:
            if deadline is None or time.monotonic() + backoff > deadline:
                raise
            if on_retry:
                on_retry(exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
        except psycopg.Error as exc:
            mapped = api_error_from(exc)
            if mapped:
                raise mapped from exc
            raise


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
    dsn: str,
    *,
    role: str | None = None,
    autocommit: bool = False,
    settings: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> PooledConnection[Any]:
    """Open a connection on DATABASE_URL acting as `role` with `settings` in every transaction."""
    conn: PooledConnection[Any] = PooledConnection.connect(
        dsn, autocommit=autocommit, row_factory=dict_row, **TRANSACTION_MODE, **kwargs
    )
    conn.act_as(role, settings)
    return conn


def session_connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A session on DIRECT_URL: for LISTEN, session advisory locks and migrations."""
    return psycopg.connect(dsn, **kwargs)


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


def _values(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (Jsonb(v) if isinstance(v, dict | list) else v) for k, v in params.items()}


def _execute(
    conn: psycopg.Connection[Any], query: psycopg.sql.Composed, params: dict[str, Any]
) -> list[Any]:
    try:
        return conn.execute(query, _values(params)).fetchall()
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


async def async_call_json(conn: psycopg.AsyncConnection[Any], function: str, **params: Any) -> Any:
    """call_json on an async connection (the API's pool)."""
    try:
        cur = await conn.execute(_call(function, params, "select {}({}) as value"), _values(params))
        row = await cur.fetchone()
    except psycopg.Error as exc:
        mapped = api_error_from(exc)
        if mapped:
            raise mapped from exc
        raise
    return None if row is None else row["value"]


# -- requests as PostgREST makes them (the demo, smoke checks, the soak) --------------
#
# PostgREST connects as `authenticator`, then per request runs one transaction:
# `set local role authenticated`, `request.jwt.claims` = the token's claims, then the
# function. Grants and RLS are therefore what a real user gets.

AUTHENTICATOR = "authenticator"


def api_connect(dsn: str) -> psycopg.Connection[Any]:
    """A connection as PostgREST makes it: same server and database, role `authenticator`."""
    return psycopg.connect(
        make_conninfo(dsn, user=AUTHENTICATOR), row_factory=dict_row, **TRANSACTION_MODE
    )


def user_rpc(conn: psycopg.Connection[Any], user_id: str, function: str, **params: Any) -> Any:
    """Call public.<function> as the signed-in user `user_id` (one transaction)."""
    claims = {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}
    with conn.transaction():
        conn.execute("set local role authenticated")
        conn.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
        return call_rpc(conn, f"public.{function}", **params)
