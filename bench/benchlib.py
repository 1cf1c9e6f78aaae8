"""What every benchmark here shares: ports, CPU readings, and the JSON → Markdown step.

Each bench writes its whole report as JSON to bench/results/ and prints its
table from that JSON (the same function serves `--markdown FILE`), so a table
in the README is always one that a bench printed from its own results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(steal, total) clock ticks of all CPUs: time the hypervisor gave to other guests."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])


def cluster_cpu_seconds(data_dir: Path) -> float:
    """CPU time of the postmaster and every process it started (backends, WAL writer...).

    Backends that have exited count too: the postmaster waited for them, so the
    kernel added their time to its cutime/cstime.
    """
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if int(stat.parent.name) == postmaster:
            ticks += sum(int(f) for f in fields[11:15])
        elif int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="JSON",
        help="print the tables of an earlier run from its JSON file, and run nothing",
    )


def print_saved(path: Path, render: Callable[[dict[str, Any]], str]) -> None:
    """`--markdown FILE`: the tables of a saved report."""
    print(render(json.loads(path.read_text())))


def save_and_print(
    name: str, report: dict[str, Any], render: Callable[[dict[str, Any]], str]
) -> Path:
    """Write the report as JSON, then print its tables from what was written."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print()
    print(render(json.loads(out.read_text())))
    print(f"\nJSON: {out} (print again with --markdown {out})")
    return out
