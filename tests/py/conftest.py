"""Test harness: one throwaway PostgreSQL cluster per run, one database per test.

The cluster (loopback, free port, fsync off) is created once per session in
a temporary folder and removed at exit. A template database gets the
Supabase-compatible bootstrap and every migration; each test gets its own
clone of it. pg_cron can live only in the database named by
cron.database_name, so that one (`flirt_cron`) is migrated separately and
served by the `cron_db` fixture for the tests that need real cron jobs.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyworker import devstack
from pyworker.migrate import migrate
from pyworker.pgbouncer import PgBouncer
from pyworker.settings import load_config
from tests.py.dbtools import TestDatabase, ledger_mismatches

TEMPLATE = "flirt_template"
CRON_DB = "flirt_cron"
_counter = itertools.count()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def cluster() -> Iterator[devstack.Cluster]:
    devstack.ensure_packages()
    base = Path(tempfile.mkdtemp(prefix="flirt-test-"))
    os.chmod(base, 0o755)
    pg = devstack.Cluster(base / "data", _free_port(), cron_database=CRON_DB, fast=True)
    try:
        pg.init()
        pg.start()
        pg.wait_ready()
        pg.bootstrap_roles()
        pg.create_database(TEMPLATE)
        pg.bootstrap_database(TEMPLATE)
        migrate(pg.dsn("postgres", TEMPLATE), load_config())
        yield pg
    finally:
        pg.destroy()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def db(cluster: devstack.Cluster) -> Iterator[TestDatabase]:
    """A fresh, fully migrated database for this test; the ledger invariant is checked after."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    cluster.create_database(name, template=TEMPLATE)
    database = TestDatabase(name, cluster.port)
    try:
        yield database
        assert ledger_mismatches(database) == [], "ledger invariant broken"
    finally:
        cluster.drop_database(name)


@pytest.fixture(scope="session")
def pooler(cluster: devstack.Cluster) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the test cluster (started on first use)."""
    bouncer = PgBouncer(
        Path(tempfile.mkdtemp(prefix="flirt-pgbouncer-")),
        _free_port(),
        cluster.port,
        users=("postgres", "authenticator", "supabase_auth_admin", devstack.SUPERUSER),
    )
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.destroy()


@pytest.fixture(scope="session")
def cron_db(cluster: devstack.Cluster) -> TestDatabase:
    """The database pg_cron runs in (shared by the tests that use it)."""
    if cluster.create_database(CRON_DB):
        cluster.bootstrap_database(CRON_DB)
        migrate(cluster.dsn("postgres", CRON_DB), load_config())
    return TestDatabase(CRON_DB, cluster.port)
