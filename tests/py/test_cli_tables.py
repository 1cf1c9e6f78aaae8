"""CLI tables at 80 columns and without a terminal: ids are printed whole, on one line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from tests.py.dbtools import TestDatabase
from tests.py.fakes import stripe_events as ev

WIDTH = 80


def run(db: TestDatabase, env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(app, [*args, "--db-url", db.owner_dsn], env=env)
    assert result.exit_code == 0, result.output
    return result


def lines_with(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"COLUMNS": str(WIDTH), "TTY_COMPATIBLE": "0"}, id="pipe"),
        pytest.param({"COLUMNS": str(WIDTH), "TTY_COMPATIBLE": "1"}, id="terminal-80"),
    ],
)
def test_users_list_prints_every_user_id_whole_on_one_line(
    db: TestDatabase, env: dict[str, str]
) -> None:
    users = [db.create_user(f"someone.with.a.long.address.{n}@example.com") for n in range(3)]
    output = run(db, env, "users", "list").output
    for user in users:
        assert len(lines_with(output, str(user))) == 1, output
    if env["TTY_COMPATIBLE"] == "1":
        assert max(len(line) for line in output.splitlines()) <= WIDTH, output
    else:
        # a pipe gets one line per row: the id and its email on the same line
        for n, user in enumerate(users):
            assert lines_with(output, str(user)) == lines_with(output, f".{n}@example.com"), output


@pytest.mark.parametrize("tty", ["0", "1"])
def test_webhooks_list_prints_event_ids_whole_at_80_columns(db: TestDatabase, tty: str) -> None:
    evt = ev.event("customer.created", {"id": "cus_tables", "object": "customer"})
    db.execute("select private.apply_stripe_event(%s::jsonb)", [json.dumps(evt)])
    output = run(db, {"COLUMNS": str(WIDTH), "TTY_COMPATIBLE": tty}, "webhooks", "list").output
    assert len(lines_with(output, evt["id"])) == 1, output
