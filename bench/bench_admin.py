"""Admin benchmark: reconcile and the metrics roll-up over many users (run by hand, not CI).

Usage: .venv/bin/python bench/bench_admin.py [--users 100000] [--batch 5000] [--repeat 3]

Starts a throwaway PostgreSQL cluster (loopback, free port), migrates it, signs
up N users (the signup trigger writes their first ledger row), gives each one
spent analysis of "today" with its ledger row, then measures, in the same run:

- reconcile, paged (`private.ledger_mismatches_page`, what `flirt-admin
  reconcile` runs) against its anchor, the one-shot `private.ledger_mismatches()`;
- `private.refresh_admin_metrics` for the day against its anchor, one plain
  scan of the day's source rows (analyses, ledger, users) with the same filters.

Prints a table and writes JSON to bench/results/admin-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from benchlib import free_port, markdown_option, print_saved, save_and_print, table

from pyworker import devstack
from pyworker.migrate import migrate
from pyworker.settings import load_config

RESULTS = Path(__file__).parent / "results"


def seed(conn: psycopg.Connection[Any], users: int) -> None:
    conn.execute(
        "insert into auth.users (id, email) select gen_random_uuid(), 'u' || g || '@bench.test'"
        " from generate_series(1, %s) g",
        [users],
    )
    # one spent short_chat per user, with its ledger row (the invariant holds)
    conn.execute(
        "with spent as ("
        "  update public.users u set daily_credits = u.daily_credits - 5 returning u.id,"
        "  u.credits_remaining),"
        " a as (insert into public.analyses (user_id, action_type, cost, daily_cost, input,"
        "  status, usage, finished_at) select id, 'short_chat', 5, 5, '{\"chat\": \"hi\"}',"
        "  'done', '{\"prompt_tokens\": 100, \"completion_tokens\": 50}', now() from spent"
        "  returning id, user_id)"
        " insert into public.credits_transactions (user_id, daily_delta, kind, balance_after,"
        "  reference) select s.id, -5, 'action', s.credits_remaining, a.id::text"
        " from spent s join a on a.user_id = s.id"
    )
    conn.execute("vacuum analyze")


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def reconcile_paged(conn: psycopg.Connection[Any], batch: int) -> int:
    after = None
    checked = 0
    while True:
        rows = conn.execute(
            "select mismatch, users_checked, last_user_id"
            " from private.ledger_mismatches_page(%s, %s)",
            [after, batch],
        ).fetchall()
        summary = next(r for r in rows if not r[0])
        checked += summary[1]
        if summary[1] < batch:
            return checked
        after = summary[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    markdown_option(parser)
    args = parser.parse_args()
    if args.markdown:
        print_saved(args.markdown, render)
        return

    devstack.ensure_packages()
    base = Path(tempfile.mkdtemp(prefix="flirt-bench-admin-"))
    os.chmod(base, 0o755)  # the cluster may run as the postgres OS user
    pg = devstack.Cluster(base / "data", free_port(), cron_database="bench_cron", fast=True)
    try:
        pg.init()
        pg.start()
        pg.wait_ready()
        pg.bootstrap_roles()
        pg.create_database("bench")
        pg.bootstrap_database("bench", pgtap=False)
        dsn = pg.dsn("postgres", "bench")
        migrate(dsn, load_config())
        with psycopg.connect(dsn, autocommit=True) as conn:
            started = time.perf_counter()
            seed(conn, args.users)
            seed_s = time.perf_counter() - started
            today = conn.execute("select (now() at time zone 'utc')::date").fetchone()
            assert today is not None
            day: dt.date = today[0]

            anchor_reconcile = timed(
                lambda: conn.execute("select count(*) from private.ledger_mismatches()").fetchone(),
                args.repeat,
            )
            assert reconcile_paged(conn, args.batch) == args.users
            paged = timed(lambda: reconcile_paged(conn, args.batch), args.repeat)

            lo_hi = (
                "created_at >= %(d)s::timestamp at time zone 'utc'"
                " and created_at < (%(d)s + 1)::timestamp at time zone 'utc'"
            )
            anchor_scan = timed(
                lambda: conn.execute(
                    f"select (select count(distinct user_id) from public.analyses where {lo_hi}),"
                    f" (select sum(daily_delta) from public.credits_transactions where {lo_hi}),"
                    f" (select count(*) from public.users where {lo_hi})",
                    {"d": day},
                ).fetchone(),
                args.repeat,
            )
            refresh = timed(
                lambda: conn.execute(
                    "select private.refresh_admin_metrics(%s, %s)", [day, day]
                ).fetchone(),
                args.repeat,
            )
    finally:
        pg.destroy()
        shutil.rmtree(base, ignore_errors=True)

    rows = [
        (
            f"reconcile (paged, {args.batch} users/query)",
            paged,
            anchor_reconcile,
            "ledger_mismatches() one query",
        ),
        ("refresh_admin_metrics (1 day)", refresh, anchor_scan, "plain scan of the day's rows"),
    ]
    report = {
        "users": args.users,
        "batch": args.batch,
        "repeat": args.repeat,
        "seed_seconds": seed_s,
        "results": [
            {"measure": n, "seconds": v, "anchor_seconds": a, "ratio": v / a, "anchor": w}
            for n, v, a, w in rows
        ],
    }
    save_and_print("admin", report, render)


def render(report: dict[str, Any]) -> str:
    """The table of a report (printed after a run, or from its JSON by --markdown)."""
    return "\n".join(
        [
            f"{report['users']:,} users, {2 * report['users']:,} ledger rows, one analysis each;"
            f" median of {report['repeat']}",
            "",
            table(
                ("measure", "seconds", "anchor", "ratio"),
                [
                    (
                        r["measure"],
                        f"{r['seconds']:.3f}",
                        f"{r['anchor']}: {r['anchor_seconds']:.3f} s",
                        f"{r['ratio']:.2f}",
                    )
                    for r in report["results"]
                ],
            ),
        ]
    )


if __name__ == "__main__":
    main()
