"""Webhook benchmark (run by hand, not CI).

Usage: .venv/bin/python bench/bench_webhooks.py [--seconds 15] [--connections 50]
       [--rounds 5] [--users 1000] [--threads 1] [--http httptools|h11] [--fast]
       [--profile-seconds 10] [--perf-seconds 5]
       .venv/bin/python bench/bench_webhooks.py --markdown bench/results/webhooks-….json
Needs wrk (apt-get install wrk).

Starts its own throwaway PostgreSQL cluster (loopback, free port; durable
settings unless --fast), migrates it, signs up users and gives them a history
of past purchases (--history), then serves two apps with the same uvicorn
configuration (1 worker and httptools, as `flirt-admin api run` has them; no
access log and only warnings logged, where the CLI logs a line per event) and
drives each with the same closed-loop load from wrk: C keep-alive HTTP/1.1
connections, each sending signed, unique
`payment_intent.succeeded` events (one credit pack each, spread over the
users; signed up front, bench/wrk_events.lua) as fast as answers come back.
wrk, written in C, leaves the two cores to the servers.

The database is brought to the state of a service that has been running:
its WAL segments are ready for reuse (a new cluster zero-fills each one inside
a commit) and it is vacuumed before each api run (autovacuum, which looks
every minute, would vacuum tables that grow from nothing each time they grew
by a fifth; tables with a history are not due within a run).

- api:    pyworker.api (`POST /api/webhook/stripe`: verify the signature,
          record and apply the event, grant the pack, in one SQL call)
- anchor: a bare FastAPI endpoint returning {} (bench/bare_app.py; with the
          API's app-wide setting of no OpenTelemetry lookups)

Each round runs the anchor, then the api. Reports events/s, p50/p99 latency
and the CPU per request of the server, PostgreSQL and wrk; the ratio
api/anchor is taken per round and its median reported (goal >= 0.4), and the
p99 goal (< 50 ms) must hold in every round. Afterwards it checks that every
event was applied exactly once and the ledger invariant holds.
The signed events are unique and held in memory; their number follows the
rate measured in each warm-up (twice what the run needs at that rate), and a
run that still runs out of events is repeated with twice as many, so the
pool never caps a fast machine.
After the rounds, untimed: a profile run (--profile-seconds) with every statement
(pg_stat_statements, nested ones too) and every function call
(pg_stat_user_functions) counted, and a run sampled by perf on every CPU
(--perf-seconds; skipped when perf cannot sample), whose PostgreSQL samples are
sorted by the work on their call stack (benchlib.CPU_BUCKETS).
Writes JSON to bench/results/webhooks-<timestamp>.json and prints its tables
from that JSON (`--markdown FILE` prints them again).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import stripe
from benchlib import (
    PERF_RECORD,
    STATS_FLUSH_SECONDS,
    cluster_cpu_seconds,
    cpu_buckets,
    cpu_buckets_table,
    cpu_seconds,
    free_port,
    function_counters,
    functions_table,
    machine_ticks,
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
from pyworker.settings import ROOT, load_config

RESULTS = Path(__file__).parent / "results"
SECRET = "whsec_bench_secret"
PATH = "/api/webhook/stripe"
WRK_SCRIPT = Path(__file__).parent / "wrk_events.lua"
UVICORN = ["--host", "127.0.0.1", "--workers", "1", "--no-access-log", "--log-level", "warning"]


def user_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012x}"


def signed_line(users: int, seq: int, run: str) -> str:
    """One unique Stripe event, signed now: "<Stripe-Signature>\\t<body>" (wrk_events.lua)."""
    pid = f"pi_bench_{run}_{seq}"
    event = {
        "id": f"evt_bench_{run}_{seq}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": int(time.time()),
        "type": "payment_intent.succeeded",
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {
            "object": {
                "id": pid,
                "object": "payment_intent",
                "amount": 499,
                "amount_received": 499,
                "currency": "usd",
                "customer": f"cus_bench_{seq % users}",
                "latest_charge": f"ch_bench_{run}_{seq}",
                "metadata": {"user_id": user_id(seq % users + 1), "pack_id": "small"},
                "status": "succeeded",
            }
        },
    }
    body = json.dumps(event)  # one line: json escapes tabs and newlines
    return f"{stripe.WebhookSignature.generate_signature_header(body, SECRET)}\t{body}\n"


def write_events(path: Path, users: int, count: int, run: str) -> Path:
    with path.open("w") as out:
        out.writelines(signed_line(users, i, run) for i in range(count))
    return path


def drive(
    port: int, events: Path, connections: int, seconds: float, threads: int
) -> dict[str, Any]:
    """Closed-loop load from wrk: `connections` keep-alive connections, each sending
    the next event as soon as the answer to the last one is in."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [
            "wrk",
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={max(1, round(seconds))}s",
            "--timeout=10s",
            f"--script={WRK_SCRIPT}",
            f"http://127.0.0.1:{port}{PATH}",
        ],
        env={**os.environ, "WRK_EVENTS": str(events), "WRK_THREADS": str(threads)},
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    requests = out["requests"]
    elapsed = out["duration_us"] / 1e6
    return {
        "requests": requests,
        "seconds": round(elapsed, 2),
        "per_second": round(requests / elapsed, 1),
        "p50_ms": round(out["p50_us"] / 1000, 2),
        "p99_ms": round(out["p99_us"] / 1000, 2),
        "max_ms": round(out["max_us"] / 1000, 2),
        "ran_out": out["ran_out"],
        "status": {"2xx": requests - out["non_2xx"], "other": out["non_2xx"]},
        "socket_errors": out["socket_errors"] + out["timeouts"],
        "client_cpu_ms": round(
            (after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime)
            * 1000
            / max(requests, 1),
            3,
        ),
    }


