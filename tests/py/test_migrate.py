"""`db migrate`: pg_cron enabled by the migrating role, functions as the files declare them."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner, Result

from cli.doctor_cmd import CRON_JOBS
from cli.main import app
from pyworker.migrate import PROJECT_SCHEMAS, migrate
from pyworker.settings import load_config
from tests.py.dbtools import TestDatabase, as_user


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# -- pg_cron ----------------------------------------------------------------


def test_migrate_enables_pg_cron_as_postgres_and_schedules_the_jobs(cron_db: TestDatabase) -> None:
    """A fresh project gets its jobs from `db migrate` alone, with no Dashboard step."""
    with cron_db.connect("supabase_admin", autocommit=True) as conn:
        conn.execute("drop extension pg_cron cascade")
    result = cli("db", "migrate", "--db-url", cron_db.owner_dsn)
    assert result.exit_code == 0, result.output
    assert f"cron jobs: {', '.join(CRON_JOBS)}" in " ".join(result.stdout.split())
    assert cron_db.fetchone(
        "select extnamespace::regnamespace::text as schema from pg_extension"
        " where extname = 'pg_cron'"
    ) == {"schema": "pg_catalog"}
    jobs = cron_db.fetchall("select jobname, username, active from cron.job order by jobname")
    expected = [{"jobname": n, "username": "postgres", "active": True} for n in sorted(CRON_JOBS)]
    assert jobs == expected


def test_migrate_fails_with_one_line_where_pg_cron_cannot_be_enabled(db: TestDatabase) -> None:
    """pg_cron runs in one database of a cluster (cron.database_name): elsewhere, say so."""
    result = cli("db", "migrate", "--db-url", db.owner_dsn)
    line = one_error_line(result)
    assert "pg_cron" in line and "jobs are not scheduled" in line
    assert "can only create extension in database flirt_cron" in line
    assert "functions:" in result.stdout  # everything else was applied
    assert db.fetchone("select 1 from pg_extension where extname = 'pg_cron'") is None


# -- functions are declared, not accumulated ----------------------------------


def _function_exists(db: TestDatabase, signature: str) -> bool:
    row = db.fetchone("select to_regprocedure(%s) is not null as found", [signature])
    return bool(row and row["found"])


def test_migrate_drops_functions_no_file_defines_with_their_grants(db: TestDatabase) -> None:
    """A function an older release granted to `authenticated` is not callable after migrate."""
    db.execute(
        "create function public.old_credits() returns integer language sql"
        " set search_path = '' as 'select 42'"
    )
    db.execute("grant execute on function public.old_credits() to authenticated")
    db.execute(
        "create function private.old_helper(n integer) returns integer language sql"
        " set search_path = '' as 'select n'"
    )
    user = db.create_user()
    with db.api_connect() as conn, as_user(conn, user):
        assert conn.execute("select public.old_credits() as n").fetchone() == {"n": 42}

    check = cli("db", "migrate", "--check", "--db-url", db.owner_dsn)
    assert check.exit_code == 1, check.output
    assert "drop private.old_helper(integer)" in check.stdout
    assert "drop public.old_credits()" in check.stdout
    assert _function_exists(db, "public.old_credits()"), "--check changes nothing"

    report = migrate(db.owner_dsn, load_config())
    assert report.dropped_functions == ["private.old_helper(integer)", "public.old_credits()"]
    assert not _function_exists(db, "public.old_credits()")
    assert not _function_exists(db, "private.old_helper(integer)")
    with (
        db.api_connect() as conn,
        pytest.raises(psycopg.errors.UndefinedFunction),
        as_user(conn, user),
    ):
        conn.execute("select public.old_credits()")
    assert cli("db", "migrate", "--check", "--db-url", db.owner_dsn).exit_code == 0


def test_migrate_keeps_extension_functions_and_functions_of_other_owners(
    db: TestDatabase,
) -> None:
    with db.connect("supabase_admin", autocommit=True) as conn:
        conn.execute("create extension citext with schema public")
        conn.execute(
            "create function public.platform_probe() returns integer language sql"
            " set search_path = '' as 'select 1'"
        )
    report = migrate(db.owner_dsn, load_config())
    assert report.dropped_functions == []
    assert _function_exists(db, "public.platform_probe()")
    assert _function_exists(db, "public.citextin(cstring)")


def test_fresh_database_has_only_declared_functions(db: TestDatabase) -> None:
    """Every function the migrations create is also in a functions_sql file."""
    result = cli("db", "migrate", "--check", "--db-url", db.owner_dsn)
    assert result.exit_code == 0, result.output
    assert "nothing to apply, no function to drop" in result.stdout


def test_every_schema_the_migrations_create_is_a_project_schema(db: TestDatabase) -> None:
    owned = db.fetchall(
        "select nspname from pg_namespace where nspowner = 'postgres'::regrole"
        " and nspname <> 'supabase_migrations'"
    )
    assert {r["nspname"] for r in owned} <= set(PROJECT_SCHEMAS)
