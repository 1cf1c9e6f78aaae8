"""The current schema of the project's schemas, as one file: supabase/schema.sql.

It is what a fresh migrate produces (pg_dump --schema-only of the project's schemas),
normalised so that the same schema always gives the same text: no pg_dump version or
session settings, no owners (every object belongs to the migrating role).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyworker import devstack
from pyworker.migrate import PROJECT_SCHEMAS, migrate
from pyworker.settings import ROOT, Config

SCHEMA_FILE = ROOT / "supabase" / "schema.sql"
WRITE_COMMAND = "flirt-admin db schema --write"
HEADER = (
    "-- The current schema of the project's schemas ({schemas}), as a fresh `db migrate`\n"
    "-- leaves it. Generated: do not edit; regenerate with `{command}`.\n"
    "-- The migrations in supabase/migrations and supabase/functions_sql are the source.\n"
)

# pg_dump's version lines, its random \\restrict key (newer minor releases), session settings
_VARYING = (
    "-- Dumped ",
    "-- PostgreSQL database dump",
    "\\restrict",
    "\\unrestrict",
    "SET ",
    "SELECT pg_catalog.set_config(",
)


def normalise(dump: str) -> str:
    """pg_dump's output without what varies between runs, versions and machines."""
    kept: list[str] = []
    for line in dump.splitlines():
        if line == "--" or line.startswith(_VARYING):
            continue
        if not line.strip() and (not kept or not kept[-1].strip()):
            continue  # one blank line between statements
        kept.append(line.rstrip())
    while kept and not kept[-1].strip():
        kept.pop()
    header = HEADER.format(schemas=", ".join(PROJECT_SCHEMAS), command=WRITE_COMMAND)
    return header + "\n" + "\n".join(kept) + "\n"


def dump_schema(dsn: str) -> str:
    """The normalised schema-only dump of the project's schemas in the database at `dsn`."""
    pg_dump = devstack.PG_BIN / "pg_dump"
    command = [
        str(pg_dump if pg_dump.exists() else "pg_dump"),
        "--schema-only",
        "--no-owner",
        "--no-tablespaces",
        *(f"--schema={name}" for name in PROJECT_SCHEMAS),
        "--dbname",
        dsn,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {result.stderr.strip()}")
    return normalise(result.stdout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fresh_database(cfg: Config, name: str = "flirt") -> Iterator[str]:
    """A throwaway cluster (loopback, free port) with one freshly migrated database."""
    devstack.ensure_packages()
    base = Path(tempfile.mkdtemp(prefix="flirt-schema-"))
    os.chmod(base, 0o755)
    pg = devstack.Cluster(base / "data", _free_port(), cron_database=name, fast=True)
    try:
        pg.init()
        pg.start()
        pg.wait_ready()
        pg.bootstrap_roles()
        pg.create_database(name)
        pg.bootstrap_database(name, pgtap=False)
        dsn = pg.dsn(devstack.OWNER, name)
        migrate(dsn, cfg)
        yield dsn
    finally:
        pg.destroy()
        shutil.rmtree(base, ignore_errors=True)


def current_schema(cfg: Config) -> str:
    """The schema a fresh migrate gives, from a throwaway cluster."""
    with fresh_database(cfg) as dsn:
        return dump_schema(dsn)