def preallocate_wal(dsn: str, megabytes: int) -> None:
    """Leave WAL segments ready for reuse, as a server that has been running has them.

    A new cluster creates each 16 MB segment when it first needs it, filling it
    with zeros inside whichever commit crosses into it: tens of milliseconds
    that a long-running server, which recycles its segments, never pays. The
    runs write about 2.6 kB of WAL per event.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "select count(pg_logical_emit_message(false, 'bench', repeat('x', 1048576)))"
            " from generate_series(1, %s)",
            [megabytes],
        )
        conn.execute("checkpoint")


# Past pack purchases, as the webhook records them: a payment, a ledger row and the
# event (same shape as signed_line), and the balances that follow.
SEED_HISTORY = """
with hist as materialized (
  select g, 'pi_hist_' || g as pi,
         ('00000000-0000-4000-8000-' || lpad(to_hex(g %% %(users)s + 1), 12, '0'))::uuid as user_id
    from generate_series(1, %(events)s) g
), pay as (
  insert into public.payments
    (stripe_payment_intent_id, stripe_charge_id, user_id, pack_id, amount_cents, currency,
     credits_granted)
  select pi, 'ch_hist_' || g, user_id, 'small', 499, 'usd', 100 from hist
), ledger as (
  insert into public.credits_transactions
    (user_id, purchased_delta, kind, balance_after, reference, idempotency_key, metadata)
  select h.user_id, 100, 'purchase',
         u.credits_remaining + 100 * row_number() over (partition by h.user_id order by h.g),
         h.pi, 'purchase:' || h.pi,
         jsonb_build_object('pack_id', 'small', 'credits', 100, 'bonus_credits', 0,
                            'source', 'payment_intent', 'checkout_session_id', null)
    from hist h join public.users u on u.id = h.user_id
   order by h.g
), events as (
  insert into public.stripe_webhook_events
    (id, type, stripe_created, payload, status, outcome, processed_at)
  select 'evt_hist_' || g, 'payment_intent.succeeded', now(), jsonb_build_object(
           'id', 'evt_hist_' || g, 'object', 'event', 'api_version', '2025-03-31.basil',
           'created', extract(epoch from now())::bigint, 'type', 'payment_intent.succeeded',
           'livemode', false, 'pending_webhooks', 1,
           'request', jsonb_build_object('id', null, 'idempotency_key', null),
           'data', jsonb_build_object('object', jsonb_build_object(
             'id', pi, 'object', 'payment_intent', 'amount', 499, 'amount_received', 499,
             'currency', 'usd', 'customer', 'cus_bench_' || g %% %(users)s,
             'latest_charge', 'ch_hist_' || g,
             'metadata', jsonb_build_object('user_id', user_id, 'pack_id', 'small'),
             'status', 'succeeded'))),
         'processed', 'granted 100 credits (pack small) for ' || pi, now()
    from hist
)
update public.users u set purchased_credits = u.purchased_credits + 100 * c.n
  from (select user_id, count(*) as n from hist group by user_id) c
 where u.id = c.user_id
