"""Credits benchmark (run by hand, not CI).

Usage: .venv/bin/python bench/bench_credits.py [--users 100000] [--reset-users 1000000]
       [--clients 8] [--scale 10] [--hot-clients 16] [--seconds 20] [--rounds 3]
       [--warmup 10] [--profile-seconds 10] [--breakdown-seconds 10] [--perf-seconds 5]
       [--fast] [--skip-actions] [--skip-reset]
       .venv/bin/python bench/bench_credits.py --markdown bench/results/credits-….json

Starts its own throwaway PostgreSQL cluster (loopback, free port; durable
settings unless --fast turns fsync/synchronous_commit off), migrates it and
measures, each against its anchor in the same run:

(a) perform_action through the PostgREST call path (connect as `authenticator`;
    per transaction BEGIN, SET LOCAL ROLE authenticated, request.jwt.claims,
    PostgREST's `select … from public.perform_action(...)`, COMMIT) for N users picked at random by
    C pgbench clients, against pgbench's built-in tpcb-like at scale S (default
    10: 10 branches, 100 tellers, 1,000,000 accounts; never below C) on the same
    cluster and database: one uncounted warm-up run of each, then rounds that
    alternate which side goes first. TPS (median of the rounds),
    per-transaction p50/p99 latency from pgbench's own logs, and per
    transaction the cluster's CPU time (every PostgreSQL process, from /proc)
    and WAL bytes. Goal: ratio >= 1.0.
    Why scale >= clients: every tpcb-like transaction updates one of the S
    `pgbench_branches` rows, so at scale 1 all clients queue on one row lock
    and the anchor measures that lock, not the machine (it runs at about half
    the speed of scale 10).
    Then, not timed, a profile of each side (--profile-seconds): with
    pg_stat_statements tracking nested statements, the server time, rows and
    WAL bytes per call of every statement, including those inside
    perform_action, so the table shows where the time goes; and, from
    pg_stat_user_functions in the same run, each function's calls and own time.
    And a breakdown (--breakdown-seconds each, one run per step, against the
    anchor's median): the same call path and clients calling stand-ins that do
    only the first steps of perform_action's work: nothing (the call path
    alone), then the caller's row update, then the queued analysis row, then
    the ledger row; last the floor: the same three writes in one statement
    with no checks, both new rows going to tables with only a primary key. It
    shows what the bookkeeping itself costs against the anchor, before any
    check runs, and that no charge through this call path can cost less than
    the floor.
    And a CPU profile (--perf-seconds, needs perf and root): perf samples every
    CPU with call stacks while perform_action runs, and PostgreSQL's samples
    are sorted by the work on their stack (benchlib.CPU_BUCKETS: CHECK
    constraints, foreign keys, index entries, executor start, parse and plan,
    commit, ...), in µs per transaction.
(b) one hot user and 16 clients: every client keeps calling perform_action
    until the balance is gone. Reports TPS and proves there was no overdraft
    (successes = balance / cost exactly, no ledger balance below zero, ledger
    invariant intact).
(c) the daily reset of M due users: the `flirt_daily_reset` job's command (batches,
    a COMMIT after each, what pg_cron runs) against a single-statement bare
    reset (UPDATE + ledger INSERT in one statement via a CTE) of the same rows,
    each on its own copy of one template database. Goal: ratio <= 1.3, and no
    batch holding its row locks for 1 s or more (each batch's time includes
    its COMMIT).

Writes JSON to bench/results/credits-<timestamp>.json and prints its tables
from that JSON (`--markdown FILE` prints them again from a saved run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from benchlib import (
    PERF_RECORD,
    STATS_FLUSH_SECONDS,
    cluster_cpu_seconds,
    cpu_buckets,
    cpu_buckets_table,
    free_port,
    function_counters,
    functions_table,
    markdown_option,
    perf_record,
    perf_usable,
    print_saved,
    read_functions,
    read_statements,
    save_and_print,
    statements_table,
    table,
    tracking_all_statements,
)

from pyworker import devstack
from pyworker.migrate import migrate
from pyworker.settings import load_config

PGBENCH = str(devstack.PG_BIN / "pgbench")
COST = 5  # short_chat
CHAT = '{"chat":"Them: are you free friday?\\nMe: maybe, what did you have in mind?"}'

# User n (1-based) gets a predictable id, so pgbench scripts can name a random user.
USER_ID_SQL = "('00000000-0000-4000-8000-' || lpad(to_hex({n}), 12, '0'))::uuid"

CLAIMS = (
    'SELECT set_config(\'request.jwt.claims\', \'{"role":"authenticated",'
    '"sub":"\' || __SUB__ || \'"}\', true);'
)
ACTION_SCRIPT = "\n".join(
    [
        "\\set uid random(1, __USERS__)",
        "BEGIN;",
        "SET LOCAL ROLE authenticated;",
        CLAIMS.replace("__SUB__", "'00000000-0000-4000-8000-' || lpad(to_hex(:uid), 12, '0')"),
        # PostgREST's statement for an RPC answered with `.single()`
        "SELECT coalesce(json_agg(t) -> 0, 'null') AS body"
        f" FROM public.perform_action('short_chat', '{CHAT}') t;",
        "COMMIT;",
        "",
    ]
)
# Stand-ins for the (a) breakdown: perform_action's writes, step by step, no checks.
# They keep the ledger invariant (no bucket moves) and write rows of the same shape.
BREAKDOWN_STEPS = {
    "call path only": "",
    "+ update the caller's row": """
  update public.users u set daily_used = u.daily_used + 5, updated_at = now()
   where u.id = v_uid;""",
    "+ insert the queued analysis": """
  insert into public.analyses
    (id, user_id, action_type, cost, daily_cost, purchased_cost, input, max_attempts)
  values (v_id, v_uid, action_type, 0, 0, 0, input, 3);""",
    "+ insert the ledger row": """
  insert into public.credits_transactions
    (user_id, daily_delta, purchased_delta, kind, balance_after, reference, metadata)
  select v_uid, 0, 0, 'action', u.credits_remaining, v_id::text,
         jsonb_build_object('action_type', action_type)
    from public.users u where u.id = v_uid;""",
}
BREAKDOWN_FUNCTION = """
create function bench.step{n}(action_type text, input jsonb)
returns private.action_receipt language plpgsql security definer set search_path = '' as $$
declare
  v_uid uuid := (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid;
  v_id uuid := encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
            substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
            from 1 for 6), 52, 1), 53, 1), 'hex')::uuid;
