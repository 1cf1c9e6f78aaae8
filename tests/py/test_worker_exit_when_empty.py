"""`flirt-admin worker run --exit-when-empty` stops promptly on an idle queue."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyworker.settings import ROOT
from tests.py.dbtools import TestDatabase
from tests.py.fakes.worker_process import WorkerProcess, start_worker, write_config

RUNS = 8
EXIT_WITHIN_SECONDS = 5.0


@pytest.fixture
def other_worker(db: TestDatabase, tmp_path: Path) -> Iterator[WorkerProcess]:
    cfg = write_config(tmp_path / "other.toml", {"worker": {"poll_seconds": 0.2}})
    worker = start_worker(db.owner_dsn, cfg, tmp_path / "other.log")
    yield worker
    worker.kill()


def test_exit_when_empty_exits_within_seconds_every_time_beside_another_worker(
    db: TestDatabase, other_worker: WorkerProcess, tmp_path: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": db.owner_dsn, "PYTHONUNBUFFERED": "1"}
    env.pop("FLIRT_CONFIG", None)
    for run in range(RUNS):
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker", "run", "--exit-when-empty"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            out, _ = proc.communicate(timeout=EXIT_WITHIN_SECONDS + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"run {run + 1} did not exit:\n{out.decode(errors='replace')}")
        elapsed = time.monotonic() - started
        text = out.decode(errors="replace")
        assert proc.returncode == 0, text
        assert "queue_empty" in text and "worker_stopped" in text, text
        assert elapsed < EXIT_WITHIN_SECONDS, f"run {run + 1} took {elapsed:.1f}s:\n{text}"
    assert other_worker.proc.poll() is None
