"""Schema migrations (Supabase CLI compatible), repeatable SQL functions and config sync."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyworker.db import Connection, DatabaseError, Jsonb, session_connect
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
    dropped_functions: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    cron_jobs: list[str] = field(default_factory=list)
    # why pg_cron could not be enabled (its jobs are then not scheduled); None when it is
    cron_problem: str | None = None


@dataclass
class CheckReport:
    """What `migrate` would do: migrations to apply, functions to drop."""

    pending: list[str] = field(default_factory=list)
    drop_functions: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.pending and not self.drop_functions


# Functions in the project's schemas that the functions_sql files just applied did not
# (re)define: `create or replace` rewrites a function's pg_proc row, so a row the files
# touched carries the same transaction id (xmin) as a marker function created right
# after them. Extension members, and functions another role owns, are not the project's.
_UNDECLARED_FUNCTIONS = """
select pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname)
       || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' as signature,
       case p.prokind when 'a' then 'aggregate' when 'p' then 'procedure'
            else 'function' end as kind
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
 where n.nspname = any(%s)
   and p.proowner = (select r.oid from pg_catalog.pg_roles r where r.rolname = current_user)
   and not p.xmin = (select m.xmin from pg_catalog.pg_proc m
                      where m.oid = 'pg_temp.functions_applied_marker()'::regprocedure)
   and not exists (select from pg_catalog.pg_depend d
                    where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid
                      and d.deptype = 'e')
 order by 1
"""


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must be <digits>_<name>.sql: {path.name}")
        found.append(Migration(match.group(1), match.group(2), path))
    return found


def _ensure_history(conn: Connection[Any]) -> None:
    # Same table the Supabase CLI keeps, so `supabase db push` and we agree.
    conn.execute("create schema if not exists supabase_migrations")
    conn.execute(
        "create table if not exists supabase_migrations.schema_migrations"
        " (version text primary key, statements text[], name text)"
    )


def applied_versions(conn: Connection[Any]) -> set[str]:
    exists = conn.execute(
        "select to_regclass('supabase_migrations.schema_migrations') is not null as ok"
    ).fetchone()
    if not exists or not _first(exists):
        return set()
    rows = conn.execute("select version from supabase_migrations.schema_migrations").fetchall()
    return {_first(r) for r in rows}


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def status(conn: Connection[Any]) -> list[tuple[Migration, bool]]:
    done = applied_versions(conn)
    return [(m, m.version in done) for m in migration_files()]


def sync_config(conn: Connection[Any], cfg: Config) -> tuple[dict[str, Any], list[str]]:
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


def _apply_migrations(conn: Connection[Any], directory: Path) -> list[str]:
    """Apply every migration not yet recorded, each in its own transaction."""
    applied = []
    done = applied_versions(conn)
    for mig in migration_files(directory):
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
        applied.append(mig.path.name)
    return applied


def _apply_functions(
    conn: Connection[Any], directory: Path
) -> tuple[list[str], list[tuple[str, str]]]:
    """Apply every functions_sql file (inside the caller's transaction); returns the files
    and the project's functions (signature, kind) that no file defines."""
    files = []
    for path in sorted(directory.glob("*.sql")):
        conn.execute(path.read_text())
        files.append(path.name)
    conn.execute(
        "create or replace function pg_temp.functions_applied_marker() returns void"
        " language sql as ''"
    )
    undeclared = conn.execute(_UNDECLARED_FUNCTIONS, [list(PROJECT_SCHEMAS)]).fetchall()
    conn.execute("drop function pg_temp.functions_applied_marker()")
    return files, [(row[0], row[1]) for row in undeclared]


def enable_pg_cron(conn: Connection[Any]) -> str | None:
    """Create pg_cron unless it is there; None when enabled, else why it cannot be."""
    found = conn.execute("select 1 from pg_catalog.pg_extension where extname = 'pg_cron'")
    if found.fetchone():
        return None
    try:
        with conn.transaction():
            # as Supabase documents it; hosted Supabase lets postgres create it
            conn.execute("create extension if not exists pg_cron with schema pg_catalog")
    except DatabaseError as exc:
        reason = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
        database = _first(conn.execute("select current_database()").fetchone())
        return (
            f'pg_cron could not be enabled in database "{database}", so its jobs are not'
            f" scheduled: {reason}"
        )
    return None


def migrate(
    dsn: str,
    cfg: Config,
    *,
    migrations_dir: Path = MIGRATIONS_DIR,
    functions_dir: Path = FUNCTIONS_DIR,
) -> MigrateReport:
    """Apply pending migrations, enable pg_cron, apply every functions_sql file and drop
    the project's functions that none defines, then sync the config (and cron jobs)."""
    report = MigrateReport()
    with session_connect(dsn, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", [_LOCK_KEY])
        try:
            _ensure_history(conn)
            report.applied = _apply_migrations(conn, migrations_dir)
            report.cron_problem = enable_pg_cron(conn)
            with conn.transaction():
                report.functions, undeclared = _apply_functions(conn, functions_dir)
                for signature, kind in undeclared:
                    # no cascade: a policy, trigger or default still using it stops the migrate
                    conn.execute(f"drop {kind} {signature}")
                    report.dropped_functions.append(signature)
            report.config, report.cron_jobs = sync_config(conn, cfg)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", [_LOCK_KEY])
    return report


def check(
    dsn: str, *, migrations_dir: Path = MIGRATIONS_DIR, functions_dir: Path = FUNCTIONS_DIR
) -> CheckReport:
    """What `migrate` would apply and drop, found by doing it in a transaction rolled back."""
    report = CheckReport()
    with session_connect(dsn, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", [_LOCK_KEY])
        try:
            with conn.transaction(force_rollback=True):
                _ensure_history(conn)
                report.pending = _apply_migrations(conn, migrations_dir)
                # a savepoint: the functions get a transaction id of their own, apart from
                # what the pending migrations created
                with conn.transaction():
                    _, undeclared = _apply_functions(conn, functions_dir)
                report.drop_functions = [signature for signature, _ in undeclared]
        finally:
            conn.execute("select pg_advisory_unlock(%s)", [_LOCK_KEY])
    return report
