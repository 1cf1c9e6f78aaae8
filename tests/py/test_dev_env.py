"""`flirt-admin dev up` and its .env: written the first time, kept (and said so) after.

`dev up` runs for real against the test cluster (not the default port 54322), with
its .env and state in a temporary folder and no services to start.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli import dev_cmd
from cli.main import app
from pyworker import devstack
from pyworker import migrate as migrate_module
from pyworker.settings import ROOT
from tests.py.conftest import CRON_DB


@pytest.fixture
def stack(
    cluster: devstack.Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """`dev up` pointed at the test cluster; yields the database it creates."""
    database = f"dev_{os.getpid()}"
    config = (ROOT / "config.toml").read_text()
    config = re.sub(r"(?m)^database = .*$", f'database = "{database}"', config)
    config = re.sub(r"(?m)^port = 54322 .*$", f"port = {cluster.port}", config)
    (tmp_path / "config.toml").write_text(config)
    monkeypatch.setenv("FLIRT_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setattr(dev_cmd, "ENV_FILE", tmp_path / ".env")
    monkeypatch.setattr(dev_cmd, "LOCAL", tmp_path / ".local")
    monkeypatch.setattr(dev_cmd, "SERVICES", {})
    # pg_cron lives in the shared cluster's own cron database, not in this one; enabling
    # it (and its refusal elsewhere) is test_migrate.py's concern, the .env is this file's
    monkeypatch.setattr(migrate_module, "enable_pg_cron", lambda conn: None)
    monkeypatch.setattr(
        dev_cmd,
        "cluster",
        lambda: devstack.Cluster(cluster.data_dir, cluster.port, cron_database=CRON_DB),
    )
    try:
        yield database
    finally:
        cluster.drop_database(database)


def dev_up() -> Result:
    result = CliRunner().invoke(app, ["dev", "up"])
    assert result.exit_code == 0, result.output
    return result


def test_dev_up_writes_env_the_first_time_and_says_it_kept_it_after(
    stack: str, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    first = dev_up()
    assert "written to .env" in first.output
    content = env_file.read_text()
    assert f"/{stack}\n" in content and "STRIPE_WEBHOOK_SECRET=whsec_" in content

    second = dev_up()
    assert "written" not in second.output, second.output
    assert ".env exists and was kept" in second.output
    assert "warning" not in second.output
    assert env_file.read_text() == content


def test_dev_up_keeps_a_foreign_env_and_warns_that_it_points_elsewhere(
    stack: str, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=postgresql://postgres@db.example.com:5432/postgres\n")
    result = dev_up()
    assert "written" not in result.output, result.output
    assert "kept" in result.output
    assert "warning: .env has DATABASE_URL=postgresql://postgres@db.example.com" in result.output
    assert env_file.read_text().startswith("DATABASE_URL=postgresql://postgres@db.example.com")
