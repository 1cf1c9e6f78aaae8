"""Runs the pgTAP suite (tests/sql) with pg_prove against a fresh migrated database."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.py.dbtools import TestDatabase

SQL_TESTS = sorted((Path(__file__).parent.parent / "sql").glob("*.sql"))


@pytest.mark.parametrize("path", SQL_TESTS, ids=[p.name for p in SQL_TESTS])
def test_pgtap_file_passes(db: TestDatabase, path: Path) -> None:
    pg_prove = shutil.which("pg_prove")
    assert pg_prove, "pg_prove not installed (libtap-parser-sourcehandler-pgtap-perl)"
    env = {**os.environ, "PGOPTIONS": "-c search_path=public,extensions"}
    result = subprocess.run(
        [
            pg_prove,
            "--verbose",
            "--failures",
            "-h",
            "127.0.0.1",
            "-p",
            str(db.port),
            "-U",
            "postgres",
            "-d",
            db.name,
            str(path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
