"""The daily allowance: lazy reset, the batched reset job, timezones and DST, catch-up."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from pyworker.db import SERVICE_ROLE, connect
from tests.py.dbtools import TestDatabase, balances, rpc, waiting_for_lock
from tests.py.fakes.worker_process import wait_until
from tests.py.test_credits_concurrency import set_buckets, set_setting


def ledger_kinds(db: TestDatabase, user: uuid.UUID) -> list[dict[str, Any]]:
    return db.fetchall(
        "select kind, daily_delta, purchased_delta, balance_after from credits_transactions"
        " where user_id = %s order by id",
        [user],
    )


def days_behind(db: TestDatabase, user: uuid.UUID, days: int) -> None:
    db.execute(
        "update users set daily_reset_on = private.credit_day(now()) - %s where id = %s",
        [days, user],
    )


def service_call(db: TestDatabase, query: str, params: Any = None) -> Any:
    with connect(db.owner_dsn, role=SERVICE_ROLE, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    return row


def run_reset_job(db: TestDatabase, batch_size: int | None = None) -> dict[str, int]:
    """Run flirt_daily_reset's command exactly as pg_cron does: as postgres, no transaction."""
    if batch_size is not None:
        set_setting(db, "reset_batch_size", str(batch_size))
    notices: list[str] = []
    with db.connect(autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        job = conn.execute(
            "select command from private.cron_jobs(15) where jobname = 'flirt_daily_reset'"
        ).fetchone()
        assert job is not None
        conn.execute(job["command"])
    summary = dict(part.split("=") for part in notices[-1].split()[1:])
    return {"users_reset": int(summary["users"]), "batches": int(summary["batches"])}


def test_get_credits_resets_a_due_user_once_without_touching_purchased(db: TestDatabase) -> None:
    user = db.create_user()
    set_buckets(db, user, daily=7, purchased=33)
    days_behind(db, user, 1)
    with db.api_connect() as conn:
        first = rpc(conn, user, "get_credits")
        second = rpc(conn, user, "get_credits")
    assert (first["daily_credits"], first["purchased_credits"]) == (100, 33)
    assert second == first
    assert ledger_kinds(db, user)[-1] == {
        "kind": "daily_reset",
        "daily_delta": 93,
        "purchased_delta": 0,
        "balance_after": 133,
    }
    assert sum(r["kind"] == "daily_reset" for r in ledger_kinds(db, user)) == 1
    today = db.fetchone("select private.credit_day(now()) as d")
    assert today is not None and balances(db, user)["daily_reset_on"] == today["d"]


def test_allowance_never_accumulates_over_missed_days(db: TestDatabase) -> None:
    user = db.create_user()
    days_behind(db, user, 9)
    with db.api_connect() as conn:
        credits = rpc(conn, user, "get_credits")
    assert credits["daily_credits"] == credits["daily_limit"] == 100
    # already at the allowance: the day moves on, no ledger row
    assert [r["kind"] for r in ledger_kinds(db, user)] == ["signup_bonus"]


def test_perform_action_applies_a_due_reset_before_charging(db: TestDatabase) -> None:
    user = db.create_user()
    set_buckets(db, user, daily=0, purchased=0)
    days_behind(db, user, 1)
    with db.api_connect() as conn:
        out = rpc(conn, user, "perform_action", action_type="short_chat", input={"chat": "hi"})
    assert (out["daily_credits"], out["purchased_credits"]) == (95, 0)
    assert [r["kind"] for r in ledger_kinds(db, user)][-2:] == ["daily_reset", "action"]


def test_failed_action_leaves_a_due_reset_unapplied(db: TestDatabase) -> None:
    user = db.create_user()
    days_behind(db, user, 1)
    before = balances(db, user)
    with db.api_connect() as conn, pytest.raises(Exception, match="unknown_action"):
        rpc(conn, user, "perform_action", action_type="nope", input={"chat": "hi"})
    assert balances(db, user) == before


def test_concurrent_get_credits_reset_a_due_user_once(db: TestDatabase) -> None:
    user = db.create_user()
    set_buckets(db, user, daily=1, purchased=0)
    days_behind(db, user, 1)
    barrier = threading.Barrier(8)

    def call() -> None:
        with db.api_connect() as conn:
            barrier.wait()
            rpc(conn, user, "get_credits")

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["kind"] == "daily_reset" for r in ledger_kinds(db, user)) == 1
    assert balances(db, user)["daily_credits"] == 100


