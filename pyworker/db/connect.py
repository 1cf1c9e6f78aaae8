"""Connections: sync and async, pooled, acting as a role, the PostgREST way, and the
sessions that need one (LISTEN, migrations). See the package docstring for the two URLs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, overload

import psycopg
from psycopg import AsyncClientCursor, AsyncCursor, ClientCursor, Cursor, sql
from psycopg.abc import Params, Query, QueryNoTemplate
from psycopg.conninfo import make_conninfo
from psycopg.rows import Row, dict_row
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


async def async_connect(
    dsn: str,
    *,
    role: str | None = None,
    autocommit: bool = False,
    settings: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> AsyncPooledConnection[Any]:
    """The asyncio twin of `connect`."""
    conn: AsyncPooledConnection[Any] = await AsyncPooledConnection.connect(
        dsn, autocommit=autocommit, row_factory=dict_row, **TRANSACTION_MODE, **kwargs
    )
    conn.act_as(role, settings)
    return conn


def plain_connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection as the user of `dsn`, rows as tuples; `kwargs` are psycopg's (the
    doctor's checks, the local stack and PgBouncer waiting until they answer)."""
    return psycopg.connect(dsn, **kwargs)


async def listen_connect(dsn: str, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    """An autocommit session on DIRECT_URL for LISTEN (a pooler would drop it)."""
    return await psycopg.AsyncConnection.connect(dsn, autocommit=True, **kwargs)


def session_connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A session on DIRECT_URL: for session advisory locks and migrations."""
    return psycopg.connect(dsn, **kwargs)


@contextmanager
def service_connection(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection acting as service_role, closed on exit."""
    conn = connect(dsn, role=SERVICE_ROLE)
    try:
        yield conn
    finally:
        conn.close()


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
