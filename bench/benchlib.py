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
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def tracking_all_statements(connect: Callable[[], Any]) -> Iterator[None]:
    """pg_stat_statements (preloaded with track = none, installed in schema `bench`)
    counts every statement, those inside functions too, and pg_stat_user_functions
    every function call (`track_functions = all`), for the duration of the block."""
    with connect() as conn:
        conn.execute("alter system set pg_stat_statements.track = 'all'")
        conn.execute("alter system set track_functions = 'all'")
        conn.execute("select pg_reload_conf()")
        time.sleep(0.5)
        conn.execute("select bench.pg_stat_statements_reset()")
    try:
        yield
    finally:
        with connect() as conn:
            conn.execute("alter system reset pg_stat_statements.track")
            conn.execute("alter system reset track_functions")
            conn.execute("select pg_reload_conf()")


# A backend that went idle less than a second after its last report sends its
# statistics 10 s later (PostgreSQL 15's PGSTAT_IDLE_INTERVAL): wait that long before
# reading the function counters of a run.
STATS_FLUSH_SECONDS = 11.0


def function_counters(conn: Any) -> dict[str, tuple[int, float, float]]:
    """pg_stat_user_functions of the current database: (calls, total ms, self ms) by name."""
    rows = conn.execute(
        "select funcid::regprocedure::text, calls, total_time, self_time"
        " from pg_stat_user_functions"
    ).fetchall()
    return {name: (calls, total, own) for name, calls, total, own in rows}


def read_functions(
    before: dict[str, tuple[int, float, float]],
    after: dict[str, tuple[int, float, float]],
    per: int,
) -> list[dict[str, Any]]:
    """The functions that took the most time of their own between two readings, per
    `per` units (self time: without the functions they call; with their statements)."""
    per = max(per, 1)
    out = []
    for name, (calls, total, own) in after.items():
        calls0, total0, own0 = before.get(name, (0, 0.0, 0.0))
        if calls - calls0 > 0:
            n = calls - calls0
            out.append(
                {
                    "function": name,
                    "calls_per_tx": round(n / per, 2),
                    "self_us_per_call": round((own - own0) * 1000 / n, 1),
                    "total_us_per_call": round((total - total0) * 1000 / n, 1),
                    "self_us_per_tx": round((own - own0) * 1000 / per, 1),
                }
            )
    return sorted(out, key=lambda f: -float(f["self_us_per_tx"]))[:15]


def functions_table(functions: list[dict[str, Any]], unit: str = "tx") -> str:
    """read_functions() as a Markdown table."""
    return table(
        ("function", f"calls/{unit}", "self µs/call", "total µs/call", f"self µs/{unit}"),
        [
            (
                f"`{f['function']}`",
                f["calls_per_tx"],
                f["self_us_per_call"],
                f["total_us_per_call"],
                f["self_us_per_tx"],
            )
            for f in functions
        ],
    )


def read_statements(conn: Any, database: str, min_calls: int, per: int) -> list[dict[str, Any]]:
    """The top statements of pg_stat_statements (installed in schema `bench`), per `per` units.

    With `pg_stat_statements.track = all` the statements run inside functions are
    counted too; a function's own line includes the time of those it runs.
    """
    rows = conn.execute(
        "select toplevel, regexp_replace(query, '\\s+', ' ', 'g'), calls,"
        " total_exec_time * 1000 / calls, rows::float / calls, wal_bytes::float / calls,"
        " shared_blks_dirtied::float / calls"
        "  from bench.pg_stat_statements s join pg_database d on d.oid = s.dbid"
        " where d.datname = %s and calls >= %s order by total_exec_time desc limit 20",
        [database, min_calls],
    ).fetchall()
    per = max(per, 1)
    return [
        {
            "toplevel": top,
            "query": query[:160],
            "calls_per_tx": round(calls / per, 2),
            "exec_us_per_call": round(us, 1),
            "rows_per_call": round(nrows, 2),
            "wal_bytes_per_call": round(float(wal)),
            "blocks_dirtied_per_call": round(dirtied, 3),
        }
        for top, query, calls, us, nrows, wal, dirtied in rows
    ]


def statements_table(statements: list[dict[str, Any]], unit: str = "tx") -> str:
    """read_statements() as a Markdown table (statements inside functions marked ↳)."""
    return table(
        ("statement", f"calls/{unit}", "µs/call", "rows/call", "WAL B/call", "dirtied/call"),
        [
            (
                ("" if st["toplevel"] else "↳ ")
                + "`"
                + st["query"].replace("|", "\\|")[:100]
                + "`",
                st["calls_per_tx"],
                st["exec_us_per_call"],
                st["rows_per_call"],
                st["wal_bytes_per_call"],
                st["blocks_dirtied_per_call"],
            )
            for st in statements
        ],
    )


