"""Scale-out soak: PgBouncer, two APIs and three workers on one database, with faults.

    .venv/bin/python bench/soak.py [--minutes 10] [--users 2000] [--action-rate 40] ...
    .venv/bin/python bench/soak.py --markdown bench/results/soak-….json

A throwaway cluster (durable settings) gets PgBouncer in transaction mode in
front; the APIs and workers have DATABASE_URL on the pooler and DIRECT_URL on
the cluster, as in production on Supabase. For the set time a mixed load runs:

  perform_action  through the PostgREST call path (authenticator, `set local role
                  authenticated`, the JWT claims, one transaction), through the
                  pooler; a failed call is retried with the same idempotency key;
  webhook         signed `payment_intent.succeeded` events and partial
                  `charge.refunded` events, each delivered 1-3 times to either API,
                  in shuffled order (a refund may come before its payment: the API
                  answers 500 and it is delivered again later, as Stripe does);
  history         get_history and get_analysis as the user;
  admin           admin_list_users and admin_get_metrics as service_role;

while a worker is killed with SIGKILL every minute and started again, and the
database is restarted once, halfway. Then the checks: the ledger invariant,
every Stripe event recorded and applied once (one grant per payment, one
clawback per refund), every analysis charged once and finished, each within
its lease (after a kill it waits for the lease to expire, once per attempt).
Prints a table, writes JSON to bench/results/, exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import stripe

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyworker import devstack  # noqa: E402
from pyworker.db import SERVICE_ROLE, ApiError, api_connect, call_json, connect, user_rpc  # noqa: E402
from pyworker.migrate import migrate  # noqa: E402
from pyworker.pgbouncer import PgBouncer  # noqa: E402
from pyworker.settings import load_config  # noqa: E402
from tests.py.fakes.worker_process import write_config  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DB = "soak"
SECRET = "whsec_soak_secret"
PACK, PACK_CENTS, PACK_CREDITS = "small", 499, 100
REFUND_CENTS, REFUND_CREDITS = 250, 51  # ceil(100 * 250 / 499)
LEASE_SECONDS = 30
WORKER = {
    "concurrency": 16,
    "batch_size": 10,
    "lease_seconds": LEASE_SECONDS,
    "heartbeat_seconds": 5,
    "poll_seconds": 2,
    "shutdown_grace_seconds": 5,
}
OPS = ("perform_action", "webhook", "history", "admin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def user_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012x}"


@dataclass
class Stats:
    """Latencies of successful calls and error counts, per operation (thread-safe)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, op: str, seconds: float) -> None:
        with self.lock:
            self.latencies[op].append(seconds)

    def error(self, op: str, kind: str) -> None:
        with self.lock:
            self.errors[op][kind] += 1


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return exc.code
    if isinstance(exc, psycopg.Error):
        return type(exc).__name__
    if isinstance(exc, httpx.HTTPError):
        return type(exc).__name__
    return type(exc).__name__


