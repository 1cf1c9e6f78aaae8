"""The worker protocol in SQL: leases, results, retries, refunds, release, reaper.

Analyses are created through the real RPC path (perform_action as the user);
the worker side is called as the worker's own role, `flirt_worker`.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pyworker.db import ApiError, call_json, call_rpc
from pyworker.providers.base import AnalysisRequest
from pyworker.providers.mock import mock_result
from tests.py.dbtools import (
    TestDatabase,
    as_user,
    balances,
    ledger_mismatches,
    rpc,
    waiting_for_lock,
)
from tests.py.fakes.worker_process import wait_until

RESULT = mock_result(AnalysisRequest("x", "short_chat", {"chat": "hi"})).model_dump()


def worker_conn(db: TestDatabase) -> psycopg.Connection[Any]:
    conn = db.connect(autocommit=True)
    conn.execute("set role flirt_worker")
    return conn


def enqueue(db: TestDatabase, user: uuid.UUID, n: int = 1, action: str = "short_chat") -> list[str]:
    with db.api_connect() as api:
        return [
            rpc(api, user, "perform_action", action_type=action, input={"chat": f"hello {i}"})[
                "analysis_id"
            ]
            for i in range(n)
        ]


def claim(
    conn: psycopg.Connection[Any], worker: str, n: int = 10, lease: int = 60
) -> list[dict[str, Any]]:
    return conn.execute(
        "select * from private.claim_analyses(%s, %s, %s)", [worker, n, lease]
    ).fetchall()


def fn(conn: psycopg.Connection[Any], name: str, **params: Any) -> Any:
    return call_json(conn, f"private.{name}", **params)


def analysis(db: TestDatabase, aid: str) -> dict[str, Any]:
    row = db.fetchone("select * from analyses where id = %s", [aid])
    assert row is not None
    return row


def ledger(db: TestDatabase, user: uuid.UUID, kind: str) -> list[dict[str, Any]]:
    return db.fetchall(
        "select daily_delta, purchased_delta, reference, idempotency_key from credits_transactions"
        " where user_id = %s and kind = %s order by id",
        [user, kind],
    )


def expire_leases(db: TestDatabase) -> None:
    db.execute(
        "update analyses set locked_until = now() - interval '1 second' where status = 'processing'"
    )


def test_each_analysis_is_leased_to_one_worker_at_a_time(db: TestDatabase) -> None:
    ids = set(enqueue(db, db.create_user(), 4) + enqueue(db, db.create_user(), 2))
    with worker_conn(db) as a, worker_conn(db) as b:
        a.autocommit = False  # A's claim is still uncommitted: its rows stay locked
        first = claim(a, "A", 4)
        second = claim(b, "B", 10)
        a.commit()
        third = claim(b, "C", 10)
    got_a = {str(r["analysis_id"]) for r in first}
    got_b = {str(r["analysis_id"]) for r in second}
    assert len(got_a) == 4 and len(got_b) == 2 and got_a | got_b == ids
    assert third == []
    assert all(r["attempts"] == 1 and r["input"]["chat"].startswith("hello") for r in first)
    rows = db.fetchall("select locked_by, status, started_at from analyses")
    assert {r["status"] for r in rows} == {"processing"} and all(r["started_at"] for r in rows)


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_result(db: TestDatabase) -> None:
    user = db.create_user()
    (aid,) = enqueue(db, user)
    with worker_conn(db) as conn:
        assert len(claim(conn, "A")) == 1
        expire_leases(db)
        assert [str(r["analysis_id"]) for r in claim(conn, "B")] == [aid]
        other = {**RESULT, "summary": "from A"}
        assert (
            fn(conn, "heartbeat_analysis", analysis_id=aid, worker_id="A", lease_seconds=60)
            is False
        )
        assert fn(conn, "complete_analysis", analysis_id=aid, worker_id="A", result=other) is False
        assert (
            fn(conn, "fail_analysis", analysis_id=aid, worker_id="A", error="x", retryable=False)
            is None
        )
        assert (
            fn(
                conn,
                "complete_analysis",
                analysis_id=aid,
                worker_id="B",
                result=RESULT,
                model="m",
                usage={"total_tokens": 5},
                prompt_version="analysis_v1",
            )
            is True
        )
        assert fn(conn, "complete_analysis", analysis_id=aid, worker_id="A", result=other) is False
    row = analysis(db, aid)
    assert row["status"] == "done" and row["result"] == RESULT and row["attempts"] == 2
    assert row["locked_by"] is None and row["prompt_version"] == "analysis_v1"
    assert ledger(db, user, "action_refund") == []
    with db.connect() as owner:
        owner.execute("set role service_role")
        assert fn(owner, "refund_analysis", analysis_id=aid) is False  # a delivered result
    assert ledger(db, user, "action_refund") == []


def test_retryable_failures_back_off_then_fail_with_one_refund_to_the_original_buckets(
    db: TestDatabase,
) -> None:
    db.execute("update app_settings set value = '0.01' where key = 'retry_base_seconds'")
    user = db.create_user()
    # use 80 of the 100 daily credits, so the screenshot (50) takes 20 daily + 30 purchased
    done = enqueue(db, user, 4, "long_chat")
    with worker_conn(db) as conn:
        for row in claim(conn, "W"):
            fn(
                conn,
                "complete_analysis",
                analysis_id=str(row["analysis_id"]),
                worker_id="W",
                result=RESULT,
            )
        with db.api_connect() as api:
            aid = rpc(
                api,
                user,
                "perform_action",
                action_type="image_analysis",
                input={"image_path": f"{user}/shot.png"},
            )["analysis_id"]
        assert analysis(db, aid)["daily_cost"] == 20 and analysis(db, aid)["purchased_cost"] == 30
        assert balances(db, user)["credits_remaining"] == 150 - 80 - 50

        claim(conn, "W")
        assert (
            fn(
                conn,
                "fail_analysis",
                analysis_id=aid,
                worker_id="W",
                error="timeout: slow",
                retryable=True,
                retry_after_seconds=30,
            )
            == "queued"
        )
        row = db.fetchone(
            "select status, run_after - now() as wait from analyses where id = %s",
            [aid],
        )
        assert row and row["status"] == "queued" and row["wait"].total_seconds() > 29
        assert claim(conn, "W") == []  # not before its time
        statuses = []
        for _ in range(3):
            db.execute(
                "update analyses set run_after = now() where id = %s and status = 'queued'", [aid]
            )
            if claim(conn, "W"):
                statuses.append(
                    fn(
                        conn,
                        "fail_analysis",
                        analysis_id=aid,
                        worker_id="W",
                        error="provider_unavailable: HTTP 503",
                        retryable=True,
                    )
                )
        assert statuses == ["queued", "failed"]
        assert fn(conn, "fail_analysis", analysis_id=aid, worker_id="W", error="x") is None
    row = analysis(db, aid)
    assert row["status"] == "failed" and row["attempts"] == 3 and row["result"] is None
    assert row["refunded_at"] is not None and row["finished_at"] is not None
    assert ledger(db, user, "action_refund") == [
        {
            "daily_delta": 20,
            "purchased_delta": 30,
            "reference": aid,
            "idempotency_key": f"refund:{aid}",
        }
    ]
    assert balances(db, user)["credits_remaining"] == 150 - 80
    with db.connect() as owner:
        owner.execute("set role service_role")
        assert fn(owner, "refund_analysis", analysis_id=aid) is False
    assert len(ledger(db, user, "action_refund")) == 1
    assert all(analysis(db, d)["refunded_at"] is None for d in done)


def test_a_permanent_failure_fails_at_once_and_refunds(db: TestDatabase) -> None:
    user = db.create_user()
    (aid,) = enqueue(db, user)
    with worker_conn(db) as conn:
        claim(conn, "W")
        assert (
            fn(
                conn,
                "fail_analysis",
                analysis_id=aid,
                worker_id="W",
                error="image_not_found: screenshot does not exist",
                retryable=False,
            )
            == "failed"
        )
    row = analysis(db, aid)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["error"].startswith("image_not_found")
    assert len(ledger(db, user, "action_refund")) == 1
    assert balances(db, user)["credits_remaining"] == 150


def test_release_requeues_without_using_up_the_attempt_and_notifies(db: TestDatabase) -> None:
    (aid,) = enqueue(db, db.create_user())
    with worker_conn(db) as conn, db.connect(autocommit=True) as listener:
        listener.execute("listen analysis_queued")
        claim(conn, "W")
        assert fn(conn, "release_analysis", analysis_id=aid, worker_id="OTHER") is False
        assert fn(conn, "release_analysis", analysis_id=aid, worker_id="W") is True
        note = next(listener.notifies(timeout=2))
    assert note.payload == aid
    row = analysis(db, aid)
    assert (row["status"], row["attempts"], row["locked_by"], row["locked_until"]) == (
        "queued",
        0,
        None,
        None,
    )


def test_heartbeat_extends_only_the_holders_lease(db: TestDatabase) -> None:
    (aid,) = enqueue(db, db.create_user())
    with worker_conn(db) as conn:
        claim(conn, "W", lease=5)
        before = analysis(db, aid)["locked_until"]
        assert (
            fn(conn, "heartbeat_analysis", analysis_id=aid, worker_id="X", lease_seconds=600)
            is False
        )
        assert (
            fn(conn, "heartbeat_analysis", analysis_id=aid, worker_id="W", lease_seconds=600)
            is True
        )
    assert (analysis(db, aid)["locked_until"] - before).total_seconds() > 500


def test_reaper_fails_and_refunds_expired_last_attempts_and_requeues_the_rest(
    db: TestDatabase,
) -> None:
    user = db.create_user()
    last, retry = enqueue(db, user, 2)
    db.execute("update analyses set max_attempts = 1 where id = %s", [last])
    with worker_conn(db) as conn:
        assert len(claim(conn, "crashed")) == 2
    expire_leases(db)
    with db.connect(autocommit=True) as owner:  # as the pg_cron job runs it (job owner postgres)
        assert owner.execute("select private.reap_expired_leases() as n").fetchone()["n"] == 1  # type: ignore[index]
        assert owner.execute("select private.reap_expired_leases() as n").fetchone()["n"] == 0  # type: ignore[index]
    assert analysis(db, last)["status"] == "failed"
    assert analysis(db, last)["error"].startswith("lease_expired")
    assert (analysis(db, retry)["status"], analysis(db, retry)["attempts"]) == ("queued", 1)
    assert [r["reference"] for r in ledger(db, user, "action_refund")] == [last]


@pytest.mark.parametrize(
    "bad",
    [
        {**RESULT, "interest_level": 11},
        {**RESULT, "interest_level": 5.5},
        {**RESULT, "suggestions": RESULT["suggestions"][:2]},
        {k: v for k, v in RESULT.items() if k != "summary"},
        {**RESULT, "red_flags": "none"},
        "just text",
    ],
    ids=[
        "interest>10",
        "interest-fraction",
        "two-suggestions",
        "no-summary",
        "flags-not-list",
        "text",
    ],
)
def test_a_result_of_the_wrong_shape_is_refused_and_nothing_is_stored(
    db: TestDatabase, bad: Any
) -> None:
    (aid,) = enqueue(db, db.create_user())
    with worker_conn(db) as conn:
        claim(conn, "W")
        with pytest.raises(ApiError) as info:
            fn(conn, "complete_analysis", analysis_id=aid, worker_id="W", result=Jsonb(bad))
    assert (info.value.status, info.value.code) == (422, "invalid_result")
    row = analysis(db, aid)
    assert row["status"] == "processing" and row["result"] is None


def test_the_worker_role_reads_no_table(db: TestDatabase) -> None:
    enqueue(db, db.create_user())
    for table in ("users", "analyses", "credits_transactions", "payments", "app_settings"):
        with worker_conn(db) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"select * from public.{table} limit 1")
    with worker_conn(db) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select private.refund_analysis(gen_random_uuid())")


def test_queue_stats_count_ready_and_processing(db: TestDatabase) -> None:
    enqueue(db, db.create_user(), 3)
    with worker_conn(db) as conn:
        claim(conn, "W", 1)
        stats = conn.execute("select private.analysis_queue_stats() as s").fetchone()["s"]  # type: ignore[index]
    assert (stats["queued"], stats["ready"], stats["processing"], stats["expired_leases"]) == (
        2,
        2,
        1,
        0,
    )


def test_batched_results_store_held_ones_and_report_invalid_and_lost(db: TestDatabase) -> None:
    held, invalid, taken = enqueue(db, db.create_user(), 3)
    with worker_conn(db) as conn:
        claim(conn, "W")
        db.execute("update analyses set locked_by = 'OTHER' where id = %s", [taken])
        out = fn(
            conn,
            "complete_analyses",
            worker_id="W",
            results=[
                {"analysis_id": held, "result": RESULT, "model": "m", "usage": {"total_tokens": 1}},
                {"analysis_id": invalid, "result": {**RESULT, "tone": 7}},
                {"analysis_id": taken, "result": RESULT},
            ],
        )
    assert out == {"applied": [held], "invalid": [{"analysis_id": invalid, "field": "tone"}]}
    assert analysis(db, held)["status"] == "done" and analysis(db, held)["usage"] == {
        "total_tokens": 1
    }
    assert analysis(db, invalid)["result"] is None and analysis(db, taken)["result"] is None


def test_the_pg_cron_reaper_job_fails_and_refunds_a_crashed_last_attempt(
    cron_db: TestDatabase,
) -> None:
    job = cron_db.fetchone(
        "select schedule, command, username from cron.job"
        " where jobname = 'flirt_reap_expired_leases'"
    )
    assert job is not None and job["schedule"] == "* * * * *"
    user = cron_db.create_user()
    (aid,) = enqueue(cron_db, user)
    # a worker crashed during the last attempt (the database is shared: no claim here)
    cron_db.execute(
        "update analyses set status = 'processing', locked_by = 'crashed', attempts = 1,"
        " max_attempts = 1, locked_until = now() - interval '1 second' where id = %s",
        [aid],
    )
    # exactly as pg_cron runs it: the job's command, as the job's user
    with cron_db.connect(job["username"], autocommit=True) as conn:
        conn.execute(job["command"])
    assert analysis(cron_db, aid)["status"] == "failed"
    assert len(ledger(cron_db, user, "action_refund")) == 1
    assert ledger_mismatches(cron_db) == []


def test_refund_after_the_credit_day_changed_applies_the_reset_first(db: TestDatabase) -> None:
    user = db.create_user()
    [aid] = enqueue(db, user)
    allowance = balances(db, user)["daily_credits"] + 5
    # the credit day turns over while the analysis runs; the user has not been reset yet
    db.execute("update users set daily_reset_on = daily_reset_on - 1 where id = %s", [user])
    db.execute(
        "update analyses set created_at = created_at - interval '1 day' where id = %s", [aid]
    )
    with worker_conn(db) as w:
        claim(w, "W")
        fn(w, "fail_analysis", analysis_id=aid, worker_id="W", error="x", retryable=False)
    # today's allowance; yesterday's daily credits do not come back on top of it
    assert balances(db, user)["daily_credits"] == allowance
    kinds = db.fetchall(
        "select kind, daily_delta from credits_transactions where user_id = %s order by id",
        [user],
    )
    assert [(k["kind"], k["daily_delta"]) for k in kinds] == [
        ("signup_bonus", allowance),
        ("action", -5),
        ("daily_reset", 5),
        ("action_refund", 0),
    ]


def notes(listener: psycopg.Connection[Any], wait: float = 0.5) -> list[str]:
    return [n.payload for n in listener.notifies(timeout=wait)]


def test_a_new_analysis_wakes_the_workers_when_the_queue_was_drained(db: TestDatabase) -> None:
    user = db.create_user()
    with db.connect(autocommit=True) as listener, worker_conn(db) as w:
        listener.execute("listen analysis_queued")
        first = enqueue(db, user)
        assert notes(listener) == first
        # an older analysis is still waiting: a worker is bound to come for the queue
        second = enqueue(db, user)
        assert notes(listener) == []
        assert {str(r["analysis_id"]) for r in claim(w, "W")} == {*first, *second}
        third = enqueue(db, user)
        assert notes(listener) == third


def queue_uncommitted(api: psycopg.Connection[Any]) -> str:
    """perform_action inside the caller's open transaction (as_user): queued, not committed."""
    out = call_rpc(api, "public.perform_action", action_type="short_chat", input={"chat": "hey"})
    return str(out["analysis_id"])