"""


def vacuum(dsn: str) -> None:
    """Vacuum and analyze now, so that autovacuum does not start inside a run."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("vacuum (analyze)")


def serve(
    args: list[str], env: dict[str, str], port: int, log: Path, http: str
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *args, *UVICORN, "--http", http, "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
    raise SystemExit("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--history", type=int, default=500_000, help="past purchases in the tables at start"
    )
    parser.add_argument(
        "--http",
        choices=["h11", "httptools"],
        default="httptools",
        help="uvicorn --http (httptools: as `flirt-admin api run`)",
    )
    parser.add_argument("--fast", action="store_true", help="fsync/synchronous_commit off")
    parser.add_argument(
        "--perf-seconds",
        type=float,
        default=5,
        help="an untimed api run sampled by perf for a CPU profile by kind of work (0: none)",
    )
    parser.add_argument(
        "--profile-seconds",
        type=float,
        default=10,
        help="an untimed api run with every statement counted, after the rounds (0: none)",
    )
    markdown_option(parser)
    args = parser.parse_args()
    if args.markdown:
        print_saved(args.markdown, render)
        return
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")

    cfg = load_config()
    base = Path(tempfile.mkdtemp(prefix="flirt-bench-webhooks-"))
    os.chmod(base, 0o755)
    shm = Path(tempfile.mkdtemp(prefix="flirt-bench-events-", dir="/dev/shm"))
    pg = devstack.Cluster(base / "data", free_port(), cron_database="bench_cron", fast=args.fast)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        pg.init()
        with (pg.data_dir / "postgresql.auto.conf").open("a") as conf:
            # keep the WAL segments filled below for reuse; no checkpoint forced by volume
            conf.write("min_wal_size = '2GB'\nmax_wal_size = '4GB'\n")
            # loaded but idle while timed; the profile after the rounds switches it on
            conf.write(
                "shared_preload_libraries = 'pg_cron,pg_stat_statements'\n"
                "pg_stat_statements.track = 'none'\npg_stat_statements.max = 1000\n"
            )
        pg.start()
        pg.wait_ready()
        pg.bootstrap_roles()
        pg.create_database("bench")
        pg.bootstrap_database("bench", pgtap=False)
        dsn = pg.dsn("postgres", "bench")
        migrate(dsn, cfg)
        with psycopg.connect(pg.dsn("supabase_auth_admin", "bench"), autocommit=True) as conn:
            conn.execute(
                "insert into auth.users (id, email) select"
                " ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid,"
                " 'bench' || n || '@example.test' from generate_series(1, %s) n",
                [args.users],
            )
        # A running service has history: tables of this size are not autovacuumed
        # within a run after vacuum() (they would be every few seconds if they grew
        # from nothing), and their indexes are of a realistic depth.
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SEED_HISTORY, {"users": args.users, "events": args.history})
        superuser = pg.dsn(devstack.SUPERUSER, "bench")
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute("create schema bench")
            conn.execute("create extension pg_stat_statements schema bench")
        # the one-time work of a new history (hint bits, visibility map, its WAL and
        # dirty pages) is done and on disk before the first run
        vacuum(superuser)
        preallocate_wal(superuser, megabytes=1536)
        os.sync()
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "SUPABASE_JWT_SECRET": "bench-secret-bench-secret-bench-secret",
        }
        api_port, bare_port = free_port(), free_port()
        log = base / "servers.log"
        api_app = ["--factory", "pyworker.api.app:create_app"]
        procs.append(serve(api_app, env, api_port, log, args.http))
        procs.append(serve(["bench.bare_app:app"], env, bare_port, log, args.http))

        # Events are unique and signed up front (in memory: writing them back to disk
        # would compete with PostgreSQL's fsyncs), so the pool is sized from the rate
        # this machine reaches: each warm-up measures it (with a bigger pool again if
        # even the warm-up ran out), the run gets twice what that rate needs, and a
        # run that still runs out is repeated with a pool twice as big.
        guess = 12000.0  # events/s, first guess only
        rounds: list[dict[str, Any]] = []
        warmed_up = 0  # warm-up events the api answered (and applied)
        refills = 0
        api_drives = 0  # wrk runs against the api: each may stop with requests in flight
        for r in range(args.rounds):
            for name, port in (("anchor", bare_port), ("api", api_port)):
                run = f"{r}{name[0]}{uuid.uuid4().hex[:6]}"
                while True:
                    warm = write_events(shm / "warm.tsv", args.users, int(2 * guess), run + "w")
                    warm_up = drive(port, warm, args.connections, 2, args.threads)
                    if name == "api":
                        api_drives += 1
                        warmed_up += warm_up["status"]["2xx"]
                    if not warm_up["ran_out"]:
                        break
                    guess *= 3
                    run += "x"
                rate = max(warm_up["per_second"], 1.0)
                pool = int(2 * rate * args.seconds) + 10 * args.connections
                while True:
                    events = write_events(shm / "events.tsv", args.users, pool, run)
                    if name == "api":
                        vacuum(superuser)
                    pid = procs[0 if name == "api" else 1].pid
                    before = (cpu_seconds(pid), cluster_cpu_seconds(pg.data_dir))
                    ticks = machine_ticks()
                    result = drive(port, events, args.connections, args.seconds, args.threads)
                    after = (cpu_seconds(pid), cluster_cpu_seconds(pg.data_dir))
                    if name == "api":
                        api_drives += 1
                    if not result["ran_out"]:
                        break
                    if name == "api":  # applied, but not part of a counted run
                        warmed_up += result["status"]["2xx"]
                    print(f"  {name}: {pool} events ran out within the run; again with more")
                    refills += 1
                    pool *= 2
                    run += "r"
                result["pool"] = pool
                steal, total = (b - a for a, b in zip(ticks, machine_ticks(), strict=True))
                result["steal_pct"] = round(100 * steal / max(total, 1), 1)
                # CPU per answered request of the server and PostgreSQL (wrk's is in
                # client_cpu_ms): where the time goes on a machine they share
                for key, b, a in zip(("server", "postgres"), before, after, strict=True):
                    result[f"{key}_cpu_ms"] = round((a - b) * 1000 / max(result["requests"], 1), 3)
                rounds.append({"round": r + 1, "target": name, **result})
                print(
                    f"round {r + 1} {name:6} {result['per_second']:>8} ev/s "
                    f"p50 {result['p50_ms']} ms p99 {result['p99_ms']} ms; CPU ms/req: "
                    f"server {result['server_cpu_ms']} postgres {result['postgres_cpu_ms']} "
                    f"wrk {result['client_cpu_ms']}; steal {result['steal_pct']} %; "
                    f"{result['status']}"
                )

        profile: dict[str, Any] = {}
        cpu_profile: dict[str, Any] = {}
        if args.profile_seconds:
            # not timed: where PostgreSQL's time per event goes, statement by statement
            connect = partial(psycopg.connect, superuser, autocommit=True)
            events = write_events(shm / "events.tsv", args.users, pool, f"p{uuid.uuid4().hex[:6]}")
            vacuum(superuser)
            with tracking_all_statements(connect):
                with psycopg.connect(superuser, dbname="bench", autocommit=True) as conn:
                    before = function_counters(conn)
                before_cpu = cluster_cpu_seconds(pg.data_dir)
                result = drive(api_port, events, args.connections, args.profile_seconds, 1)
                cpu = cluster_cpu_seconds(pg.data_dir) - before_cpu
                time.sleep(STATS_FLUSH_SECONDS)
                with psycopg.connect(superuser, dbname="bench", autocommit=True) as conn:
                    functions = read_functions(before, function_counters(conn), result["requests"])
            api_drives += 1
            warmed_up += result["status"]["2xx"]
            with connect() as conn:
                profile = {
                    "events": result["requests"],
                    "per_second": result["per_second"],
                    "postgres_cpu_us_per_event": round(cpu * 1e6 / max(result["requests"], 1)),
                    "statements": read_statements(
                        conn, "bench", result["requests"] // 20, result["requests"]
                    ),
                    "functions": functions,
                }
        if args.perf_seconds and perf_usable():
            # not timed: where PostgreSQL's CPU goes, by kind of work (perf, every CPU)
            events = write_events(shm / "events.tsv", args.users, pool, f"f{uuid.uuid4().hex[:6]}")
            vacuum(superuser)
            margin = 3
            loads: list[dict[str, Any]] = []
            load = threading.Thread(
                target=lambda: loads.append(
                    drive(api_port, events, args.connections, args.perf_seconds + 2 * margin, 1)
                )
            )
            before_cpu = cluster_cpu_seconds(pg.data_dir)
            load.start()
            time.sleep(margin)
            perf_record(args.perf_seconds, base / "perf.data")
            load.join()
            cpu = cluster_cpu_seconds(pg.data_dir) - before_cpu
            api_drives += 1
            warmed_up += loads[0]["status"]["2xx"]
            cpu_profile = {
                "seconds": args.perf_seconds,
                "command": " ".join(PERF_RECORD),
                "per_second": loads[0]["per_second"],
                "postgres_cpu_us_per_event": round(cpu * 1e6 / max(loads[0]["requests"], 1)),
                **cpu_buckets(base / "perf.data"),
            }

        with psycopg.connect(dsn) as conn:
            counts = conn.execute(
                "select (select count(*) from stripe_webhook_events where status = 'processed'),"
                " (select count(*) from credits_transactions where kind = 'purchase'),"
                " (select count(*) from payments),"
                " (select count(*) from private.ledger_mismatches())"
            ).fetchone()
            assert counts is not None
            applied, grants, payments, mismatches = counts
        answered = warmed_up + sum(r["status"]["2xx"] for r in rounds if r["target"] == "api")
        # wrk stops with up to one request a connection in flight: applied, never answered
        in_flight = args.connections * api_drives
        applied, grants, payments = (n - args.history for n in (applied, grants, payments))
        exactly_once = applied == grants == payments and answered <= applied <= answered + in_flight
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=15)
        pg.destroy()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)

    # Each round pairs an anchor run with the api run right after it: the ratio
    # is taken per round and its median reported, so a noisy neighbour during
    # one run does not decide the result.
    pairs = [
        (
            next(x for x in rounds if x["round"] == n and x["target"] == "anchor"),
            next(x for x in rounds if x["round"] == n and x["target"] == "api"),
        )
        for n in range(1, args.rounds + 1)
    ]
    ratios = sorted(api["per_second"] / anchor["per_second"] for anchor, api in pairs)
    ratio = round(statistics.median(ratios), 3)
    anchor, api = sorted(pairs, key=lambda p: p[1]["per_second"] / p[0]["per_second"])[
        (len(pairs) - 1) // 2
    ]
    summary = {
        "ratio_median": ratio,
        "ratios": [round(r, 3) for r in ratios],
        "api_per_second": api["per_second"],
        "anchor_per_second": anchor["per_second"],
        "api_p50_ms": api["p50_ms"],
        "api_p99_ms": api["p99_ms"],
        "anchor_p99_ms": anchor["p99_ms"],
        "api_server_cpu_ms": api["server_cpu_ms"],
        "anchor_server_cpu_ms": anchor["server_cpu_ms"],
        "api_postgres_cpu_ms": api["postgres_cpu_ms"],
        "api_client_cpu_ms": api["client_cpu_ms"],
        "anchor_client_cpu_ms": anchor["client_cpu_ms"],
        "api_p99_ms_per_round": [p[1]["p99_ms"] for p in pairs],
        "goal_ratio_met": ratio >= 0.4,
        "goal_p99_met": all(p[1]["p99_ms"] < 50 for p in pairs),
        "events_answered_200": answered,
        "events_applied": applied,
        "purchase_grants": grants,
        "payments": payments,
        "applied_exactly_once": exactly_once,
        "ledger_mismatches": mismatches,
    }
    report = {
        "benchmark": "webhooks",
        "started_at": started_at,
        "settings": vars(args) | {"uvicorn": UVICORN, "cpus": os.cpu_count()},
        "host": platform.platform(),
        "refills": refills,
        "summary": summary,
        "rounds": rounds,
        "profile": profile,
        "cpu_profile": cpu_profile,
    }
    save_and_print("webhooks", report, render)
    if not exactly_once or mismatches:
        raise SystemExit("FAILED: events applied other than once, or a ledger mismatch")


