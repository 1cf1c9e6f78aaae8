"""Schema lifecycle: supabase/schema.sql is current, and an older release's database with
data upgrades to exactly the schema a fresh migrate gives, losing nothing."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from cli.main import app
from pyworker import devstack
from pyworker import schema as schema_module
from pyworker.migrate import PROJECT_SCHEMAS, migrate
from pyworker.providers.base import AnalysisRequest
from pyworker.providers.mock import mock_result
from pyworker.schema import SCHEMA_FILE, WRITE_COMMAND, dump_schema
from pyworker.settings import ROOT, load_config
from tests.py.dbtools import TestDatabase, ledger_mismatches, rpc
from tests.py.fakes import stripe_events as ev

# The oldest release whose databases `db migrate` must upgrade.
OLDEST_SUPPORTED = "v0.1.0"
# Filled from config.toml on every migrate: not user data.
CONFIG_TABLES = {
    "public.tiers",
    "public.action_costs",
    "public.credit_packs",
    "public.app_settings",
}


def _diff(expected: str, actual: str, names: tuple[str, str]) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), *names, lineterm="", n=2
    )
    return "\n".join(list(lines)[:80])


# -- supabase/schema.sql -----------------------------------------------------


def test_schema_sql_is_what_a_fresh_migrate_gives(db: TestDatabase) -> None:
    current = dump_schema(db.owner_dsn)
    committed = SCHEMA_FILE.read_text() if SCHEMA_FILE.exists() else ""
    assert committed == current, (
        f"supabase/schema.sql is stale: run `{WRITE_COMMAND}` and commit it\n"
        + _diff(committed, current, ("supabase/schema.sql", "fresh migrate"))
    )


def test_schema_sql_shows_every_table_and_grant(db: TestDatabase) -> None:
    text = SCHEMA_FILE.read_text()
    tables = db.fetchall(
        "select schemaname || '.' || tablename as name from pg_tables where schemaname = any(%s)",
        [list(PROJECT_SCHEMAS)],
    )
    assert tables and all(f"CREATE TABLE {t['name']} (" in text for t in tables)
    assert "GRANT ALL ON FUNCTION public.perform_action(" in text


def test_schema_command_says_which_command_regenerates_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "schema.sql"
    stale.write_text(SCHEMA_FILE.read_text().replace("CREATE TABLE public.users", "CREATE TABLE x"))
    monkeypatch.setattr(schema_module, "SCHEMA_FILE", stale)
    result = CliRunner().invoke(app, ["db", "schema", "--check"])
    assert result.exit_code == 1, result.output
    assert f"is stale: run `{WRITE_COMMAND}`" in " ".join(result.stderr.split())
    written = CliRunner().invoke(app, ["db", "schema", "--write"])
    assert written.exit_code == 0, written.output
    assert stale.read_text() == SCHEMA_FILE.read_text()


def test_version_option_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"flirt-admin {version}"


# -- upgrade from the oldest supported release ---------------------------------


@pytest.fixture(scope="module")
def old_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The oldest supported release's files, from its git tag."""
    found = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", f"refs/tags/{OLDEST_SUPPORTED}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.skip(
            f"git tag {OLDEST_SUPPORTED} is absent from this checkout (fetch the tags):"
            " the upgrade from it cannot be tested"
        )
    archive = subprocess.run(
        ["git", "archive", "--format=tar", OLDEST_SUPPORTED], cwd=ROOT, capture_output=True
    )
    assert archive.returncode == 0, archive.stderr.decode()
    dest = tmp_path_factory.mktemp(OLDEST_SUPPORTED)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