begin{body}
  return row(v_id, 'queued', 0, 0, 0, 0, false)::private.action_receipt;
end $$;
grant execute on function bench.step{n}(text, jsonb) to authenticated;
"""

# The floor of any charge through this call path: the same three writes in one
# statement and no checks, the two new rows going to tables that have nothing but a
# primary key (no other index, no CHECK constraint, no foreign key).
FLOOR_LABEL = "floor: the three writes in one statement, no checks, bare tables for the new rows"
FLOOR_FUNCTION = """
create table bench.floor_analyses (
  id uuid primary key, user_id uuid not null, action_type text not null, cost integer not null,
  status text not null default 'queued', input jsonb, created_at timestamptz not null default now()
);
create table bench.floor_ledger (
  id bigint generated always as identity primary key, user_id uuid not null,
  delta integer not null, kind text not null, balance_after integer not null, reference text
);
create function bench.floor(action_type text, input jsonb)
returns private.action_receipt language plpgsql security definer set search_path = '' as $$
declare
  v_uid uuid := (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid;
  v_id uuid;
begin
  with caller as (
    update public.users u set daily_used = u.daily_used + 5, updated_at = now()
     where u.id = v_uid returning u.id, u.credits_remaining
  ), analysis as (
    insert into bench.floor_analyses (id, user_id, action_type, cost, input)
    select gen_random_uuid(), caller.id, floor.action_type, 0, floor.input from caller
    returning id
  ), ledger as (
    insert into bench.floor_ledger (user_id, delta, kind, balance_after, reference)
    select caller.id, 0, 'action', caller.credits_remaining, analysis.id::text
      from caller, analysis
  )
  select analysis.id into v_id from analysis;
  return row(v_id, 'queued', 0, 0, 0, 0, false)::private.action_receipt;
end $$;
grant execute on function bench.floor(text, jsonb) to authenticated;
"""

HOT_SCRIPT = "\n".join(
    [
        "BEGIN;",
        "SET LOCAL ROLE authenticated;",
        CLAIMS.replace("__SUB__", "'00000000-0000-4000-8000-000000000001'"),
        f"SELECT bench.try_perform_action('short_chat', '{CHAT}');",
        "COMMIT;",
        "",
    ]
)

# The anchor of (c): the same reset as one statement over all due rows.
BARE_RESET = """
with due as (
  select u.id, u.daily_credits as old_daily, t.daily_credits as allowance
    from public.users u join public.tiers t on t.id = u.tier
   where u.daily_reset_on < %(day)s
), reset as (
  update public.users u
     set daily_credits = due.allowance, daily_reset_on = %(day)s, daily_used = 0,
         updated_at = now()
    from due where u.id = due.id
  returning u.id, u.credits_remaining, due.allowance - due.old_daily as delta
), ledger as (
  insert into public.credits_transactions
    (user_id, daily_delta, purchased_delta, kind, balance_after, reference)
  select reset.id, reset.delta, 0, 'daily_reset', reset.credits_remaining, %(day)s::text
    from reset where reset.delta <> 0
)
select count(*) as n from reset
"""


def _collect_batch_ms(batches: list[float], diag: psycopg.errors.Diagnostic) -> None:
    """Keep the duration of each `daily_reset_batch` the reset procedure reports."""
    found = re.match(r"daily_reset_batch .*ms=([0-9.]+)", diag.message_primary or "")
    if found:
        batches.append(float(found.group(1)))


def sum_reset_rows(conn: psycopg.Connection[Any], day: dt.date) -> int:
    """Users moved to `day` by the reset (the job prints its totals only as a notice)."""
    row = conn.execute(
        "select count(*) from public.users where daily_reset_on = %s", [day]
    ).fetchone()
    return int(row[0]) if row else 0


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


class Bench:
    def __init__(self, base: Path, fast: bool) -> None:
        self.base = base
        self.fast = fast
        self.pg = devstack.Cluster(
            base / "data", free_port(), cron_database="flirt_cron", fast=fast
        )

    def start(self) -> None:
        self.pg.init()
        with (self.pg.data_dir / "postgresql.auto.conf").open("a") as conf:
            # room for the 1M-row reset without a checkpoint storm (same for both sides)
            conf.write(
                "shared_buffers = '1GB'\nmax_wal_size = '8GB'\ncheckpoint_timeout = '30min'\n"
            )
            # loaded but idle while timed; the profile switches it on (same for both sides)
            conf.write(
                "shared_preload_libraries = 'pg_cron,pg_stat_statements'\n"
                "pg_stat_statements.track = 'none'\npg_stat_statements.max = 1000\n"
            )
        self.pg.start()
        self.pg.wait_ready()
        self.pg.bootstrap_roles()

    def new_database(self, name: str) -> str:
        self.pg.create_database(name)
        self.pg.bootstrap_database(name, pgtap=False)
        migrate(self.pg.dsn("postgres", name), load_config())
        return name

    def admin(self, database: str) -> psycopg.Connection[Any]:
        return psycopg.connect(self.pg.dsn(devstack.SUPERUSER, database), autocommit=True)

    def pgbench(self, database: str, user: str, args: list[str], log_prefix: str) -> dict[str, Any]:
        workdir = self.base / "pgbench"
        workdir.mkdir(exist_ok=True)
        for old in workdir.glob(f"{log_prefix}*"):
            old.unlink()
        cmd = [
            PGBENCH,
            "-h",
            "127.0.0.1",
            "-p",
            str(self.pg.port),
            "-U",
            user,
            "-l",
            f"--log-prefix={log_prefix}",
            *args,
            database,
        ]
        with self.admin(database) as conn:
            lsn = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
        cpu = cluster_cpu_seconds(self.pg.data_dir)
        out = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=False)
        cpu = cluster_cpu_seconds(self.pg.data_dir) - cpu
        with self.admin(database) as conn:
            wal = conn.execute(
                "select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [lsn]
            ).fetchone()[0]  # type: ignore[index]
        if out.returncode != 0:
            raise RuntimeError(f"pgbench failed: {out.stderr[-2000:]}")
        tps = float(re.search(r"tps = ([0-9.]+) \(without", out.stdout).group(1))  # type: ignore[union-attr]
        done = int(re.search(r"actually processed: ([0-9]+)", out.stdout).group(1))  # type: ignore[union-attr]
        latencies = []
        for log in workdir.glob(f"{log_prefix}*"):
            for line in log.read_text().splitlines():
                latencies.append(int(line.split()[2]) / 1000.0)  # µs → ms
        return {
            "tps": tps,
            "transactions": done,
            "server_cpu_us_per_tx": round(cpu * 1e6 / max(done, 1), 1),
            "wal_bytes_per_tx": round(float(wal) / max(done, 1)),
            "latencies_ms": latencies,
            "stdout": out.stdout,
        }


def seed_users(conn: psycopg.Connection[Any], users: int, days_behind: int, purchased: int) -> None:
    """N accounts with matching signup ledger rows, in bulk (the signup trigger is skipped)."""
    uid = USER_ID_SQL.format(n="g")
    conn.execute("set session_replication_role = replica")
    conn.execute(
        f"insert into auth.users (id, email) select {uid}, 'u' || g || '@bench.test'"
        " from generate_series(1, %s) g",
        [users],
    )
    # daily credits 0..99 of the pro allowance (100): nearly every reset writes a ledger row
    conn.execute(
        "insert into public.users"
        " (id, email, tier, daily_credits, purchased_credits, daily_reset_on)"
        f" select {uid}, 'u' || g || '@bench.test', 'pro', g %% 100, %s,"
        " private.credit_day(now()) - %s from generate_series(1, %s) g",
        [purchased, days_behind, users],
    )
    conn.execute(
        "insert into public.credits_transactions"
        " (user_id, daily_delta, purchased_delta, kind, balance_after, reference)"
        f" select {uid}, g %% 100, %s, 'signup_bonus', g %% 100 + %s, 'signup'"
        " from generate_series(1, %s) g",
        [purchased, purchased, users],
    )
    conn.execute("reset session_replication_role")
    conn.execute("vacuum analyze")
    conn.execute("checkpoint")


def wal_by_relation(
    b: Bench, start: str, end: str, names: dict[str, str], tx: int
) -> list[dict[str, Any]]:
    """WAL bytes per transaction by relation (pg_waldump), full-page images apart."""
    dump = subprocess.run(
        [
            str(devstack.PG_BIN / "pg_waldump"),
            "-p",
            str(b.pg.data_dir / "pg_wal"),
            "-s",
            start,
            "-e",
            end,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    totals: dict[str, list[int]] = {}
    for line in dump.stdout.splitlines():
        found = re.search(r"len \(rec/tot\):\s*(\d+)/\s*(\d+)", line)
        if not found:
            continue
        rel = re.search(r"rel \d+/\d+/(\d+)", line)
        name = names.get(rel.group(1), rel.group(1)) if rel else line.split()[1] + " (no relation)"
        entry = totals.setdefault(name, [0, 0, 0])
        rec, tot = int(found.group(1)), int(found.group(2))
        entry[0] += 1
        entry[1] += rec
        entry[2] += tot - rec  # full-page images ride on top of the record
    return sorted(
        (
            {
                "relation": name,
                "records_per_tx": round(n / tx, 2),
                "bytes_per_tx": round((rec + fpi) / tx),
                "fpi_bytes_per_tx": round(fpi / tx),
            }
            for name, (n, rec, fpi) in totals.items()
        ),
        key=lambda r: -r["bytes_per_tx"],
    )[:15]


def profile_statements(
    b: Bench, db: str, pgbench_args: list[str], user: str = devstack.SUPERUSER
) -> dict[str, Any]:
    """Where one side's server time goes, statement by statement (not a timed run).

    pg_stat_statements with `track = all` also counts the statements run inside
    functions; a function's own line includes the time of those it runs.
    """
    with tracking_all_statements(partial(b.admin, db)):
        with b.admin(db) as conn:
            start = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
            before = function_counters(conn)
        run = b.pgbench(db, user, pgbench_args, "profile")
        time.sleep(STATS_FLUSH_SECONDS)
        with b.admin(db) as conn:
            functions = read_functions(before, function_counters(conn), run["transactions"])
    with b.admin(db) as conn:
        statements = read_statements(conn, db, run["transactions"] // 2, run["transactions"])
    tx = max(run["transactions"], 1)
    with b.admin(db) as conn:
        end = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
        names = dict(
            conn.execute(
                "select pg_relation_filenode(oid)::text, relname from pg_class"
                " where pg_relation_filenode(oid) is not null"
            ).fetchall()
        )
    return {
        "wal_by_relation": wal_by_relation(b, str(start), str(end), names, tx),
        "tps": run["tps"],
        "transactions": run["transactions"],
        "server_cpu_us_per_tx": run["server_cpu_us_per_tx"],
        "wal_bytes_per_tx": run["wal_bytes_per_tx"],
        "statements": statements,
        "functions": functions,
    }


def perf_profile(b: Bench, db: str, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Where PostgreSQL's CPU goes during perform_action (perf; not a timed run).

    pgbench runs the same script for --perf-seconds plus a margin on each side, and
    perf samples every CPU in the middle of it; the samples of PostgreSQL's processes
    are sorted into benchlib.CPU_BUCKETS, and each share is turned into µs per
    transaction with that run's CPU per transaction.
    """
    if not perf_usable():
        print("  perf is not installed or may not sample every CPU: no CPU profile")
        return {"skipped": "perf is not installed or may not sample every CPU"}
    with b.admin(db) as conn:
        conn.execute("vacuum analyze public.users, public.analyses, public.credits_transactions")
    margin = 3
    seconds = args.perf_seconds + 2 * margin
    runs: list[dict[str, Any]] = []
    load = threading.Thread(
        target=lambda: runs.append(
            b.pgbench(
                db,
                "authenticator",
                ["-c", str(args.clients), "-j", "2", "-T", str(seconds), "-n", "-f", str(script)],
                "perf",
            )
        )
    )
    load.start()
    time.sleep(margin)
    data = b.base / "perf.data"
    perf_record(args.perf_seconds, data)
    load.join()
    profile = cpu_buckets(data)
    data.unlink()
    return {
        "seconds": args.perf_seconds,
        "command": " ".join(PERF_RECORD),
        "tps": runs[0]["tps"],
        "server_cpu_us_per_tx": runs[0]["server_cpu_us_per_tx"],
        **profile,
    }


def bench_actions(b: Bench, args: argparse.Namespace) -> dict[str, Any]:
    db = b.new_database("bench")
    with b.admin(db) as conn:
        seed_users(conn, args.users, days_behind=0, purchased=10_000_000)
        # no worker drains the queue here: lift the pending limit so no call gets 429
        conn.execute(
            "update public.app_settings set value = '100000000' where key = 'max_pending_analyses'"
        )
        conn.execute("create schema bench")
        conn.execute("create extension pg_stat_statements schema bench")
        conn.execute("grant usage on schema bench to authenticated")
        conn.execute(
            "create function bench.try_perform_action(action_type text, input jsonb) returns text"
            " language plpgsql set search_path = '' as $$ begin"
            " return (select p.status from public.perform_action(action_type, input) p);"
            " exception when sqlstate 'PT402' then return 'insufficient_credits'; end $$"
        )
        conn.execute(
            "grant execute on function bench.try_perform_action(text, jsonb) to authenticated"
        )
    init = subprocess.run(
        [
            PGBENCH,
            "-i",
            "-q",
            "-s",
            str(args.scale),
            "-h",
            "127.0.0.1",
            "-p",
            str(b.pg.port),
            "-U",
            devstack.SUPERUSER,
            db,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    del init
    script = b.base / "action.sql"
    script.write_text(ACTION_SCRIPT.replace("__USERS__", str(args.users)))

    def common(seconds: int) -> list[str]:
        return ["-c", str(args.clients), "-j", "2", "-T", str(seconds)]

    def tpcb(tag: str, seconds: int) -> dict[str, Any]:
        return b.pgbench(db, devstack.SUPERUSER, [*common(seconds), "-b", "tpcb-like"], tag)

    def rpc(tag: str, seconds: int) -> dict[str, Any]:
        with b.admin(db) as conn:  # what pgbench does for its own tables before a run
            conn.execute(
                "vacuum analyze public.users, public.analyses, public.credits_transactions"
            )
        return b.pgbench(db, "authenticator", [*common(seconds), "-n", "-f", str(script)], tag)

    if args.warmup:
        # not counted: both sides start from pages already touched since the last checkpoint
        tpcb("warm-tpcb", args.warmup)
        rpc("warm-rpc", args.warmup)
    rounds = []
    for r in range(args.rounds):
        # alternate which side goes first, so neither always runs on a fresher cluster
        if r % 2 == 0:
            anchor, action = tpcb(f"tpcb{r}", args.seconds), rpc(f"rpc{r}", args.seconds)
        else:
            action, anchor = rpc(f"rpc{r}", args.seconds), tpcb(f"tpcb{r}", args.seconds)
        rounds.append({"tpcb": anchor, "rpc": action})
        print(
            f"  round {r + 1}: tpcb-like {anchor['tps']:.0f} tps,"
            f" perform_action {action['tps']:.0f} tps"
        )

    def summary(kind: str) -> dict[str, Any]:
        lat = [x for r in rounds for x in r[kind]["latencies_ms"]]
        return {
            "tps_median": statistics.median(r[kind]["tps"] for r in rounds),
            "tps_rounds": [round(r[kind]["tps"], 1) for r in rounds],
            "p50_ms": _pct(lat, 50),
            "p99_ms": _pct(lat, 99),
            "server_cpu_us_per_tx": statistics.median(
                r[kind]["server_cpu_us_per_tx"] for r in rounds
            ),
            "wal_bytes_per_tx": statistics.median(r[kind]["wal_bytes_per_tx"] for r in rounds),
        }

    tpcb, rpc = summary("tpcb"), summary("rpc")
    ratios = [r["rpc"]["tps"] / r["tpcb"]["tps"] for r in rounds]
    with b.admin(db) as conn:
        broken = conn.execute("select count(*) from private.ledger_mismatches()").fetchone()
    profile = (
        {
            "tpcb_like": profile_statements(
                b, db, [*common(args.profile_seconds), "-b", "tpcb-like"]
            ),
            "perform_action": profile_statements(
                b, db, [*common(args.profile_seconds), "-n", "-f", str(script)], "authenticator"
            ),
        }
        if args.profile_seconds
        else {}
    )
    cpu_profile = perf_profile(b, db, script, args) if args.perf_seconds else {}
    breakdown = []
    body = ""
    steps = [(label, f"bench.step{n}(") for n, label in enumerate(BREAKDOWN_STEPS)]
    for n, (label, function) in enumerate(
        [*steps, (FLOOR_LABEL, "bench.floor(")] if args.breakdown_seconds else []
    ):
        with b.admin(db) as conn:
            if label == FLOOR_LABEL:
                conn.execute(FLOOR_FUNCTION)
            else:
                body += BREAKDOWN_STEPS[label]
                conn.execute(BREAKDOWN_FUNCTION.format(n=n, body=body))
        step_script = b.base / f"step{n}.sql"
        step_script.write_text(
            ACTION_SCRIPT.replace("__USERS__", str(args.users)).replace(
                "public.perform_action(", function
            )
        )
        with b.admin(db) as conn:
            conn.execute(
                "vacuum analyze public.users, public.analyses, public.credits_transactions"
            )
        run = b.pgbench(
            db,
            "authenticator",
            [*common(args.breakdown_seconds), "-n", "-f", str(step_script)],
            f"step{n}",
        )
        breakdown.append(
            {
                "step": label,
                "tps": run["tps"],
                "server_cpu_us_per_tx": run["server_cpu_us_per_tx"],
                "wal_bytes_per_tx": run["wal_bytes_per_tx"],
                "ratio": run["tps"] / tpcb["tps_median"],
            }
        )
        print(f"  breakdown {label}: {run['tps']:.0f} tps")
    result_a = {
        "users": args.users,
        "scale": args.scale,
        "warmup_seconds": args.warmup,
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "tpcb_like": tpcb,
        "perform_action": rpc,
        "ratio": statistics.median(ratios),
        "ratio_rounds": [round(x, 3) for x in ratios],
        "goal": ">= 1.0",
        "ledger_mismatches": broken[0] if broken else None,
        "profile_seconds": args.profile_seconds,
        "profile": profile,
        "breakdown_seconds": args.breakdown_seconds,
        "breakdown": breakdown,
        "cpu_profile": cpu_profile,
    }

    # (b) one hot user: enough balance for exactly K actions, more attempts than that
    k = args.hot_actions
    per_client = (k * 3 // 2) // args.hot_clients + 1
    with b.admin(db) as conn:
        hot = USER_ID_SQL.format(n=1)
        conn.execute(f"delete from public.analyses where user_id = {hot}")
        row = conn.execute(
            f"select daily_credits, purchased_credits from public.users where id = {hot}"
        ).fetchone()
        assert row is not None
        conn.execute(
            f"update public.users set daily_credits = 0, purchased_credits = %s where id = {hot}",
            [k * COST],
        )
        conn.execute(
            "insert into public.credits_transactions (user_id, daily_delta, purchased_delta, kind,"
            f" balance_after, reference) values ({hot}, %s, %s, 'admin_adjust', %s, 'bench')",
            [-row[0], k * COST - row[1], k * COST],
        )
    hot_script = b.base / "hot.sql"
    hot_script.write_text(HOT_SCRIPT)
    started = time.perf_counter()
    hot_run = b.pgbench(
        db,
        "authenticator",
        [
            "-c",
            str(args.hot_clients),
            "-j",
            "2",
            "-t",
            str(per_client),
            "-n",
            "-f",
            str(hot_script),
        ],
        "hot",
    )
    elapsed = time.perf_counter() - started
    with b.admin(db) as conn:
        proof = conn.execute(
            f"select (select count(*) from public.analyses where user_id = {hot}) as successes,"
            f" (select credits_remaining from public.users where id = {hot}) as final_balance,"
            f" (select min(balance_after) from public.credits_transactions where user_id = {hot})"
            " as lowest_ledger_balance,"
            " (select count(*) from private.ledger_mismatches()) as ledger_mismatches"
        ).fetchone()
    assert proof is not None
    successes, final_balance, lowest, mismatches = proof
    result_b = {
        "clients": args.hot_clients,
        "attempts": per_client * args.hot_clients,
        "balance_allows": k,
        "successes": successes,
        "final_balance": final_balance,
        "lowest_ledger_balance": lowest,
        "ledger_mismatches": mismatches,
        "tps": hot_run["tps"],
        "successful_actions_per_s": successes / elapsed,
        "p50_ms": _pct(hot_run["latencies_ms"], 50),
        "p99_ms": _pct(hot_run["latencies_ms"], 99),
        "no_overdraft": successes == k and final_balance == 0 and lowest >= 0 and mismatches == 0,
    }
    for r in rounds:
        for kind in ("tpcb", "rpc"):
            del r[kind]["latencies_ms"], r[kind]["stdout"]
    return {"a": result_a, "b": result_b}


def bench_reset(b: Bench, args: argparse.Namespace) -> dict[str, Any]:
    tpl = b.new_database("reset_tpl")
    with b.admin(tpl) as conn:
        seed_users(conn, args.reset_users, days_behind=1, purchased=50)
        day = conn.execute("select private.credit_day(now())").fetchone()[0]  # type: ignore[index]
        batch = conn.execute("select private.setting('reset_batch_size') #>> '{}'").fetchone()[0]  # type: ignore[index]
    runs: list[dict[str, Any]] = []
    for r in range(args.reset_rounds):
        for kind in ("bare", "batched") if r % 2 == 0 else ("batched", "bare"):
            name = f"reset_{kind}_{r}"
            b.pg.create_database(name, template=tpl)
            with b.admin(name) as conn:
                conn.execute("checkpoint")
            batches: list[float] = []
            with psycopg.connect(b.pg.dsn("postgres", name), autocommit=True) as conn:
                conn.execute("set client_min_messages = log")
                conn.add_notice_handler(partial(_collect_batch_ms, batches))
                started = time.perf_counter()
                if kind == "bare":
                    n = conn.execute(BARE_RESET, {"day": day}).fetchone()[0]  # type: ignore[index]
                else:
                    # the pg_cron job's own command; it reports its batches as it goes
                    job = conn.execute(
                        "select command from private.cron_jobs(15)"
                        " where jobname = 'flirt_daily_reset'"
                    ).fetchone()
                    conn.execute(job[0])  # type: ignore[index]
                    n = len(batches) and sum_reset_rows(conn, day)
                seconds = time.perf_counter() - started
                check = conn.execute(
                    "select (select count(*) from public.users where daily_reset_on < %(d)s),"
                    " (select count(*) from public.credits_transactions"
                    "   where kind = 'daily_reset'),"
                    " (select sum(daily_delta) from public.credits_transactions"
                    "   where kind = 'daily_reset')",
                    {"d": day},
                ).fetchone()
            b.pg.drop_database(name)
            runs.append(
                {
                    "kind": kind,
                    "round": r,
                    "seconds": seconds,
                    "users_reset": n,
                    "still_due": check[0],
                    "ledger_rows": check[1],  # type: ignore[index]
                    "daily_delta_sum": check[2],
                    "batches": len(batches),  # type: ignore[index]
                    "max_batch_ms": max(batches) if batches else None,
                    "p50_batch_ms": statistics.median(batches) if batches else None,
                }
            )
            print(f"  reset {kind}: {seconds:.1f} s")
    bare = statistics.median(x["seconds"] for x in runs if x["kind"] == "bare")
    batched = statistics.median(x["seconds"] for x in runs if x["kind"] == "batched")
    same = len({(x["users_reset"], x["ledger_rows"], x["daily_delta_sum"]) for x in runs}) == 1
    # each round runs both sides back to back: its ratio is the least disturbed by other load
    ratios = [
        next(x["seconds"] for x in runs if x["round"] == r and x["kind"] == "batched")
        / next(x["seconds"] for x in runs if x["round"] == r and x["kind"] == "bare")
        for r in range(args.reset_rounds)
    ]
    return {
        "users": args.reset_users,
        "batch_size": int(batch),
        "bare_seconds": bare,
        "batched_seconds": batched,
        "ratio": statistics.median(ratios),
        "ratio_rounds": [round(x, 3) for x in ratios],
        "goal": "<= 1.3",
        "max_batch_ms": max(x["max_batch_ms"] for x in runs if x["kind"] == "batched"),
        "max_batch_ms_rounds": [x["max_batch_ms"] for x in runs if x["kind"] == "batched"],
        "same_result": same,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--reset-users", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--hot-clients", type=int, default=16)
    parser.add_argument("--hot-actions", type=int, default=3000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10, help="seconds per side, not counted")
    parser.add_argument("--reset-rounds", type=int, default=3)
    parser.add_argument("--fast", action="store_true", help="fsync off (default: durable)")
    parser.add_argument("--skip-reset", action="store_true", help="skip (c)")
    parser.add_argument("--skip-actions", action="store_true", help="skip (a) and (b)")
    parser.add_argument(
        "--scale",
        type=int,
        default=10,
        help="pgbench scale of the tpcb-like anchor (branches; at least --clients)",
    )
    parser.add_argument(
        "--profile-seconds",
        type=int,
        default=10,
        help="per side, for the statement profile (0: none)",
    )
    parser.add_argument(
        "--breakdown-seconds", type=int, default=10, help="per step of the (a) breakdown (0: none)"
    )
    parser.add_argument(
        "--perf-seconds",
        type=int,
        default=5,
        help="perf samples PostgreSQL during perform_action for a CPU profile (0: none)",
    )
    markdown_option(parser)
    args = parser.parse_args()
    if args.markdown:
        print_saved(args.markdown, render)
        return
    if args.scale < args.clients:
        parser.error(
            f"--scale {args.scale} is below --clients {args.clients}: the anchor's clients"
            " would queue on the same pgbench_branches rows"
        )

    devstack.ensure_packages()
    base = Path(tempfile.mkdtemp(prefix="flirt-bench-"))
    os.chmod(base, 0o755)
    b = Bench(base, args.fast)
    report: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "note": "shared machine: other workloads ran at the same time",
        },
        "cluster": "Cluster(fast=True): fsync/synchronous_commit off"
        if args.fast
        else "Cluster(fast=False): durable (fsync on, synchronous_commit on)",
    }
    try:
        b.start()
        with b.admin("postgres") as conn:
            report["postgres"] = conn.execute("select version()").fetchone()[0]  # type: ignore[index]
        print(f"cluster: {report['cluster']}")
        if not args.skip_actions:
            print("(a)+(b) perform_action vs pgbench tpcb-like …")
            report.update(bench_actions(b, args))
        if not args.skip_reset:
            print("(c) daily reset …")
            report["c"] = bench_reset(b, args)
    finally:
        b.pg.destroy()
        shutil.rmtree(base, ignore_errors=True)

    save_and_print("credits", report, render)


def render(report: dict[str, Any]) -> str:
    """The tables of a report (printed after a run, or from its JSON by --markdown)."""
    rows: list[tuple[str, ...]] = []
    out = [
        f"{report['cluster']}; {report['postgres'].split(' on ')[0]};"
        f" {report['machine']['cpus']} CPUs (shared)",
        "",
    ]
    if "a" in report:
        a, hb = report["a"], report["b"]
        t, p = a["tpcb_like"], a["perform_action"]
        rows += [
            (
                f"(a) pgbench tpcb-like, scale {a['scale']}, {a['clients']} clients (anchor)",
                f"{t['tps_median']:.0f} tps",
                f"p50 {t['p50_ms']:.2f} ms / p99 {t['p99_ms']:.2f} ms;"
                f" {t['server_cpu_us_per_tx']:.0f} µs CPU,"
                f" {t['wal_bytes_per_tx']:.0f} B WAL per tx",
                "",
            ),
            (
                f"(a) `perform_action` via the PostgREST call path, {a['users']:,} users,"
                f" {a['clients']} clients",
                f"{p['tps_median']:.0f} tps",
                f"p50 {p['p50_ms']:.2f} ms / p99 {p['p99_ms']:.2f} ms;"
                f" {p['server_cpu_us_per_tx']:.0f} µs CPU,"
                f" {p['wal_bytes_per_tx']:.0f} B WAL per tx",
                f"{a['ratio']:.2f}x (goal ≥ 1.0; rounds"
                f" {', '.join(f'{x:.2f}' for x in a['ratio_rounds'])})",
            ),
            (
                f"(b) one hot user, {hb['clients']} clients",
                f"{hb['tps']:.0f} tps",
                f"{hb['successes']}/{hb['balance_allows']} charged, final {hb['final_balance']},"
                f" lowest ledger balance {hb['lowest_ledger_balance']}",
                "no overdraft" if hb["no_overdraft"] else "OVERDRAFT",
            ),
        ]
    if "c" in report:
        c = report["c"]
        rows += [
            (
                f"(c) bare reset, {c['users']:,} users, one statement (anchor)",
                f"{c['bare_seconds']:.1f} s",
                "",
                "",
            ),
            (
                f"(c) `flirt_daily_reset` job, batches of {c['batch_size']}",
                f"{c['batched_seconds']:.1f} s",
                f"max batch {c['max_batch_ms']:.0f} ms incl. commit (rounds"
                f" {', '.join(f'{x:.0f}' for x in c['max_batch_ms_rounds'])} ms)",
                f"{c['ratio']:.2f}x (goal ≤ 1.3; rounds"
                f" {', '.join(f'{x:.2f}' for x in c['ratio_rounds'])})",
            ),
        ]
    out.append(table(("measurement", "result", "detail", "vs anchor"), rows))
    if report.get("a", {}).get("breakdown"):
        a = report["a"]
        out += [
            "",
            f"Breakdown: the same call path and {a['clients']} clients, stand-ins doing only"
            f" the first steps of perform_action's work ({a['breakdown_seconds']} s each,"
            " against the anchor's median):",
            "",
            table(
                ("stand-in", "tps", "µs CPU per tx", "B WAL per tx", "vs anchor"),
                [
                    (
                        st["step"],
                        f"{st['tps']:.0f}",
                        f"{st['server_cpu_us_per_tx']:.0f}",
                        f"{st['wal_bytes_per_tx']:.0f}",
                        f"{st['ratio']:.2f}x",
                    )
                    for st in a["breakdown"]
                ]
                + [
                    (
                        "`perform_action` (all checks, both buckets, the wake-up)",
                        f"{a['perform_action']['tps_median']:.0f}",
                        f"{a['perform_action']['server_cpu_us_per_tx']:.0f}",
                        f"{a['perform_action']['wal_bytes_per_tx']:.0f}",
                        f"{a['ratio']:.2f}x",
                    )
                ],
            ),
        ]
    cpu = report.get("a", {}).get("cpu_profile", {})
    if cpu.get("buckets"):
        out += [
            "",
            f"CPU profile of `perform_action` ({cpu['command']}, {cpu['seconds']} s,"
            f" {cpu['samples']} samples of PostgreSQL's processes; {cpu['tps']:.0f} tps and"
            f" {cpu['server_cpu_us_per_tx']:.0f} µs CPU per transaction while sampled; a sample"
            " counts for the first line, from the top of this list in benchlib.CPU_BUCKETS,"
            " whose work is on its call stack):",
            "",
            cpu_buckets_table(cpu, cpu["server_cpu_us_per_tx"]),
        ]
    for side, prof in report.get("a", {}).get("profile", {}).items():
        out += [
            "",
            f"Profile of {side} ({prof['tps']:.0f} tps while profiled,"
            f" {prof['server_cpu_us_per_tx']:.0f} µs CPU and {prof['wal_bytes_per_tx']:.0f} B WAL"
            " per transaction; a function's line includes the statements it runs):",
            "",
            statements_table(prof["statements"]),
        ]
        if prof.get("functions"):
            out += [
                "",
                f"Functions of {side} (pg_stat_user_functions in the same run; self time"
                " leaves out the functions a function calls, not its statements):",
                "",
                functions_table(prof["functions"]),
            ]
        out += [
            "",
            f"WAL of {side} by relation (pg_waldump, per transaction):",
            "",
            table(
                ("relation", "records", "bytes", "of which full-page images"),
                [
                    (w["relation"], w["records_per_tx"], w["bytes_per_tx"], w["fpi_bytes_per_tx"])
                    for w in prof.get("wal_by_relation", [])
                ],
            ),
        ]
    return "\n".join(out)


if __name__ == "__main__":
    main()
