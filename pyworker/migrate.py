"""Schema migrations (Supabase CLI compatible), repeatable SQL functions and config sync."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pyworker.settings import ROOT, Config

MIGRATIONS_DIR = ROOT / "supabase" / "migrations"
FUNCTIONS_DIR = ROOT / "supabase" / "functions_sql"
_MIGRATION_NAME = re.compile(r"^(\d+)_(.+)\.sql$")
_LOCK_KEY = 0x666C697274  # "flirt": one migrator at a time
# The schemas whose functions, tables and grants the project declares (supabase_migrations
# only records which migrations ran).
PROJECT_SCHEMAS = ("public", "private")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path


@dataclass
class MigrateReport:
    applied: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    cron_jobs: list[str] = field(default_factory=list)


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must be <digits>_<name>.sql: {path.name}")
        found.append(Migration(match.group(1), match.group(2), path))
    return found


def _ensure_history(conn: psycopg.Connection[Any]) -> None:
    # Same table the Supabase CLI keeps, so `supabase db push` and we agree.
    conn.execute("create schema if not exists supabase_migrations")
    conn.execute(
        "create table if not exists supabase_migrations.schema_migrations"
        " (version text primary key, statements text[], name text)"
    )


def applied_versions(conn: psycopg.Connection[Any]) -> set[str]:
    exists = conn.execute(
        "select to_regclass('supabase_migrations.schema_migrations') is not null as ok"
    ).fetchone()
    if not exists or not _first(exists):
        return set()
    rows = conn.execute("select version from supabase_migrations.schema_migrations").fetchall()
    return {_first(r) for r in rows}


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def status(conn: psycopg.Connection[Any]) -> list[tuple[Migration, bool]]:
    done = applied_versions(conn)
    return [(m, m.version in done) for m in migration_files()]


def sync_config(conn: psycopg.Connection[Any], cfg: Config) -> tuple[dict[str, Any], list[str]]:
    """Write config.toml into the config tables and (re)schedule the pg_cron jobs."""
    with conn.transaction():
        counts = _first(
            conn.execute(
                "select private.sync_config(%s)", [Jsonb(cfg.model_dump(mode="json"))]
            ).fetchone()
        )
        jobs = _first(
            conn.execute(
                "select private.schedule_jobs(%s)", [cfg.reset.cron_every_minutes]
            ).fetchone()
        )
    return counts, list(jobs or [])


def migrate(dsn: str, cfg: Config) -> MigrateReport:
    """Apply pending migrations, then every functions_sql file, then config sync."""
    report = MigrateReport()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", [_LOCK_KEY])
        try:
            _ensure_history(conn)
            done = applied_versions(conn)
            for mig in migration_files():
                if mig.version in done:
                    continue
                sql = mig.path.read_text()
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute(
                        "insert into supabase_migrations.schema_migrations"
                        " (version, statements, name) values (%s, %s, %s)",
                        [mig.version, [sql], mig.name],
                    )
                report.applied.append(mig.path.name)
            with conn.transaction():
                for path in sorted(FUNCTIONS_DIR.glob("*.sql")):
                    conn.execute(path.read_text())
                    report.functions.append(path.name)
            report.config, report.cron_jobs = sync_config(conn, cfg)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", [_LOCK_KEY])
    return report