@pytest.fixture
def old_database(cluster: devstack.Cluster, old_release: Path) -> Iterator[TestDatabase]:
    """A database migrated by the old release's own `flirt-admin db migrate`."""
    name = f"upgrade_{os.getpid()}"
    cluster.create_database(name)
    try:
        cluster.bootstrap_database(name)
        database = TestDatabase(name, cluster.port)
        env = {
            **os.environ,
            "PYTHONPATH": str(old_release),
            "FLIRT_CONFIG": str(old_release / "config.toml"),
        }
        env.pop("DATABASE_URL", None)
        result = subprocess.run(
            [sys.executable, "-m", "cli", "db", "migrate", "--db-url", database.owner_dsn],
            cwd=old_release,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        yield database
    finally:
        cluster.drop_database(name)


def _seed(database: TestDatabase, old_release: Path) -> None:
    """Data of every kind, written through the old release's own functions."""
    packs = tomllib.loads((old_release / "config.toml").read_text())["packs"]
    pack_id, pack = next(iter(packs.items()))
    alice = database.create_user("alice@example.test")
    bob = database.create_user("bob@example.test")
    gone = database.create_user("gone@example.test")
    with database.api_connect() as api:
        for user, n in ((alice, 3), (bob, 2), (gone, 1)):
            for i in range(n):
                rpc(
                    api,
                    user,
                    "perform_action",
                    action_type="short_chat",
                    input={"chat": f"Them: hi {i}\nMe: hey"},
                    idempotency_key=f"k{i}",
                )
    with database.connect(autocommit=True) as conn:
        conn.execute("set role service_role")
        claimed = conn.execute(
            "select analysis_id, input from private.claim_analyses('upgrade-test', 10, 60)"
        ).fetchall()
        for i, row in enumerate(claimed):
            if i % 3 == 2:
                conn.execute(
                    "select private.fail_analysis(%s, 'upgrade-test', 'provider down', false)",
                    [row["analysis_id"]],
                )
                continue
            result = mock_result(
                AnalysisRequest(str(row["analysis_id"]), "short_chat", row["input"])
            ).model_dump()
            conn.execute(
                "select private.complete_analysis(%s, 'upgrade-test', %s, 'mock', %s)",
                [row["analysis_id"], Jsonb(result), Jsonb({"prompt_tokens": 3})],
            )
        intent = ev.payment_intent(str(alice), pack_id, pack["price_cents"])
        conn.execute(
            "select private.apply_stripe_event(%s)",
            [Jsonb(ev.event("payment_intent.succeeded", intent))],
        )
        refund = ev.charge(intent["id"], pack["price_cents"], pack["price_cents"] // 2)
        conn.execute(
            "select private.apply_stripe_event(%s)", [Jsonb(ev.event("charge.refunded", refund))]
        )
        conn.execute("select private.admin_adjust_credits(%s, 7, 'support ticket')", [bob])
    done = database.fetchone(
        "select id from analyses where user_id = %s and status = 'done' limit 1", [alice]
    )
    assert done is not None
    with database.api_connect() as api:
        rpc(api, alice, "save_reply", analysis_id=done["id"], reply="See you at eight")
    with database.connect("supabase_auth_admin") as conn:
        conn.execute("delete from auth.users where id = %s", [gone])


def _tables(database: TestDatabase) -> dict[str, list[str]]:
    rows = database.fetchall(
        "select c.table_schema || '.' || c.table_name as name,"
        " array_agg(quote_ident(c.column_name::text) order by c.ordinal_position) as columns"
        " from information_schema.columns c join pg_tables t"
        " on t.schemaname = c.table_schema and t.tablename = c.table_name"
        " where c.table_schema = any(%s) group by 1",
        [list(PROJECT_SCHEMAS)],
    )
    return {r["name"]: r["columns"] for r in rows if r["name"] not in CONFIG_TABLES}


def _contents(database: TestDatabase, tables: dict[str, list[str]]) -> dict[str, Any]:
    """Per table: its row count and a digest of every row (of the given columns)."""
    out: dict[str, Any] = {}
    with database.connect("supabase_admin") as conn:
        for name, columns in tables.items():
            schema, table = name.split(".")
            cols = psycopg.sql.SQL(", ").join(psycopg.sql.SQL(c) for c in columns)
            query = psycopg.sql.SQL(
                "select count(*) as n, md5(coalesce(string_agg(r::text, E'\\n' order by r::text),"
                " '')) as digest from (select {} from {}) r"
            ).format(cols, psycopg.sql.Identifier(schema, table))
            out[name] = conn.execute(query).fetchone()
    return out


def test_upgrade_from_oldest_release_gives_the_fresh_schema_and_keeps_the_data(
    db: TestDatabase, old_database: TestDatabase, old_release: Path
) -> None:
    _seed(old_database, old_release)
    tables = _tables(old_database)
    before = _contents(old_database, tables)
    users = old_database.fetchone("select count(*) as n from users")
    assert users == {"n": 2} and before["public.payments"]["n"] == 1
    assert all(before[t]["n"] > 0 for t in ("public.analyses", "public.saved_replies"))

    migrate(old_database.owner_dsn, load_config())

    fresh, upgraded = dump_schema(db.owner_dsn), dump_schema(old_database.owner_dsn)
    assert upgraded == fresh, _diff(fresh, upgraded, ("fresh migrate", "upgraded"))
    assert _contents(old_database, tables) == before
    assert ledger_mismatches(old_database) == []
    alice = old_database.fetchone("select id from users where email = 'alice@example.test'")
    assert alice is not None
    with old_database.api_connect() as api:
        rpc(api, alice["id"], "get_history", page_size=10)  # the RPCs still answer
