"""Admin RPCs, metrics, retention and retrying failed analyses, against the real database."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter, defaultdict
from typing import Any

import pytest

from pyworker.db import ApiError, call_json, call_rpc, connect
from tests.py.dbtools import TestDatabase, as_role, as_user, balances, rpc, rpc_error

CHAT = {"chat": "Them: are you free friday?\nMe: maybe :)"}
UTC = dt.UTC


def make_admin(db: TestDatabase, user: uuid.UUID) -> None:
    db.execute("update public.users set role = 'admin' where id = %s", [user])


def service(db: TestDatabase, function: str, **params: Any) -> Any:
    """Call a function as the Python services do: DATABASE_URL, then `set role service_role`."""
    with connect(db.owner_dsn, role="service_role", autocommit=True) as conn:
        return call_rpc(conn, function, **params)


def call_as(conn: Any, caller: uuid.UUID | None, function: str, params: dict[str, Any]) -> Any:
    """An RPC as PostgREST runs it, with parameters that may include `user_id`."""
    with as_user(conn, caller):
        return call_rpc(conn, f"public.{function}", **params)


def error_as(
    conn: Any, caller: uuid.UUID | None, function: str, params: dict[str, Any]
) -> ApiError:
    with pytest.raises(ApiError) as info:
        call_as(conn, caller, function, params)
    return info.value


def service_error(db: TestDatabase, function: str, **params: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        service(db, function, **params)
    return info.value


def add_ledger(
    db: TestDatabase,
    user: uuid.UUID,
    kind: str,
    at: dt.datetime,
    daily: int = 0,
    purchased: int = 0,
    reference: str | None = None,
) -> None:
    """A bucket change with its ledger row at a chosen time (keeps the invariant)."""
    with db.connect() as conn:
        row = conn.execute(
            "update public.users set daily_credits = daily_credits + %s,"
            " purchased_credits = purchased_credits + %s where id = %s"
            " returning credits_remaining",
            [daily, purchased, user],
        ).fetchone()
        assert row is not None
        conn.execute(
            "insert into public.credits_transactions (user_id, daily_delta, purchased_delta,"
            " kind, balance_after, reference, created_at) values (%s, %s, %s, %s, %s, %s, %s)",
            [user, daily, purchased, kind, row["credits_remaining"], reference, at],
        )


def failed_analysis(db: TestDatabase, user: uuid.UUID) -> str:
    """An analysis the user paid for, that the worker failed for good (and so refunded)."""
    with db.api_connect() as conn:
        analysis_id = rpc(conn, user, "perform_action", action_type="short_chat", input=CHAT)[
            "analysis_id"
        ]
    with connect(db.owner_dsn, role="service_role", autocommit=True) as conn:
        conn.execute("select * from private.claim_analyses('w1', 10, 60)")
        status = call_json(
            conn,
            "private.fail_analysis",
            analysis_id=analysis_id,
            worker_id="w1",
            error="provider said no",
            retryable=False,
        )
    assert status == "failed"
    return str(analysis_id)


# --- who may call the admin RPCs -------------------------------------------------------------

ADMIN_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("admin_get_metrics", {"from_date": "2026-11-01", "to_date": "2026-11-02"}),
    ("admin_list_users", {"search": None, "tier": None, "page_size": 10, "page_offset": 0}),
    ("admin_adjust_credits", {"user_id": None, "delta": 10, "reason": "goodwill"}),
]


@pytest.mark.parametrize(("function", "params"), ADMIN_CALLS, ids=[c[0] for c in ADMIN_CALLS])
def test_admin_rpcs_refuse_regular_users_with_403(
    db: TestDatabase, function: str, params: dict[str, Any]
) -> None:
    user = db.create_user()
    params = {**params, "user_id": user} if "user_id" in params else params
    with db.api_connect() as conn:
        err = error_as(conn, user, function, params)
        anonymous = error_as(conn, None, function, params)
    assert (err.status, err.code) == (403, "forbidden")
    assert (anonymous.status, anonymous.code) == (403, "forbidden")
    assert balances(db, user)["purchased_credits"] == 50


def test_admin_user_lists_and_searches_accounts_through_postgrest(db: TestDatabase) -> None:
    admin = db.create_user("boss@example.test")
    make_admin(db, admin)
    alice = db.create_user("alice_smith@example.test")
    db.create_user("bob@example.test")
    db.execute("update public.users set tier = 'free' where id = %s", [alice])
    with db.api_connect() as conn:
        everyone = rpc(conn, admin, "admin_list_users", page_size=2, page_offset=0)
        found = rpc(conn, admin, "admin_list_users", search="ALICE_")
        free = rpc(conn, admin, "admin_list_users", tier="free")
        by_id = rpc(conn, admin, "admin_list_users", search=str(alice))
        wildcard = rpc(conn, admin, "admin_list_users", search="%")
        bad_page = rpc_error(conn, admin, "admin_list_users", page_size=0)
    assert everyone["total"] == 3 and len(everyone["items"]) == 2
    assert [u["email"] for u in found["items"]] == ["alice_smith@example.test"]
    assert [u["id"] for u in free["items"]] == [str(alice)] == [u["id"] for u in by_id["items"]]
    assert wildcard["total"] == 0  # the search text is literal, not a LIKE pattern
    assert (bad_page.status, bad_page.code) == (400, "invalid_input")


def test_service_role_key_through_postgrest_may_use_admin_rpcs(db: TestDatabase) -> None:
    db.create_user()
    with db.api_connect() as conn, as_role(conn, "service_role", {"role": "service_role"}):
        page = call_rpc(conn, "public.admin_list_users")
    assert page["total"] == 1


# --- credit adjustments -----------------------------------------------------------------------


def test_admin_adjust_moves_purchased_bucket_with_one_audited_ledger_row(
    db: TestDatabase,
) -> None:
    admin = db.create_user()
    make_admin(db, admin)
    user = db.create_user()
    with db.api_connect() as conn:
        out = call_as(
            conn, admin, "admin_adjust_credits", {"user_id": user, "delta": 25, "reason": "sorry!"}
        )
    assert out["purchased_credits"] == 75 and out["credits_remaining"] == 175
    rows = db.fetchall(
        "select kind, daily_delta, purchased_delta, balance_after, metadata"
        " from credits_transactions where user_id = %s and kind = 'admin_adjust'",
        [user],
    )
    assert rows == [
        {
            "kind": "admin_adjust",
            "daily_delta": 0,
            "purchased_delta": 25,
            "balance_after": 175,
            "metadata": {"reason": "sorry!", "by": str(admin)},
        }
    ]


def test_admin_adjust_refuses_blank_reason_and_going_below_zero(db: TestDatabase) -> None:
    user = db.create_user()
    no_reason = service_error(db, "public.admin_adjust_credits", user_id=user, delta=5, reason=" ")
    negative = service_error(
        db, "public.admin_adjust_credits", user_id=user, delta=-51, reason="chargeback"
    )
    unknown = service_error(
        db, "public.admin_adjust_credits", user_id=uuid.uuid4(), delta=5, reason="x"
    )
    assert (no_reason.status, no_reason.code, no_reason.detail["field"]) == (
        400,
        "invalid_input",
        "reason",
    )
    assert (negative.status, negative.code) == (400, "would_go_negative")
    assert negative.detail == {"purchased_credits": 50, "delta": -51}
    assert (unknown.status, unknown.code) == (404, "user_not_found")
    emptied = service(
        db, "public.admin_adjust_credits", user_id=user, delta=-50, reason="test credits back"
    )
    assert emptied["purchased_credits"] == 0
    assert balances(db, user)["purchased_credits"] == 0


# --- metrics ----------------------------------------------------------------------------------


def _utc_day(ts: dt.datetime) -> dt.date:
    return ts.astimezone(UTC).date()


def _expected_metrics(db: TestDatabase, day: dt.date) -> dict[str, Any]:
    """The day's metrics computed here, in Python, from the raw source rows."""
    users = db.fetchall("select created_at from users")
    analyses = db.fetchall("select user_id, action_type, status, usage, created_at from analyses")
    ledger = db.fetchall(
        "select kind, daily_delta, purchased_delta, created_at from credits_transactions"
    )
    payments = db.fetchall("select amount_cents, currency, created_at from payments")
    todays = [a for a in analyses if _utc_day(a["created_at"]) == day]
    ledger_today = [t for t in ledger if _utc_day(t["created_at"]) == day]
    revenue: dict[str, int] = defaultdict(int)
    for p in payments:
        if _utc_day(p["created_at"]) == day:
            revenue[p["currency"]] += p["amount_cents"]

    def change(t: dict[str, Any]) -> int:
        return int(t["daily_delta"] + t["purchased_delta"])

    return {
        "signups": sum(1 for u in users if _utc_day(u["created_at"]) == day),
        "active_users": len({a["user_id"] for a in todays}),
        "actions_by_type": dict(Counter(a["action_type"] for a in todays)),
        "failed_analyses": sum(1 for a in todays if a["status"] == "failed"),
        "ai_prompt_tokens": sum((a["usage"] or {}).get("prompt_tokens", 0) for a in todays),
        "ai_completion_tokens": sum((a["usage"] or {}).get("completion_tokens", 0) for a in todays),
        "credits_spent": -sum(
            change(t) for t in ledger_today if t["kind"] in ("action", "action_refund")
        ),
        "credits_purchased": sum(
            t["purchased_delta"] for t in ledger_today if t["kind"] == "purchase"
        ),
        "credits_granted": sum(
            max(change(t), 0)
            for t in ledger_today
            if t["kind"] in ("signup_bonus", "daily_reset", "subscription_grant", "admin_adjust")
        ),
        "revenue_cents": dict(revenue),
        "purchases": sum(1 for p in payments if _utc_day(p["created_at"]) == day),
    }