def claim_at_the_gate(
    db: TestDatabase, pool: ThreadPoolExecutor, conn: psycopg.Connection[Any]
) -> Future[list[dict[str, Any]]]:
    """A claim on another thread, once it waits for the gate lock."""
    claiming = pool.submit(claim, conn, "W")
    wait_until(lambda: waiting_for_lock(db, "advisory"), 5, "the claim did not wait")
    return claiming


def test_a_claim_that_drains_the_queue_waits_for_an_analysis_queued_without_notify(
    db: TestDatabase,
) -> None:
    user = db.create_user()
    (older,) = enqueue(db, user)
    with (
        db.connect(autocommit=True) as listener,
        db.api_connect() as api,
        worker_conn(db) as w,
        ThreadPoolExecutor(1) as pool,
    ):
        listener.execute("listen analysis_queued")
        with as_user(api, user):
            # perform_action saw `older` waiting and skipped its NOTIFY; not committed yet
            newer = queue_uncommitted(api)
            draining = claim_at_the_gate(db, pool, w)
            assert not draining.done()  # holds on until that transaction ends
        claimed = {str(r["analysis_id"]) for r in draining.result(timeout=10)}
        assert notes(listener) == []
    # the worker's claim came back with both: it may sleep without missing `newer`
    assert claimed == {older, newer}


