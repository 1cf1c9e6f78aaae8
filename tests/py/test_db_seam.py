"""pyworker.db is the one place that speaks psycopg: connections and errors go through it."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from pyworker.db import (
    ApiError,
    CheckViolation,
    DatabaseError,
    DatabaseUnavailable,
    UniqueViolation,
    call_json,
    connect,
    mapped_errors,
)
from tests.py.dbtools import TestDatabase

ROOT = Path(__file__).resolve().parents[2]
IMPORTS_PSYCOPG = re.compile(r"^\s*(import|from)\s+psycopg(_pool)?\b", re.MULTILINE)


def test_only_the_seam_imports_psycopg() -> None:
    seam = ROOT / "pyworker" / "db"
    files = [*ROOT.joinpath("pyworker").rglob("*.py"), *ROOT.joinpath("cli").rglob("*.py")]
    outside = [
        str(f.relative_to(ROOT))
        for f in files
        if not f.is_relative_to(seam) and IMPORTS_PSYCOPG.search(f.read_text())
    ]
    assert outside == []


def test_database_errors_leave_the_seam_under_their_domain_names(db: TestDatabase) -> None:
    with connect(db.direct_dsn) as conn, conn.transaction(force_rollback=True):
        conn.execute("create temp table seam_items (id int primary key, n int check (n > 0))")
        conn.execute("insert into seam_items values (1, 1)")

        with pytest.raises(ApiError) as api_error, conn.transaction():
            call_json(
                conn,
                "private.raise_api_error",
                status=409,
                code="item_taken",
                detail={"id": 1},
                hint="Pick another item.",
            )
        assert (api_error.value.status, api_error.value.code) == (409, "item_taken")
        assert (api_error.value.detail, api_error.value.hint) == ({"id": 1}, "Pick another item.")

        with pytest.raises(UniqueViolation), mapped_errors(), conn.transaction():
            conn.execute("insert into seam_items values (1, 2)")
        with pytest.raises(CheckViolation), mapped_errors(), conn.transaction():
            conn.execute("insert into seam_items values (2, 0)")
        assert conn.execute("select count(*) as n from seam_items").fetchone() == {"n": 1}


def test_an_unreachable_database_is_unavailable_not_an_api_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DatabaseUnavailable) as unavailable:
        connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2)
    assert isinstance(unavailable.value, DatabaseError)
    assert not isinstance(unavailable.value, ApiError)