class Load:
    """The load threads; each runs one operation at its own pace until `stop`."""

    def __init__(self, dsn: str, api_urls: list[str], users: int, stats: Stats) -> None:
        self.dsn = dsn
        self.api_urls = api_urls
        self.users = users
        self.stats = stats
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.analyses: dict[str, str] = {}  # idempotency key -> analysis id
        self.unsettled_keys: set[str] = set()  # a key whose call never succeeded
        self.payments: dict[str, str] = {}  # payment intent -> user
        self.refunds: dict[str, str] = {}  # payment intent refunded in part -> user
        self.events: set[str] = set()
        self.undelivered: set[str] = set()

    def paced(self, op: str, rate: float, step: Callable[[random.Random], None]) -> None:
        rng = random.Random()
        interval = 1.0 / rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            next_at += interval
            step(rng)
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            elif delay < -5:
                next_at = time.monotonic()  # far behind (e.g. the database restart): no burst

    # -- perform_action through the PostgREST call path --------------------------------

    def actions(self, rate: float) -> None:
        conn: psycopg.Connection[Any] | None = None

        def step(rng: random.Random) -> None:
            nonlocal conn
            user = user_id(rng.randrange(1, self.users + 1))
            key = uuid.uuid4().hex
            chat = f"them: coffee at {rng.randrange(24)}h?\nme: maybe"
            for attempt in range(20):  # the same key: a retry is never charged twice
                started = time.perf_counter()
                try:
                    if conn is None or conn.closed:
                        conn = api_connect(self.dsn)
                    out = user_rpc(
                        conn,
                        user,
                        "perform_action",
                        action_type="short_chat",
                        input={"chat": chat},
                        idempotency_key=key,
                    )
                except ApiError as exc:
                    self.stats.error("perform_action", exc.code)  # a refusal: not retried
                    return
                except psycopg.Error as exc:
                    self.stats.error("perform_action", error_kind(exc))
                    if conn is not None:
                        conn.close()
                    conn = None
                    with self.lock:
                        self.unsettled_keys.add(key)
                    self.stop.wait(min(0.2 * (attempt + 1), 2))
                    continue
                self.stats.ok("perform_action", time.perf_counter() - started)
                with self.lock:
                    self.analyses[key] = str(out["analysis_id"])
                    self.unsettled_keys.discard(key)
                return

        self.paced("perform_action", rate, step)
        if conn is not None:
            conn.close()

    # -- history reads ------------------------------------------------------------------

    def history(self, rate: float) -> None:
        conn: psycopg.Connection[Any] | None = None

        def step(rng: random.Random) -> None:
            nonlocal conn
            user = user_id(rng.randrange(1, self.users + 1))
            started = time.perf_counter()
            try:
                if conn is None or conn.closed:
                    conn = api_connect(self.dsn)
                page = user_rpc(conn, user, "get_history", page_size=20)
                if page["items"]:
                    first = page["items"][0]["analysis_id"]
                    user_rpc(conn, user, "get_analysis", analysis_id=first)
            except (psycopg.Error, ApiError) as exc:
                self.stats.error("history", error_kind(exc))
                if conn is not None and not isinstance(exc, ApiError):
                    conn.close()
                    conn = None
                return
            self.stats.ok("history", time.perf_counter() - started)

        self.paced("history", rate, step)
        if conn is not None:
            conn.close()

    # -- admin reads, as the CLI makes them ------------------------------------------------

    def admin(self, rate: float) -> None:
        conn: psycopg.Connection[Any] | None = None
        today = time.strftime("%Y-%m-%d", time.gmtime())

        def step(rng: random.Random) -> None:
            nonlocal conn
            started = time.perf_counter()
            try:
                if conn is None or conn.closed:
                    conn = connect(self.dsn, role=SERVICE_ROLE, autocommit=True)
                if rng.random() < 0.5:
                    call_json(
                        conn,
                        "public.admin_list_users",
                        search=f"soak{rng.randrange(1, self.users)}",
                        tier=None,
                        page_size=20,
                        page_offset=0,
                    )
                else:
                    call_json(conn, "public.admin_get_metrics", from_date=today, to_date=today)
            except (psycopg.Error, ApiError) as exc:
                self.stats.error("admin", error_kind(exc))
                if conn is not None and not isinstance(exc, ApiError):
                    conn.close()
                    conn = None
                return
            self.stats.ok("admin", time.perf_counter() - started)

        self.paced("admin", rate, step)
        if conn is not None:
            conn.close()

    # -- signed webhooks: duplicates, reordering, redelivery of failures ----------------

    def webhooks(self, rate: float, seed: int) -> None:
        rng = random.Random(seed)
        client = httpx.Client(timeout=30)
        pending: list[tuple[float, str, str]] = []  # (not before, event id, body)
        seq = 0

        def new_purchase() -> None:
            nonlocal seq
            seq += 1
            n = rng.randrange(1, self.users + 1)
            pid = f"pi_soak_{seed}_{seq}"
            intent = {
                "id": pid,
                "object": "payment_intent",
                "amount": PACK_CENTS,
                "amount_received": PACK_CENTS,
                "currency": "usd",
                "customer": f"cus_soak_{n}",
                "latest_charge": "ch_" + pid.removeprefix("pi_"),
                "metadata": {"user_id": user_id(n), "pack_id": PACK},
                "status": "succeeded",
            }
            events = [event("payment_intent.succeeded", intent, f"evt_pi_{seed}_{seq}")]
            if rng.random() < 0.25:
                charge = {
                    "id": "ch_" + pid.removeprefix("pi_"),
                    "object": "charge",
                    "amount": PACK_CENTS,
                    "amount_captured": PACK_CENTS,
                    "amount_refunded": REFUND_CENTS,
                    "currency": "usd",
                    "payment_intent": pid,
                    "refunded": False,
                    "status": "succeeded",
                    "metadata": dict(intent["metadata"]),  # Stripe copies the intent's
                }
                events.append(event("charge.refunded", charge, f"evt_ch_{seed}_{seq}"))
                self.refunds[pid] = user_id(n)
            self.payments[pid] = user_id(n)
            now = time.monotonic()
            for evt in events:
                body = json.dumps(evt)
                self.events.add(evt["id"])
                self.undelivered.add(evt["id"])
                # 1-3 deliveries, spread over the next seconds in any order
                for _ in range(rng.choice((1, 1, 2, 3))):
                    pending.append((now + rng.uniform(0, 3), evt["id"], body))

        def step(_: random.Random) -> None:
            if rng.random() < 0.6:
                new_purchase()
            now = time.monotonic()
            due = [p for p in pending if p[0] <= now]
            if not due:
                return
            item = rng.choice(due)
            pending.remove(item)
            _, event_id, body = item
            header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
            url = rng.choice(self.api_urls)
            started = time.perf_counter()
            try:
                resp = client.post(
                    url,
                    content=body,
                    headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                )
            except httpx.HTTPError as exc:
                self.stats.error("webhook", error_kind(exc))
                pending.append((time.monotonic() + 1, event_id, body))
                return
            if resp.status_code == 200:
                self.stats.ok("webhook", time.perf_counter() - started)
                self.undelivered.discard(event_id)
            else:  # a refund before its payment, or the database restarting: Stripe retries
                self.stats.error("webhook", f"http_{resp.status_code}")
                pending.append((time.monotonic() + 1, event_id, body))

        self.paced("webhook", rate, step)
        # Stripe keeps retrying: deliver what is still pending (once each is enough now)
        deadline = time.monotonic() + 120
        while self.undelivered & {p[1] for p in pending} and time.monotonic() < deadline:
            _, event_id, body = pending.pop(0)
            if event_id not in self.undelivered:
                continue
            header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
            try:
                resp = client.post(
                    self.api_urls[0],
                    content=body,
                    headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                )
                if resp.status_code == 200:
                    self.undelivered.discard(event_id)
                    continue
            except httpx.HTTPError:
                pass
            pending.append((0, event_id, body))
            time.sleep(0.2)
        client.close()