def test_a_key_share_lock_on_a_queued_analysis_hides_it_from_neither_side(
    db: TestDatabase,
) -> None:
    user = db.create_user()
    (older,) = enqueue(db, user)
    with db.connect() as saving, db.connect(autocommit=True) as listener, worker_conn(db) as w:
        listener.execute("listen analysis_queued")
        # what the foreign key check of a reply being saved for `older` holds until commit
        saving.execute("select from analyses where id = %s for key share", [older])
        newer = enqueue(db, user)
        assert notes(listener) == []  # `older` was waiting: no NOTIFY
        # so the claim must not skip `older` either, or both would wait for the poll
        assert {str(r["analysis_id"]) for r in claim(w, "W")} == {older, *newer}
        saving.rollback()


def test_a_claim_gives_up_waiting_for_a_transaction_left_open(db: TestDatabase) -> None:
    user = db.create_user()
    (older,) = enqueue(db, user)
    with db.api_connect() as api, worker_conn(db) as w, ThreadPoolExecutor(1) as pool:
        with as_user(api, user):
            newer = queue_uncommitted(api)
            waiting = claim_at_the_gate(db, pool, w)
            # another user's perform_action queues behind the claim's request, for at
            # most the claim's 500 ms lock timeout
            other = enqueue(db, db.create_user())
            # the open transaction holds `older` (its reason to skip NOTIFY), but not
            # the worker: the claim comes back instead of waiting for it to end
            assert waiting.result(timeout=10) == []
            assert {str(r["analysis_id"]) for r in claim(w, "W")} == set(other)
        assert {str(r["analysis_id"]) for r in claim(w, "W")} == {older, newer}