# Where PostgreSQL's CPU goes, by the work a sampled call stack is doing. A sample
# counts for the first bucket, in this order, that has one of its functions anywhere
# on the stack (PostgreSQL 15's exported symbols; static functions show as unknown).
PARSE_AND_PLAN = (
    "pg_parse_query",
    "pg_analyze_and_rewrite_fixedparams",
    "pg_analyze_and_rewrite_withcb",
    "pg_plan_queries",
    "pg_plan_query",
)
CPU_BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "CHECK constraints (read from their stored text and compiled at each writing statement)",
        ("ExecConstraints",),
    ),
    ("generated column (compiled at each updating statement)", ("ExecInitStoredGenerated",)),
    ("foreign-key checks (queries run after each writing statement)", ("AfterTriggerEndQuery",)),
    ("index entries written", ("ExecInsertIndexTuples",)),
    ("row writes and row locks", ("heap_insert", "heap_update", "heap_lock_tuple")),
    ("index and table reads", ("index_getnext_slot", "heap_getnextslot")),
    (
        "executor start and end of each statement (opening relations, row-lock setup)",
        ("standard_ExecutorStart", "standard_ExecutorEnd"),
    ),
    ("parse, analyse and plan: SQL-function bodies, at each call", ()),
    ("parse, analyse and plan: the statements the client sends", PARSE_AND_PLAN),
    ("cached plans of PL/pgSQL statements: checks and relation locks", ("GetCachedPlan",)),
    (
        "PL/pgSQL expressions outside statements, compiled again in each transaction",
        ("ExecInitExprWithParams",),
    ),
    ("commit (WAL insert and flush, lock release)", ("CommitTransactionCommand",)),
    ("client protocol (socket reads and writes)", ("secure_write", "secure_read")),
    ("random bytes (gen_random_uuid)", ("pg_strong_random",)),
    ("rest of PL/pgSQL (statements' own execution, variables, calls)", ("plpgsql_call_handler",)),
    ("rest (backend loop, background processes)", ()),
)


def _cpu_bucket(frames: list[str]) -> str:
    """The bucket of one call stack (leaf first)."""
    present = set(frames)
    for name, functions in CPU_BUCKETS:
        if name.startswith("parse, analyse and plan: SQL-function"):
            parse = next((i for i, f in enumerate(frames) if f in PARSE_AND_PLAN), None)
            if parse is not None and "fmgr_sql" in frames[parse:]:
                return name
        elif not functions or not present.isdisjoint(functions):
            return name
    raise AssertionError("the last bucket takes every stack")


def perf_usable() -> bool:
    """perf is installed and may sample every CPU (root, or perf_event_paranoid allows it)."""
    if not shutil.which("perf"):
        return False
    probe = subprocess.run(
        ["perf", "record", "-a", "-o", "/dev/null", "--", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


PERF_RECORD = ("perf", "record", "-a", "-F", "499", "--call-graph", "dwarf,16384")


def perf_record(seconds: float, out: Path) -> None:
    """Sample every CPU with call stacks (DWARF unwinding: PostgreSQL has no frame pointers)."""
    subprocess.run(
        [*PERF_RECORD, "-o", str(out), "--", "sleep", str(seconds)],
        capture_output=True,
        check=True,
    )


def cpu_buckets(data: Path, comm: str = "postgres") -> dict[str, Any]:
    """The samples of processes named `comm` in a perf recording, by CPU_BUCKETS."""
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "--comm", comm, "-F", "ip,sym"],
        capture_output=True,
        text=True,
        check=True,
    )
    counts = dict.fromkeys((name for name, _ in CPU_BUCKETS), 0)
    samples = 0
    for stack in script.stdout.split("\n\n"):
        frames = [line.split(None, 1)[1] for line in stack.splitlines() if " " in line.strip()]
        if frames:
            samples += 1
            counts[_cpu_bucket(frames)] += 1
    return {
        "samples": samples,
        "buckets": [
            {"bucket": name, "share": round(n / max(samples, 1), 4)} for name, n in counts.items()
        ],
    }


def cpu_buckets_table(profile: dict[str, Any], per: float, unit: str = "tx") -> str:
    """cpu_buckets() as a Markdown table: share of PostgreSQL's CPU and µs per `unit`."""
    return table(
        ("where PostgreSQL's CPU goes", "share", f"µs per {unit}"),
        [
            (b["bucket"], f"{100 * b['share']:.1f} %", f"{b['share'] * per:.0f}")
            for b in sorted(profile["buckets"], key=lambda b: -b["share"])
            if b["share"] > 0
        ],
    )