def _seed_day(db: TestDatabase, day: dt.date) -> list[uuid.UUID]:
    """Two signups, analyses of three kinds (one failed and refunded), a purchase, a grant."""
    noon = dt.datetime.combine(day, dt.time(12), UTC)
    late = dt.datetime.combine(day, dt.time(23, 59, 59), UTC)
    users = [db.create_user() for _ in range(3)]
    db.execute("update users set created_at = %s where id = any(%s)", [noon, users[:2]])
    earlier = noon - dt.timedelta(days=3)
    db.execute("update users set created_at = %s where id = %s", [earlier, users[2]])
    runs = [
        (users[0], "short_chat", 5, "done", {"prompt_tokens": 120, "completion_tokens": 80}),
        (users[0], "long_chat", 20, "done", {"prompt_tokens": 900, "completion_tokens": 300}),
        (users[1], "short_chat", 5, "failed", None),
        (users[2], "image_analysis", 50, "done", {"prompt_tokens": 1500, "completion_tokens": 200}),
    ]
    for user, action, cost, status, usage in runs:
        analysis = uuid.uuid4()
        db.execute(
            "insert into analyses (id, user_id, action_type, cost, daily_cost, input, status,"
            " usage, created_at, finished_at) values (%s, %s, %s, %s, %s, '{}', %s, %s, %s, %s)",
            [analysis, user, action, cost, cost, status, _json(usage), noon, noon],
        )
        add_ledger(db, user, "action", noon, daily=-cost, reference=str(analysis))
        if status == "failed":
            add_ledger(db, user, "action_refund", noon, daily=cost, reference=str(analysis))
    db.execute(
        "insert into payments (stripe_payment_intent_id, user_id, pack_id, amount_cents,"
        " currency, credits_granted, created_at) values"
        " (%s, %s, 'small', 499, 'usd', 100, %s), (%s, %s, 'small', 450, 'eur', 100, %s)",
        [f"pi_1_{day}", users[1], late, f"pi_2_{day}", users[2], noon],
    )
    add_ledger(db, users[1], "purchase", late, purchased=100, reference=f"pi_1_{day}")
    add_ledger(db, users[2], "purchase", noon, purchased=100, reference=f"pi_2_{day}")
    add_ledger(db, users[2], "admin_adjust", noon, purchased=-10)
    add_ledger(db, users[2], "admin_adjust", noon, purchased=30)
    # the next day's activity must not leak into this day
    add_ledger(db, users[2], "admin_adjust", late + dt.timedelta(seconds=1), purchased=7)
    return users


