"""Call the frontend RPCs exactly as PostgREST does (for the demo and smoke checks).

PostgREST connects as `authenticator`, then per request runs one transaction:
`set local role authenticated`, `request.jwt.claims` = the token's claims,
then the function. Grants and RLS are therefore what a real user gets.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from pyworker.db import TRANSACTION_MODE, call_rpc

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