def credit_day(db: TestDatabase, at: datetime) -> date:
    row = db.fetchone("select private.credit_day(%s) as d", [at])
    assert row is not None
    return row["d"]  # type: ignore[no-any-return]


def next_reset_at(db: TestDatabase, day: date) -> datetime:
    row = db.fetchone("select private.next_reset_at(%s) as t", [day])
    assert row is not None
    return row["t"]  # type: ignore[no-any-return]


def reset_at(db: TestDatabase, at: datetime) -> int:
    row = service_call(db, "select private.reset_daily(%s) as r", [at])
    return int(row["r"]["users_reset"])


@pytest.mark.parametrize(
    ("timezone", "hour", "day", "expected_utc"),
    [
        # UTC, hour 0: the day starts at midnight UTC
        ("UTC", 0, date(2026, 3, 7), datetime(2026, 3, 8, 0, 0, tzinfo=UTC)),
        # New York, hour 4 = local midnight + 4 h of elapsed time (DESIGN §5 formula).
        # EST (UTC-5) before the spring switch on 2026-03-08 …
        ("America/New_York", 4, date(2026, 3, 6), datetime(2026, 3, 7, 9, 0, tzinfo=UTC)),
        ("America/New_York", 4, date(2026, 3, 7), datetime(2026, 3, 8, 9, 0, tzinfo=UTC)),
        # … EDT (UTC-4) after it
        ("America/New_York", 4, date(2026, 3, 8), datetime(2026, 3, 9, 8, 0, tzinfo=UTC)),
        # autumn switch on 2026-11-01: EDT midnight, then EST
        ("America/New_York", 4, date(2026, 10, 31), datetime(2026, 11, 1, 8, 0, tzinfo=UTC)),
        ("America/New_York", 4, date(2026, 11, 1), datetime(2026, 11, 2, 9, 0, tzinfo=UTC)),
    ],
)
def test_reset_happens_exactly_when_the_credit_day_changes_across_dst(
    db: TestDatabase, timezone: str, hour: int, day: date, expected_utc: datetime
) -> None:
    set_setting(db, "reset_timezone", f'"{timezone}"')
    set_setting(db, "reset_hour", str(hour))
    boundary = next_reset_at(db, day)
    assert boundary == expected_utc
    tick = timedelta(microseconds=1)
    assert credit_day(db, boundary - tick) == day
    assert credit_day(db, boundary) == day + timedelta(days=1)

    user = db.create_user()
    set_buckets(db, user, daily=3, purchased=0)
    db.execute("update users set daily_reset_on = %s where id = %s", [day, user])
    assert reset_at(db, boundary - tick) == 0
    assert balances(db, user)["daily_credits"] == 3
    assert reset_at(db, boundary) == 1
    assert balances(db, user)["daily_credits"] == 100
    assert balances(db, user)["daily_reset_on"] == day + timedelta(days=1)
    # the next day may be 23 or 25 hours long: nothing more until it ends
    assert reset_at(db, next_reset_at(db, day + timedelta(days=1)) - tick) == 0


def test_reset_job_catches_up_after_missed_runs_in_committed_batches(db: TestDatabase) -> None:
    users = [db.create_user() for _ in range(23)]
    for i, user in enumerate(users):
        set_buckets(db, user, daily=i, purchased=5)
        days_behind(db, user, 1 + i % 4)  # missed up to four daily runs
    fresh = db.create_user()  # already reset today
    out = run_reset_job(db, batch_size=5)
    assert out == {"users_reset": 23, "batches": 5}
    for user in users:
        row = balances(db, user)
        assert (row["daily_credits"], row["purchased_credits"]) == (100, 5)
        assert sum(r["kind"] == "daily_reset" for r in ledger_kinds(db, user)) == 1
    assert [r["kind"] for r in ledger_kinds(db, fresh)] == ["signup_bonus"]
    again = run_reset_job(db)
    assert again == {"users_reset": 0, "batches": 0}