def event(type_: str, obj: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": int(time.time()),
        "type": type_,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj, "previous_attributes": {}},
    }


# -- processes ---------------------------------------------------------------------------


def start_api(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "pyworker.api.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
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
                raise SystemExit(f"API exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
    raise SystemExit("API did not start")


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pyworker.worker"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -- checks --------------------------------------------------------------------------------


def checks(dsn: str, load: Load) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        out.append({"check": name, "ok": ok, "detail": detail})

    with psycopg.connect(dsn, autocommit=True) as conn:
        mismatches = conn.execute("select count(*) from private.ledger_mismatches()").fetchone()
        check(
            "ledger invariant",
            mismatches == (0,),
            f"{mismatches[0] if mismatches else '?'} mismatches",
        )

        events = sorted(load.events)
        rows = conn.execute(
            "select status, count(*) from public.stripe_webhook_events"
            " where id = any(%s) group by status",
            [events],
        ).fetchall()
        by_status = dict(rows)
        check(
            "every Stripe event recorded and processed",
            by_status.get("processed", 0) == len(events) and not load.undelivered,
            f"{len(events)} sent, {by_status}, {len(load.undelivered)} never answered 200",
        )
        payments = sorted(load.payments)
        grants = conn.execute(
            "select count(*), count(distinct reference), coalesce(sum(purchased_delta), 0)"
            " from public.credits_transactions where kind = 'purchase' and reference = any(%s)",
            [payments],
        ).fetchone()
        assert grants is not None
        check(
            "every payment granted once",
            grants[0] == grants[1] == len(payments) and grants[2] == PACK_CREDITS * len(payments),
            f"{len(payments)} payments, {grants[0]} grants, {grants[2]} credits",
        )
        refunds = sorted(load.refunds)
        clawed = conn.execute(
            "select count(*) filter (where credits_clawed_back = %s), count(*)"
            " from public.payments where stripe_payment_intent_id = any(%s)",
            [REFUND_CREDITS, refunds],
        ).fetchone()
        assert clawed is not None
        check(
            "every refund clawed back once",
            clawed[0] == clawed[1] == len(refunds),
            f"{len(refunds)} refunds, {clawed[0]} payments with {REFUND_CREDITS} clawed back",
        )

        ids = sorted(load.analyses.values())
        unsettled = len(load.unsettled_keys)
        row = conn.execute(
            "select count(*) as n,"
            " count(*) filter (where status = 'done') as done,"
            " count(*) filter (where status = 'failed') as failed,"
            " count(*) filter (where status in ('queued', 'processing')) as open,"
            " count(*) filter (where finished_at - created_at"
            "   > make_interval(secs => attempts * %s + 15)) as late,"
            " max(extract(epoch from finished_at - created_at)) as slowest,"
            " max(attempts) as max_attempts"
            " from public.analyses where id = any(%s::uuid[])",
            [LEASE_SECONDS, ids],
        ).fetchone()
        assert row is not None
        n, done, failed, open_, late, slowest, max_attempts = row
        check(
            "no analysis lost",
            n == len(ids) and unsettled == 0,
            f"{len(ids)} accepted, {n} in the database, {unsettled} calls never answered",
        )
        check(
            "every analysis finished",
            done == n and failed == 0 and open_ == 0,
            f"{done} done, {failed} failed, {open_} still queued or processing",
        )
        check(
            "every analysis finished within its lease",
            late == 0,
            f"{late} later than attempts x {LEASE_SECONDS} s + 15 s;"
            f" slowest {float(slowest or 0):.1f} s, most attempts {max_attempts}",
        )
        charged = conn.execute(
            "select count(*), count(distinct reference) from public.credits_transactions"
            " where kind = 'action' and reference = any(%s)",
            [ids],
        ).fetchone()
        all_analyses = conn.execute("select count(*) from public.analyses").fetchone()
        assert charged is not None and all_analyses is not None
        check(
            "every analysis charged once",
            charged[0] == charged[1] == len(ids) and all_analyses[0] == len(ids),
            f"{charged[0]} action rows for {charged[1]} analyses;"
            f" {all_analyses[0]} analyses in the table",
        )
    return out


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(stats: Stats, seconds: float) -> list[dict[str, Any]]:
    rows = []
    for op in OPS:
        lat = stats.latencies.get(op, [])
        errors = dict(stats.errors.get(op, {}))
        rows.append(
            {
                "operation": op,
                "ok": len(lat),
                "per_second": round(len(lat) / seconds, 1),
                "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
                "p99_ms": round(percentile(lat, 0.99) * 1000, 1) if lat else None,
                "errors": errors,
            }
        )
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| operation | ok | per second | p50 ms | p99 ms | errors (retried or refused) |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["operations"]:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(row["errors"].items())) or "0"
        lines.append(
            f"| {row['operation']} | {row['ok']} | {row['per_second']} | {row['p50_ms']}"
            f" | {row['p99_ms']} | {errors} |"
        )
    lines.append("")
    lines.append("| check | result | detail |")
    lines.append("|---|---|---|")
    for c in result["checks"]:
        lines.append(f"| {c['check']} | {'ok' if c['ok'] else 'FAIL'} | {c['detail']} |")
    faults = result["faults"]
    lines.append("")
    lines.append(
        f"{result['settings']['minutes']} min; {len(faults['worker_kills'])} workers killed"
        f" (SIGKILL) and restarted; database restarted at"
        f" {faults['db_restart_at_s']} s ({faults['db_restart_s']} s down)."
    )
    return "\n".join(lines)


def print_table(result: dict[str, Any]) -> None:
    print(markdown(result))


# -- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--action-rate", type=float, default=40, help="perform_action per s")
    parser.add_argument("--webhook-rate", type=float, default=20, help="deliveries per s")
    parser.add_argument("--history-rate", type=float, default=20, help="history reads per s")
    parser.add_argument("--admin-rate", type=float, default=2, help="admin reads per s")
    parser.add_argument("--kill-every", type=float, default=60, help="seconds between kills")
    parser.add_argument("--markdown", type=Path, help="print the table of a results JSON")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0

    cfg = load_config()
    base = Path(tempfile.mkdtemp(prefix="flirt-soak-"))
    os.chmod(base, 0o755)
    pg = devstack.Cluster(base / "data", free_port(), cron_database="soak_cron")
    bouncer = PgBouncer(
        base / "pgbouncer",
        free_port(),
        pg.port,
        users=("postgres", "authenticator"),
        pool_size=20,
    )
    procs: list[subprocess.Popen[bytes]] = []
    workers: list[subprocess.Popen[bytes]] = []
    rng = random.Random(7)
    try:
        pg.init()
        pg.start()
        pg.wait_ready()
        pg.bootstrap_roles()
        pg.create_database(DB)
        pg.bootstrap_database(DB, pgtap=False)
        direct = pg.dsn("postgres", DB)
        migrate(direct, cfg)
        with psycopg.connect(pg.dsn("supabase_auth_admin", DB), autocommit=True) as conn:
            conn.execute(
                "insert into auth.users (id, email) select"
                " ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid,"
                " 'soak' || n || '@example.test' from generate_series(1, %s) n",
                [args.users],
            )
        with connect(direct, role=SERVICE_ROLE, autocommit=True) as conn:
            # enough credits for the whole run (one admin_adjust ledger row each)
            conn.execute(
                "select public.admin_adjust_credits(u.id, 100000, 'soak') from public.users u"
            )
        bouncer.start()
        pooled = bouncer.dsn("postgres", DB)
        config = write_config(
            base / "config.toml", {"worker": WORKER, "ai.mock": {"latency_ms": 50}}
        )
        env = {
            **os.environ,
            "DATABASE_URL": pooled,
            "DIRECT_URL": direct,
            "FLIRT_CONFIG": str(config),
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "SUPABASE_JWT_SECRET": "soak-secret-soak-secret-soak-secret-soak",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("STRIPE_SECRET_KEY", None)
        api_ports = [free_port(), free_port()]
        for i, port in enumerate(api_ports):
            procs.append(start_api(env, port, base / f"api{i}.log"))
        logs = [base / f"worker{i}.log" for i in range(3)]
        workers = [start_worker(env, log) for log in logs]

        stats = Stats()
        load = Load(
            pooled,
            [f"http://127.0.0.1:{p}/api/webhook/stripe" for p in api_ports],
            args.users,
            stats,
        )
        threads = [
            *(
                threading.Thread(target=load.actions, args=(args.action_rate / 4,))
                for _ in range(4)
            ),
            threading.Thread(target=load.webhooks, args=(args.webhook_rate, 1)),
            threading.Thread(target=load.history, args=(args.history_rate / 2,)),
            threading.Thread(target=load.history, args=(args.history_rate / 2,)),
            threading.Thread(target=load.admin, args=(args.admin_rate,)),
        ]
        duration = args.minutes * 60
        started = time.monotonic()
        for t in threads:
            t.start()
        print(f"soak: {args.minutes} min, cluster {base}", flush=True)

        kills: list[dict[str, Any]] = []
        restart_at = duration / 2
        restart_took: float | None = None
        restarted_at: float | None = None
        next_kill = args.kill_every
        while (elapsed := time.monotonic() - started) < duration:
            if restarted_at is None and elapsed >= restart_at:
                t0 = time.monotonic()
                pg.restart()
                restart_took = round(time.monotonic() - t0, 1)
                restarted_at = round(elapsed, 1)
                print(f"  {elapsed:6.0f} s  database restarted ({restart_took} s)", flush=True)
            if elapsed >= next_kill:
                i = rng.randrange(len(workers))
                workers[i].kill()
                workers[i].wait(10)
                workers[i] = start_worker(env, logs[i])
                kills.append({"at_s": round(elapsed, 1), "worker": i})
                print(f"  {elapsed:6.0f} s  worker {i} killed (SIGKILL) and restarted", flush=True)
                next_kill += args.kill_every
            time.sleep(0.2)
        load.stop.set()
        for t in threads:
            t.join(180)
        measured = time.monotonic() - started
        print("  load stopped; waiting for the queue to drain", flush=True)
        # the last kill's analyses wait for their lease
        deadline = time.monotonic() + 3 * LEASE_SECONDS + 30
        while time.monotonic() < deadline:
            with psycopg.connect(direct) as conn:
                row = conn.execute(
                    "select count(*) from public.analyses where status in ('queued', 'processing')"
                ).fetchone()
            if row == (0,):
                break
            time.sleep(1)
        for w in workers:
            stop(w)
        for p in procs:
            stop(p)
        results = checks(direct, load)
        result = {
            "benchmark": "soak",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "settings": vars(args)
            | {"markdown": None, "worker": WORKER, "cpus": os.cpu_count(), "pgbouncer_pool": 20},
            "seconds": round(measured, 1),
            "operations": summarize(stats, measured),
            "checks": results,
            "faults": {
                "worker_kills": kills,
                "db_restart_at_s": restarted_at,
                "db_restart_s": restart_took,
            },
        }
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print_table(result)
        print(f"\nwritten to {path.relative_to(ROOT)}")
        return 0 if all(c["ok"] for c in results) else 1
    finally:
        for p in [*procs, *workers]:
            if p.poll() is None:
                p.kill()
        bouncer.destroy()
        pg.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
