"""Run the real worker as a subprocess with a temporary config (short leases, fast polls)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyworker.settings import ROOT


def write_config(path: Path, overrides: dict[str, dict[str, Any]]) -> Path:
    """config.toml with `{section: {key: value}}` replaced (keys are added when missing)."""
    lines = (ROOT / "config.toml").read_text().splitlines()
    out: list[str] = []
    section = ""
    pending: dict[str, dict[str, Any]] = {s: dict(kv) for s, kv in overrides.items()}

    def flush(sec: str) -> None:
        for key, value in pending.pop(sec, {}).items():
            out.append(f"{key} = {_toml(value)}")

    for line in lines:
        header = re.match(r"^\[([^\]]+)\]\s*$", line)
        if header:
            flush(section)
            section = header.group(1)
            out.append(line)
            continue
        key = re.match(r"^([A-Za-z_]+)\s*=", line)
        if key and key.group(1) in pending.get(section, {}):
            out.append(f"{key.group(1)} = {_toml(pending[section].pop(key.group(1)))}")
            continue
        out.append(line)
    flush(section)
    for sec in list(pending):
        out.append(f"[{sec}]")
        flush(sec)
    path.write_text("\n".join(out) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 20) -> None:
        wait_until(lambda: text in self.log, timeout, f"worker log never showed {text!r}")

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no chance to clean up
            self.proc.wait(10)


def start_worker(
    dsn: str,
    config: Path,
    log_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
) -> WorkerProcess:
    full_env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "FLIRT_CONFIG": str(config),
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
        **(env or {}),
    }
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyworker.worker", *args],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(proc, log_path)
    worker.wait_for_log("worker_started")
    return worker


def wait_until(check: Callable[[], Any], timeout: float = 20, message: str = "timed out") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def scrape(port: int) -> dict[str, float]:
    """Prometheus text format as {sample: value} (labels kept in the name)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
