"""A local PgBouncer in transaction mode in front of a throwaway cluster.

Production may put DATABASE_URL on a transaction pooler (Supabase's Supavisor,
PgBouncer): every transaction can run on another server connection, and
nothing set for a session survives it. The tests and the soak benchmark run
the services through this one to prove they need no session on DATABASE_URL.
`server_round_robin` hands out server connections in turn, so that a client's
next transaction usually lands on another one: session state a client relied
on shows up as a failure instead of passing by luck.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyworker.db import DatabaseUnavailable, plain_connect

BINARY = os.environ.get("PGBOUNCER", "/usr/sbin/pgbouncer")
DEBIAN_PACKAGE = "pgbouncer"


class PoolerError(Exception):
    """PgBouncer cannot run here; the message says what to do."""


@dataclass
class PgBouncer:
    """PgBouncer on 127.0.0.1:`port`, forwarding every database to 127.0.0.1:`server_port`."""

    work_dir: Path
    port: int
    server_port: int
    users: tuple[str, ...]
    pool_size: int = 20
    settings: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.work_dir / "pgbouncer.log"

    def dsn(self, user: str, database: str) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _write_config(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        auth_file = self.work_dir / "userlist.txt"
        # auth_type trust (the cluster trusts loopback too): the names must still be listed
        auth_file.write_text("".join(f'"{user}" ""\n' for user in self.users))
        values = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": str(auth_file),
            "pool_mode": "transaction",
            "server_round_robin": "1",
            "default_pool_size": str(self.pool_size),
            "max_client_conn": "2000",
            "max_db_connections": "0",
            # reconnect at once after a database restart (the default waits 15 s)
            "server_login_retry": "1",
            "query_wait_timeout": "60",
            "logfile": str(self.log_file),
            "pidfile": str(self.work_dir / "pgbouncer.pid"),
            "log_connections": "0",
            "log_disconnections": "0",
            **self.settings,
        }
        ini = self.work_dir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.server_port}\n\n"
            "[pgbouncer]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
        )
        if os.geteuid() == 0:  # PgBouncer refuses to run as root: it runs as postgres
            pg = pwd.getpwnam("postgres")
            for path in (self.work_dir, ini, auth_file):
                os.chown(path, pg.pw_uid, pg.pw_gid)
        return ini

    def start(self, timeout: float = 15) -> None:
        if not Path(BINARY).exists():
            raise PoolerError(f"{BINARY} not found: apt-get install -y {DEBIAN_PACKAGE}")
        ini = self._write_config()
        cmd = [BINARY, *(["-u", "postgres"] if os.geteuid() == 0 else []), str(ini)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
                raise PoolerError(f"pgbouncer exited with {self.proc.returncode}: {tail}")
            try:
                plain_connect(self.dsn(self.users[0], "postgres"), connect_timeout=2).close()
                return
            except DatabaseUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # finish running transactions, then exit
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)