def render(report: dict[str, Any]) -> str:
    """The tables of a report (printed after a run, or from its JSON by --markdown)."""
    s, cfg = report["summary"], report["settings"]
    pairs = {(x["round"], x["target"]): x for x in report["rounds"]}  # the median round's two runs
    median = sorted(
        {x["round"] for x in report["rounds"]},
        key=lambda n: pairs[(n, "api")]["per_second"] / pairs[(n, "anchor")]["per_second"],
    )
    mid = median[(len(median) - 1) // 2]
    rows = []
    for label, target in (
        ("bare FastAPI endpoint returning `{}` (anchor)", "anchor"),
        ("`POST /api/webhook/stripe`", "api"),
    ):
        x = pairs[(mid, target)]
        rows.append(
            (
                label,
                f"{x['per_second']:,.0f}",
                x["p50_ms"],
                x["p99_ms"],
                f"{x['server_cpu_ms']} · "
                + (f"{x['postgres_cpu_ms']}" if target == "api" else "-"),
            )
        )
    return "\n".join(
        [
            f"{cfg['rounds']} rounds of {cfg['seconds']:g} s, {cfg['connections']} connections,"
            f" {cfg['cpus']} CPUs, {'fsync off' if cfg['fast'] else 'durable'};"
            f" {report['host']}",
            "",
            table(
                (
                    "target (median round)",
                    "events/s",
                    "p50 ms",
                    "p99 ms",
                    "CPU ms/event: server · PostgreSQL",
                ),
                rows,
            ),
            "",
            f"Ratio {s['ratio_median']} (goal ≥ 0.4; median of rounds"
            f" {', '.join(str(r) for r in s['ratios'])}); api p99 per round"
            f" {', '.join(str(p) for p in s['api_p99_ms_per_round'])} ms (goal < 50 ms,"
            f" {'met' if s['goal_p99_met'] else 'NOT met'});"
            f" {s['events_answered_200']:,} answered events, applied exactly once:"
            f" {s['applied_exactly_once']}; ledger mismatches: {s['ledger_mismatches']}.",
        ]
        + (
            [
                "",
                f"Profile of `POST /api/webhook/stripe` ({prof['per_second']:,.0f} events/s while"
                f" profiled, {prof['postgres_cpu_us_per_event']} µs PostgreSQL CPU per event;"
                " statements inside the batch call, which runs once per batch of events and"
                " is left out; a function's line includes the statements it runs):",
                "",
                statements_table(prof["statements"], "event"),
            ]
            + (
                [
                    "",
                    "Functions (pg_stat_user_functions in the same run; self time leaves out"
                    " the functions a function calls, not its statements):",
                    "",
                    functions_table(prof["functions"], "event"),
                ]
                if prof.get("functions")
                else []
            )
            if (prof := report.get("profile"))
            else []
        )
        + (
            [
                "",
                "CPU profile of `POST /api/webhook/stripe`"
                f" ({cpu['command']}, {cpu['seconds']:g} s,"
                f" {cpu['samples']} samples of PostgreSQL's processes;"
                f" {cpu['per_second']:,.0f} events/s and {cpu['postgres_cpu_us_per_event']} µs"
                " PostgreSQL CPU per event while sampled; a sample counts for the first line,"
                " from the top of benchlib.CPU_BUCKETS, whose work is on its call stack):",
                "",
                cpu_buckets_table(cpu, cpu["postgres_cpu_us_per_event"], "event"),
            ]
            if (cpu := report.get("cpu_profile", {})).get("buckets")
            else []
        )
    )


if __name__ == "__main__":
    main()