def test_reset_job_is_scheduled_with_the_defined_command(cron_db: TestDatabase) -> None:
    row = cron_db.fetchone(
        "select j.schedule, j.command = d.command as same from cron.job j"
        " join private.cron_jobs(15) d using (jobname) where jobname = 'flirt_daily_reset'"
    )
    assert row == {"schedule": "*/15 * * * *", "same": True}
    # the exact command pg_cron runs works outside a transaction block (it commits per batch)
    assert run_reset_job(cron_db)["batches"] >= 0


def test_reset_job_skips_a_row_held_by_a_long_transaction_and_finishes(db: TestDatabase) -> None:
    held, free = db.create_user(), db.create_user()
    for user in (held, free):
        set_buckets(db, user, daily=1, purchased=0)
        days_behind(db, user, 1)
    with db.connect() as blocker:
        blocker.execute("select 1 from users where id = %s for update", [held])
        started = datetime.now(UTC)
        out = run_reset_job(db)
        assert datetime.now(UTC) - started < timedelta(seconds=5)
        assert out["users_reset"] == 1
        assert balances(db, free)["daily_credits"] == 100
        blocker.rollback()
    assert balances(db, held)["daily_credits"] == 1  # still due: the next run takes it
    out = run_reset_job(db)
    assert out["users_reset"] == 1 and balances(db, held)["daily_credits"] == 100


def test_reset_job_during_concurrent_actions_resets_everyone_once(db: TestDatabase) -> None:
    users = [db.create_user() for _ in range(40)]
    for user in users:
        set_buckets(db, user, daily=2, purchased=500)
        days_behind(db, user, 1)
    stop = threading.Event()

    def spend(offset: int) -> None:
        with db.api_connect() as conn:
            i = offset
            while not stop.is_set():
                rpc(conn, users[i % len(users)], "perform_action", action_type="short_chat",
                    input={"chat": "hi"})  # fmt: skip
                db.execute("update analyses set status = 'done' where user_id = %s",
                           [users[i % len(users)]])  # fmt: skip
                i += 7

    threads = [threading.Thread(target=spend, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        run_reset_job(db, batch_size=3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    for user in users:
        assert sum(r["kind"] == "daily_reset" for r in ledger_kinds(db, user)) == 1
        assert balances(db, user)["daily_reset_on"] == credit_day(db, datetime.now(UTC))


def test_a_batch_whose_users_were_all_reset_meanwhile_does_not_end_the_job(
    db: TestDatabase,
) -> None:
    early = [db.create_user() for _ in range(3)]
    late = db.create_user()
    for user in (*early, late):
        set_buckets(db, user, daily=1, purchased=0)
    for user in early:
        days_behind(db, user, 2)  # read first: the oldest credit days
    days_behind(db, late, 1)
    with db.api_connect() as api, ThreadPoolExecutor(1) as pool:
        # the three early users ask for their credits (lazy reset), not committed yet
        with api.transaction():
            api.execute("set local role authenticated")
            for user in early:
                api.execute(
                    "select set_config('request.jwt.claims', %s, true)",
                    [json.dumps({"role": "authenticated", "sub": str(user)})],
                )
                api.execute("select public.get_credits()")
            job = pool.submit(run_reset_job, db, 3)
            # the job's first batch read the early three and waits for their rows
            wait_until(
                lambda: waiting_for_lock(db, query_prefix="do $reset$"),
                5,
                "the reset job did not wait for the rows",
            )
        # the early three were reset by their own requests; the job still resets `late`
        assert job.result(timeout=10)["users_reset"] == 1
    for user in (*early, late):
        assert [r["kind"] for r in ledger_kinds(db, user)].count("daily_reset") == 1
        assert balances(db, user)["daily_reset_on"] == credit_day(db, datetime.now(UTC))