def _json(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return None if value is None else Jsonb(value)


def test_metrics_equal_values_computed_from_source_tables(db: TestDatabase) -> None:
    day = dt.date(2026, 11, 20)
    _seed_day(db, day)
    _seed_day(db, day + dt.timedelta(days=1))
    report = service(
        db, "public.admin_get_metrics", from_date=day, to_date=day + dt.timedelta(days=2)
    )
    assert [r["day"] for r in report["days"]] == ["2026-11-20", "2026-11-21", "2026-11-22"]
    for row in report["days"]:
        expected = _expected_metrics(db, dt.date.fromisoformat(row["day"]))
        assert {k: row[k] for k in expected} == expected
    first = _expected_metrics(db, day)
    assert first["credits_spent"] == 75 and first["actions_by_type"]["short_chat"] == 2
    assert first["revenue_cents"] == {"usd": 499, "eur": 450}
    assert report["totals"]["revenue_cents"] == {"eur": 900, "usd": 998}
    assert report["totals"]["signups"] == 4


def test_metrics_refresh_recomputes_instead_of_adding_up(db: TestDatabase) -> None:
    day = dt.date(2026, 11, 21)
    users = _seed_day(db, day)
    assert service(db, "private.refresh_admin_metrics", from_date=day, to_date=day) == 1
    first = db.fetchone("select * from admin_metrics where day = %s", [day])
    assert service(db, "private.refresh_admin_metrics", from_date=day, to_date=day) == 1
    again = db.fetchone("select * from admin_metrics where day = %s", [day])
    assert first and again
    assert {k: v for k, v in first.items() if k != "computed_at"} == {
        k: v for k, v in again.items() if k != "computed_at"
    }
    # a late change to the source data is picked up by the next refresh
    add_ledger(db, users[0], "admin_adjust", dt.datetime.combine(day, dt.time(13), UTC), 40)
    service(db, "private.refresh_admin_metrics", from_date=day, to_date=day)
    assert db.fetchone("select credits_granted from admin_metrics where day = %s", [day]) == {
        "credits_granted": first["credits_granted"] + 40
    }


def test_metrics_reject_reversed_or_too_long_ranges(db: TestDatabase) -> None:
    reversed_range = service_error(
        db, "public.admin_get_metrics", from_date="2026-11-05", to_date="2026-11-01"
    )
    too_long = service_error(
        db, "public.admin_get_metrics", from_date="2024-01-01", to_date="2026-01-01"
    )
    assert reversed_range.code == too_long.code == "invalid_input"


# --- retention --------------------------------------------------------------------------------


def test_retention_purges_inputs_of_analyses_finished_before_the_window(
    db: TestDatabase,
) -> None:
    user = db.create_user()
    now = dt.datetime.now(UTC)
    cases = {
        "old_done": ("done", now - dt.timedelta(days=31)),
        "old_failed": ("failed", now - dt.timedelta(days=40)),
        "recent_done": ("done", now - dt.timedelta(days=29)),
        "old_but_queued": ("queued", None),
    }
    ids = {}
    for name, (status, finished) in cases.items():
        ids[name] = uuid.uuid4()
        db.execute(
            "insert into analyses (id, user_id, action_type, cost, daily_cost, input, status,"
            " created_at, finished_at) values (%s, %s, 'short_chat', 0, 0, %s, %s, %s, %s)",
            [ids[name], user, _json(CHAT), status, now - dt.timedelta(days=45), finished],
        )
    assert service(db, "private.purge_expired_inputs") == 2
    assert service(db, "private.purge_expired_inputs") == 0
    rows = {r["id"]: r for r in db.fetchall("select id, input, input_purged_at from analyses")}
    for name in ("old_done", "old_failed"):
        assert rows[ids[name]]["input"] is None and rows[ids[name]]["input_purged_at"]
    for name in ("recent_done", "old_but_queued"):
        assert rows[ids[name]]["input"] == CHAT and rows[ids[name]]["input_purged_at"] is None


# --- retrying failed analyses ------------------------------------------------------------------


def test_retry_charges_again_and_requeues_the_same_analysis(db: TestDatabase) -> None:
    user = db.create_user()
    failed = failed_analysis(db, user)
    before = balances(db, user)
    out = service(db, "private.retry_analysis", analysis_id=failed)
    assert out["analysis_id"] == failed
    assert out["status"] == "queued" and out["cost"] == 5 and out["charges"] == 2
    after = balances(db, user)
    assert after["credits_remaining"] == before["credits_remaining"] - 5
    assert after["daily_credits"] == before["daily_credits"] - 5  # daily bucket first
    row = db.fetchone(
        "select status, input, cost, attempts, error, refunded_at from analyses where id = %s",
        [failed],
    )
    assert row == {"status": "queued", "input": CHAT, "cost": 5, "attempts": 0, "error": None,
                   "refunded_at": None}  # fmt: skip
    charges = db.fetchall(
        "select daily_delta, purchased_delta from credits_transactions"
        " where kind = 'action' and reference = %s order by id",
        [failed],
    )
    assert charges == [{"daily_delta": -5, "purchased_delta": 0}] * 2
    again = service_error(db, "private.retry_analysis", analysis_id=failed)
    assert (again.status, again.code) == (409, "analysis_not_failed")


def test_retried_analysis_that_fails_again_is_refunded_again(db: TestDatabase) -> None:
    user = db.create_user()
    start = balances(db, user)["credits_remaining"]
    failed = failed_analysis(db, user)
    for worker in ("w2", "w3"):  # retried twice, failing each time
        service(db, "private.retry_analysis", analysis_id=failed)
        with connect(db.owner_dsn, role="service_role", autocommit=True) as conn:
            conn.execute("select * from private.claim_analyses(%s, 10, 60)", [worker])
            call_json(
                conn,
                "private.fail_analysis",
                analysis_id=failed,
                worker_id=worker,
                error="down again",
                retryable=False,
            )
    assert balances(db, user)["credits_remaining"] == start
    refunds = db.fetchall(
        "select idempotency_key from credits_transactions where kind = 'action_refund'"
        " and reference = %s order by id",
        [str(failed)],
    )
    assert [r["idempotency_key"] for r in refunds] == [
        f"refund:{failed}",
        f"refund:{failed}:2",
        f"refund:{failed}:3",
    ]


@pytest.mark.parametrize("problem", ["not_failed", "restricted", "no_credits", "purged"])
def test_retry_refuses_with_the_reason_and_charges_nothing(db: TestDatabase, problem: str) -> None:
    user = db.create_user()
    analysis = failed_analysis(db, user)
    expected = {
        "not_failed": (409, "analysis_not_failed"),
        "restricted": (403, "account_restricted"),
        "no_credits": (402, "insufficient_credits"),
        "purged": (410, "input_purged"),
    }[problem]
    if problem == "not_failed":
        with db.api_connect() as conn:
            analysis = rpc(conn, user, "perform_action", action_type="short_chat", input=CHAT)[
                "analysis_id"
            ]
    elif problem == "restricted":
        db.execute("update users set restricted_reason = 'dispute' where id = %s", [user])
    elif problem == "no_credits":
        service(db, "public.admin_adjust_credits", user_id=user, delta=-50, reason="test")
        with db.connect() as conn:  # spend the daily bucket down to 4 credits
            remaining = balances(db, user)["daily_credits"]
            conn.execute("update users set daily_credits = 4 where id = %s", [user])
            conn.execute(
                "insert into credits_transactions (user_id, daily_delta, kind, balance_after)"
                " values (%s, %s, 'action', 4)",
                [user, 4 - remaining],
            )
    else:
        db.execute(
            "update analyses set input = null, input_purged_at = now() where id = %s", [analysis]
        )
    before = balances(db, user)
    err = service_error(db, "private.retry_analysis", analysis_id=analysis)
    assert (err.status, err.code) == expected
    assert balances(db, user) == before


def test_cron_jobs_for_metrics_and_retention_run_as_scheduled(cron_db: TestDatabase) -> None:
    jobs = {
        r["jobname"]: r
        for r in cron_db.fetchall(
            "select jobname, command, username from cron.job"
            " where jobname in ('flirt_refresh_metrics', 'flirt_retention')"
        )
    }
    assert set(jobs) == {"flirt_refresh_metrics", "flirt_retention"}
    # run each job's command exactly as pg_cron does: as the job's user, no role switch
    for job in jobs.values():
        assert job["username"] == "postgres"
        with cron_db.connect(job["username"]) as conn:
            conn.execute(job["command"])
    # the job refreshes current_date (the server's zone), never past today in UTC
    row = cron_db.fetchone(
        "select day, computed_at from admin_metrics"
        " where day = least(current_date, (now() at time zone 'utc')::date)"
    )
    assert row is not None and row["computed_at"] is not None
