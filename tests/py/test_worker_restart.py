"""A database restart in the middle of a run: the worker reconnects and nothing is lost.

This test owns a separate throwaway cluster, because it restarts PostgreSQL.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyworker import devstack
from pyworker.migrate import migrate
from pyworker.settings import load_config
from tests.py.dbtools import TestDatabase, ledger_mismatches, rpc
from tests.py.fakes.worker_process import start_worker, wait_until, write_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_cluster() -> Iterator[tuple[devstack.Cluster, TestDatabase]]:
    base = Path(tempfile.mkdtemp(prefix="flirt-restart-"))
    base.chmod(0o755)
    pg = devstack.Cluster(base / "data", _free_port(), cron_database="flirt_cron", fast=True)
    try:
        pg.init()
        pg.start()
        pg.wait_ready()
        pg.bootstrap_roles()
        pg.create_database("flirt")
        pg.bootstrap_database("flirt", pgtap=False)
        migrate(pg.dsn("postgres", "flirt"), load_config())
        yield pg, TestDatabase("flirt", pg.port)
    finally:
        pg.destroy()
        shutil.rmtree(base, ignore_errors=True)


def test_worker_recovers_from_a_database_restart_and_loses_nothing(
    own_cluster: tuple[devstack.Cluster, TestDatabase], tmp_path: Path
) -> None:
    pg, db = own_cluster
    cfg = write_config(
        tmp_path / "config.toml",
        {
            "worker": {
                "concurrency": 4,
                "lease_seconds": 10,
                "heartbeat_seconds": 1,
                "poll_seconds": 0.5,
                "shutdown_grace_seconds": 5,
            },
            "ai.mock": {"latency_ms": 300},
        },
    )
    worker = start_worker(db.owner_dsn, cfg, tmp_path / "w.log")
    try:
        users = [db.create_user() for _ in range(5)]
        with db.api_connect() as api:
            for user in users:
                for i in range(4):
                    rpc(
                        api,
                        user,
                        "perform_action",
                        action_type="short_chat",
                        input={"chat": f"message {i}"},
                    )

        def done() -> int:
            row = db.fetchone("select count(*) as n from analyses where status = 'done'")
            return int(row["n"]) if row else 0

        wait_until(lambda: done() >= 4, 20, "the worker did not start working")
        pg.restart()  # fast shutdown: every connection is dropped mid-run
        assert done() < 20

        wait_until(lambda: done() == 20, 40, f"only {done()} of 20 analyses done after the restart")
        assert worker.terminate() == 0
    finally:
        worker.kill()
    rows = db.fetchall("select status, result is not null as has_result, refunded_at from analyses")
    assert all(r["status"] == "done" and r["has_result"] and r["refunded_at"] is None for r in rows)
    charged = db.fetchone("select count(*) as n from credits_transactions where kind = 'action'")
    assert charged == {"n": 20}
    assert ledger_mismatches(db) == []
    log = worker.log
    assert "db_retry" in log or "db_unavailable" in log or "listen_disconnected" in log
