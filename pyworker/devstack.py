"""A throwaway Supabase-compatible PostgreSQL cluster, without Docker.

Used by `flirt-admin dev …` and by the test harness. The cluster listens on
loopback only, preloads pg_cron and has pgTAP available. Its bootstrap
superuser is `supabase_admin`; the project's migrations run as the
non-superuser `postgres`, as on hosted Supabase.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pyworker.db import DatabaseUnavailable, plain_connect
from pyworker.db import sql as pgsql
from pyworker.settings import ROOT

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
LOCAL_SQL = ROOT / "supabase" / "local"
SUPERUSER = "supabase_admin"
OWNER = "postgres"
DEBIAN_PACKAGES = [
    "postgresql-15-cron",
    "postgresql-15-pgtap",
    "postgresql-15-plpgsql-check",
    "libtap-parser-sourcehandler-pgtap-perl",
]


class StackError(Exception):
    """The local stack cannot be set up; the message says what to do."""


def _sharedir() -> Path:
    out = subprocess.run([str(PG_BIN / "pg_config"), "--sharedir"], capture_output=True, text=True)
    return Path(out.stdout.strip() or "/usr/share/postgresql/15")


def missing_packages() -> list[str]:
    """Debian packages whose files the stack needs but cannot find."""
    ext = _sharedir() / "extension"
    missing = []
    if not (ext / "pg_cron.control").exists():
        missing.append("postgresql-15-cron")
    if not (ext / "pgtap.control").exists():
        missing.append("postgresql-15-pgtap")
    if not (ext / "plpgsql_check.control").exists():
        missing.append("postgresql-15-plpgsql-check")
    if shutil.which("pg_prove") is None:
        missing.append("libtap-parser-sourcehandler-pgtap-perl")
    return missing


def ensure_packages() -> None:
    """Install pg_cron/pgTAP on Debian as root; otherwise say exactly what to install."""
    if not (PG_BIN / "postgres").exists():
        raise StackError(
            f"PostgreSQL 15 server binaries not found in {PG_BIN}: "
            "apt-get install postgresql-15 (or set PG_BIN)"
        )
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
        return
    raise StackError("missing packages; as root run: apt-get install -y " + " ".join(missing))


@dataclass
class Cluster:
    data_dir: Path
    port: int
    cron_database: str
    fast: bool = False  # fsync off: for throwaway test clusters only

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def dsn(self, user: str = OWNER, database: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    # -- process control -------------------------------------------------

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    def exists(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        return (
            self.exists()
            and self._run("pg_ctl", "status", "-D", str(self.data_dir)).returncode == 0
        )

    def init(self) -> bool:
        """Create the cluster unless it exists; True when it was created."""
        if self.exists():
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for path in (self.data_dir, self.data_dir.parent):
                os.chown(path, pg.pw_uid, pg.pw_gid)
        result = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        )
        if result.returncode != 0:
            raise StackError(f"initdb failed: {result.stderr.strip()}")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "''",
            "shared_preload_libraries": "'pg_cron'",
            "cron.database_name": f"'{self.cron_database}'",
            "cron.use_background_workers": "on",
            "max_worker_processes": "32",
            "max_connections": "300",
            "timezone": "'UTC'",
            "log_min_messages": "warning",
        }
        if self.fast:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        with (self.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        (self.data_dir / "pg_hba.conf").write_text(
            "# loopback only\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
        )
        return True

    def start(self) -> bool:
        """Start the cluster unless it runs; True when it was started."""
        if self.is_running():
            return False
        if os.geteuid() == 0 and not self.log_file.exists():
            self.log_file.touch()
            pg = pwd.getpwnam("postgres")
            os.chown(self.log_file, pg.pw_uid, pg.pw_gid)
        result = self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file)
        )
        if result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise StackError(f"PostgreSQL did not start: {result.stderr.strip()} {tail}")
        return True

    def stop(self, mode: str = "fast") -> bool:
        """Stop the cluster if it runs; True when it was stopped."""
        if not self.is_running():
            return False
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data_dir))
        return True

    def restart(self) -> None:
        self._run(
            "pg_ctl",
            "restart",
            "-w",
            "-m",
            "fast",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
        )

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)

    # -- Supabase-compatible bootstrap ----------------------------------

    def _superuser_exec(self, database: str, sql: str) -> None:
        with plain_connect(self.dsn(SUPERUSER, database), autocommit=True) as conn:
            conn.execute(sql)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                plain_connect(self.dsn(SUPERUSER), connect_timeout=2).close()
                return
            except DatabaseUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def bootstrap_roles(self) -> None:
        self._superuser_exec("postgres", (LOCAL_SQL / "roles.sql").read_text())

    def create_database(self, name: str, template: str | None = None) -> bool:
        """Create database `name` owned by postgres unless it exists; True when created."""
        with plain_connect(self.dsn(SUPERUSER), autocommit=True) as conn:
            if conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
                return False
            query = pgsql.SQL("create database {} owner postgres").format(pgsql.Identifier(name))
            if template:
                query += pgsql.SQL(" template {}").format(pgsql.Identifier(template))
            conn.execute(query)
        return True

    def drop_database(self, name: str) -> None:
        with plain_connect(self.dsn(SUPERUSER), autocommit=True) as conn:
            conn.execute(
                pgsql.SQL("drop database if exists {} with (force)").format(pgsql.Identifier(name))
            )

    def bootstrap_database(self, name: str, *, pgtap: bool = True) -> None:
        """Give `name` what hosted Supabase provides: auth, storage, realtime, extensions;
        with `pgtap`, also the test tools (pgTAP, and plpgsql_check for `supabase db lint`)."""
        self._superuser_exec(name, (LOCAL_SQL / "database.sql").read_text())
        self._superuser_exec(name, (LOCAL_SQL / "cron.sql").read_text())
        if pgtap:
            self._superuser_exec(name, (LOCAL_SQL / "pgtap.sql").read_text())
            self._superuser_exec(name, (LOCAL_SQL / "plpgsql_check.sql").read_text())

    def up(self, database: str) -> None:
        """Create (first time), start and bootstrap the cluster with one database."""
        ensure_packages()
        self.init()
        self.start()
        self.wait_ready()
        self.bootstrap_roles()
        self.create_database(database)
        self.bootstrap_database(database)
