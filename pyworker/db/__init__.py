"""The one package that owns psycopg: connections (sync, async pools), roles, requests
made the PostgREST way, SQL function calls, retries and error mapping. The statements
themselves are named in pyworker/queries.sql. Nothing else in pyworker/ or cli/
imports psycopg (tests and benches do).

- `connect`: connections, pools and the sessions that need one.
- `calls`: statements and SQL function calls, retried through outages.
- `errors`: the error classes callers catch and the mapping of PTxxx to ApiError.

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

from psycopg import AsyncConnection, Connection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool as AsyncPool

from pyworker.db.calls import async_call_json, async_fetch, call_json, call_rpc, user_rpc
from pyworker.db.connect import (
    AUTHENTICATOR,
    SERVICE_ROLE,
    TRANSACTION_MODE,
    AsyncPooledConnection,
    PooledConnection,
    api_connect,
    async_connect,
    async_pool,
    connect,
    listen_connect,
    local_state,
    plain_connect,
    service_connection,
    session_connect,
)
from pyworker.db.errors import (
    ApiError,
    CheckViolation,
    DatabaseError,
    DatabaseUnavailable,
    Diagnostic,
    InvalidValue,
    UndefinedFunction,
    UniqueViolation,
    api_error_from,
    map_error,
    mapped_errors,
)

__all__ = [
    "AUTHENTICATOR",
    "SERVICE_ROLE",
    "TRANSACTION_MODE",
    "ApiError",
    "AsyncConnection",
    "AsyncPool",
    "AsyncPooledConnection",
    "CheckViolation",
    "Connection",
    "DatabaseError",
    "DatabaseUnavailable",
    "Diagnostic",
    "InvalidValue",
    "Jsonb",
    "PooledConnection",
    "UndefinedFunction",
    "UniqueViolation",
    "api_connect",
    "api_error_from",
    "async_call_json",
    "async_connect",
    "async_fetch",
    "async_pool",
    "call_json",
    "call_rpc",
    "connect",
    "dict_row",
    "listen_connect",
    "local_state",
    "map_error",
    "mapped_errors",
    "plain_connect",
    "service_connection",
    "session_connect",
    "sql",
    "user_rpc",
]
