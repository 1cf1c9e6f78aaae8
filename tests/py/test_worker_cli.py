"""`flirt-admin demo` and `flirt-admin worker queue` against a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.py.dbtools import TestDatabase
from tests.py.fakes.worker_process import write_config

runner = CliRunner()


def test_demo_walks_signup_credits_action_result_and_saved_reply(db: TestDatabase) -> None:
    result = runner.invoke(app, ["demo", "--db-url", db.owner_dsn, "--timeout", "20"])
    assert result.exit_code == 0, result.output
    for step in ("Sign up", "get_credits", "perform_action", "worker", "summary:", "save_reply"):
        assert step in result.output
    assert "demo complete" in result.output
    row = db.fetchone(
        "select a.status, u.credits_remaining, (select count(*) from saved_replies) as saved"
        " from analyses a join users u on u.id = a.user_id"
    )
    assert row == {"status": "done", "credits_remaining": 145, "saved": 1}


def test_worker_queue_shows_the_queue_depth(db: TestDatabase) -> None:
    result = runner.invoke(app, ["worker", "queue", "--db-url", db.owner_dsn, "--json"])
    assert result.exit_code == 0, result.output
    assert '"queued": 0' in result.output and '"processing": 0' in result.output


def test_worker_run_without_a_database_url_fails_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    result = runner.invoke(app, ["worker", "run"])
    assert result.exit_code == 1
    assert "DATABASE_URL" in result.output


def test_worker_run_refuses_openai_without_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "config.toml", {"ai": {"provider": "openai"}})
    monkeypatch.setenv("FLIRT_CONFIG", str(cfg))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["worker", "run", "--db-url", "postgresql://127.0.0.1:9/x"])
    assert result.exit_code == 1
    assert "OPENAI_API_KEY" in result.output
