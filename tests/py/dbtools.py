"""Test helpers: PostgREST-style RPC calls, users, and the ledger invariant."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pyworker.db import ApiError, call_rpc


@dataclass(frozen=True)
class TestDatabase:
    """One isolated database of the throwaway test cluster."""

    __test__ = False

    name: str
    port: int
    pooler_port: int | None = None  # DATABASE_URL goes through PgBouncer (transaction mode)

    def dsn(self, user: str = "postgres") -> str:
        """A direct connection (tests set up and check through it)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{self.name}"

    @property
    def owner_dsn(self) -> str:
        """What DATABASE_URL is for the worker, API and CLI (postgres, not a superuser)."""
        port = self.pooler_port or self.port
        return f"postgresql://postgres@127.0.0.1:{port}/{self.name}"

    @property
    def direct_dsn(self) -> str:
        """What DIRECT_URL is: the direct connection as postgres."""
        return self.dsn("postgres")

    def connect(self, user: str = "postgres", **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn(user), row_factory=dict_row, **kwargs)  # type: ignore[arg-type]

    def api_connect(self) -> psycopg.Connection[Any]:
        """A connection as PostgREST makes it: the `authenticator` role."""
        return self.connect("authenticator")

    def create_user(self, email: str | None = None, user_id: uuid.UUID | None = None) -> uuid.UUID:
        """Sign up a user the way Supabase Auth does (insert into auth.users)."""
        user_id = user_id or uuid.uuid4()
        with self.connect("supabase_auth_admin") as conn:
            conn.execute(
                "insert into auth.users (id, email) values (%s, %s)",
                [user_id, email or f"{user_id}@example.test"],
            )
        return user_id

    def fetchone(self, query: str, params: Any = None) -> dict[str, Any] | None:
        """Read as the table owner (postgres) for assertions."""
        with self.connect() as conn:
            return conn.execute(query, params).fetchone()  # type: ignore[arg-type, no-any-return]

    def fetchall(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        with self.connect() as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def execute(self, query: str, params: Any = None) -> None:
        with self.connect() as conn:
            conn.execute(query, params)  # type: ignore[arg-type]


def claims_for(user_id: uuid.UUID | str | None, role: str = "authenticated") -> dict[str, Any]:
    claims: dict[str, Any] = {"role": role, "aud": "authenticated" if user_id else None}
    if user_id:
        claims["sub"] = str(user_id)
    return claims


@contextmanager
def as_role(
    conn: psycopg.Connection[Any], role: str, claims: dict[str, Any] | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """One transaction exactly as PostgREST runs a request: role + request.jwt.claims."""
    with conn.transaction():
        conn.execute(psycopg.sql.SQL("set local role {}").format(psycopg.sql.Identifier(role)))
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)",
            [json.dumps(claims or {"role": role})],
        )
        yield conn


@contextmanager
def as_user(
    conn: psycopg.Connection[Any], user_id: uuid.UUID | str | None
) -> Iterator[psycopg.Connection[Any]]:
    """A request by a signed-in user (`authenticated` with a `sub` claim)."""
    with as_role(conn, "authenticated", claims_for(user_id)) as c:
        yield c


def rpc(
    conn: psycopg.Connection[Any], user_id: uuid.UUID | str | None, function: str, **params: Any
) -> Any:
    """Call public.<function> as `user_id` (None: authenticated without sub)."""
    with as_user(conn, user_id):
        return call_rpc(conn, f"public.{function}", **params)


def rpc_error(
    conn: psycopg.Connection[Any], user_id: uuid.UUID | str | None, function: str, **params: Any
) -> ApiError:
    """Call an RPC that must fail with a PTxxx error; return the error."""
    try:
        rpc(conn, user_id, function, **params)
    except ApiError as exc:
        return exc
    raise AssertionError(f"{function} did not raise")


def ledger_mismatches(db: TestDatabase) -> list[dict[str, Any]]:
    return db.fetchall("select * from private.ledger_mismatches()")


def balances(db: TestDatabase, user_id: uuid.UUID) -> dict[str, Any]:
    row = db.fetchone(
        "select daily_credits, purchased_credits, credits_remaining, tier,"
        " daily_reset_on from public.users where id = %s",
        [user_id],
    )
    assert row is not None, f"no user {user_id}"
    return row


def waiting_for_lock(db: TestDatabase, wait_event: str = "%", query_prefix: str = "") -> bool:
    """Whether some session waits for a heavyweight lock (e.g. `advisory`), optionally one
    running a statement that starts with `query_prefix`."""
    row = db.fetchone(
        "select count(*) as n from pg_stat_activity where wait_event_type = 'Lock'"
        " and wait_event like %s and starts_with(query, %s)",
        [wait_event, query_prefix],
    )
    return bool(row and row["n"])
