"""The admin CLI against the real database: every command, with --json parsed."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli import common
from cli.cron_checks import _judge, cron_job_checks, schedule_interval
from cli.main import app
from tests.py.dbtools import TestDatabase, balances, rpc

CHAT = {"chat": "Them: coffee tomorrow?\nMe: sure"}


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as on a wide terminal, so ids are printed whole."""
    monkeypatch.setattr(common.console, "width", 400)


def run(db: TestDatabase, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--db-url", db.owner_dsn])


def run_json(db: TestDatabase, *args: str, exit_code: int = 0) -> Any:
    result = run(db, *args, "--json")
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_users_list_filters_by_search_and_tier(db: TestDatabase) -> None:
    carol = db.create_user("carol@example.test")
    db.create_user("dave@example.test")
    db.execute("update users set tier = 'premium' where id = %s", [carol])
    found = run_json(db, "users", "list", "--search", "carol")
    premium = run_json(db, "users", "list", "--tier", "premium")
    everyone = run_json(db, "users", "list", "--page-size", "1")
    assert [u["email"] for u in found["items"]] == ["carol@example.test"]
    assert [u["id"] for u in premium["items"]] == [str(carol)]
    assert everyone["total"] == 2 and len(everyone["items"]) == 1
    table = run(db, "users", "list")
    assert table.exit_code == 0 and "dave@example.test" in table.stdout


def test_users_show_gives_account_and_activity(db: TestDatabase) -> None:
    user = db.create_user("erin@example.test")
    with db.api_connect() as conn:
        rpc(conn, user, "perform_action", action_type="short_chat", input=CHAT)
    shown = run_json(db, "users", "show", str(user))
    assert shown["account"]["email"] == "erin@example.test"
    assert shown["account"]["credits_remaining"] == 145
    assert shown["analyses_by_status"] == {"queued": 1}
    assert shown["ledger_rows"] == 2
    assert "erin@example.test" in run(db, "users", "show", str(user)).stdout


def test_users_show_unknown_or_malformed_id_is_one_line_exit_1(db: TestDatabase) -> None:
    assert "user_not_found" in one_error_line(run(db, "users", "show", str(uuid.uuid4())))
    assert "uuid" in one_error_line(run(db, "users", "show", "not-a-uuid"))


def test_credits_adjust_writes_one_row_and_history_shows_it(db: TestDatabase) -> None:
    user = db.create_user()
    added = run_json(db, "credits", "adjust", str(user), "25", "--reason", "support ticket 42")
    taken = run_json(db, "credits", "adjust", str(user), "-5", "--reason", "typo")
    assert added["purchased_credits"] == 75 and taken["purchased_credits"] == 70
    history = run_json(db, "credits", "history", str(user))
    assert [r["kind"] for r in history] == ["admin_adjust", "admin_adjust", "signup_bonus"]
    assert history[1]["metadata"]["reason"] == "support ticket 42"
    assert history[1]["metadata"]["by"].startswith("service_role (flirt-admin:")
    assert history[0]["balance_after"] == balances(db, user)["credits_remaining"]


def test_credits_adjust_refusals_are_one_line_and_change_nothing(db: TestDatabase) -> None:
    user = db.create_user()
    no_reason = run(db, "credits", "adjust", str(user), "10")
    too_much = run(db, "credits", "adjust", str(user), "-51", "--reason", "chargeback")
    assert "--reason is required" in one_error_line(no_reason)
    assert "would_go_negative" in one_error_line(too_much)
    assert balances(db, user)["purchased_credits"] == 50
    assert len(run_json(db, "credits", "history", str(user))) == 1


def test_metrics_command_reports_each_day(db: TestDatabase) -> None:
    db.create_user()
    db.execute("update users set created_at = '2026-11-10 08:00+00'")
    report = run_json(db, "metrics", "--from", "2026-11-09", "--to", "2026-11-11")
    assert [d["day"] for d in report["days"]] == ["2026-11-09", "2026-11-10", "2026-11-11"]
    assert [d["signups"] for d in report["days"]] == [0, 1, 0]
    refreshed = run_json(db, "metrics", "--from", "2026-11-10", "--to", "2026-11-10", "--refresh")
    assert refreshed["days"][0]["signups"] == 1
    table = run(db, "metrics", "--from", "2026-11-09", "--to", "2026-11-11")
    assert table.exit_code == 0 and "2026-11-10" in table.stdout
    assert "--from" in one_error_line(run(db, "metrics", "--from", "yesterday"))
    assert "invalid_input" in one_error_line(
        run(db, "metrics", "--from", "2026-11-12", "--to", "2026-11-01")
    )


def test_reset_daily_gives_due_users_their_allowance(db: TestDatabase) -> None:
    users = [db.create_user() for _ in range(3)]
    fresh = db.create_user()
    # two of them spent credits yesterday and have not been reset yet
    with db.connect() as conn:
        for user in users:
            conn.execute(
                "update users set daily_credits = 30,"
                " daily_reset_on = private.credit_day(now()) - 1 where id = %s",
                [user],
            )
            conn.execute(
                "insert into credits_transactions (user_id, daily_delta, kind, balance_after)"
                " values (%s, -70, 'action', 80)",
                [user],
            )
    out = run_json(db, "reset-daily", "--batch-size", "2")
    assert out["users_reset"] == 3 and out["batches"] == 2
    for user in users:
        assert balances(db, user)["daily_credits"] == 100
    assert balances(db, fresh)["daily_credits"] == 100
    assert run_json(db, "reset-daily")["users_reset"] == 0


def _failed_analysis(db: TestDatabase, user: uuid.UUID) -> str:
    with db.api_connect() as conn:
        analysis = rpc(conn, user, "perform_action", action_type="short_chat", input=CHAT)
    with db.connect() as conn:
        conn.execute("set role service_role")
        conn.execute("select * from private.claim_analyses('w', 5, 60)")
        conn.execute(
            "select private.fail_analysis(%s, 'w', 'model unavailable', false)",
            [analysis["analysis_id"]],
        )
    return str(analysis["analysis_id"])


def test_analyses_list_and_retry_a_failed_one(db: TestDatabase) -> None:
    user = db.create_user()
    failed = _failed_analysis(db, user)
    listed = run_json(db, "analyses", "list", "--status", "failed")
    assert [a["id"] for a in listed] == [failed]
    assert listed[0]["error"] == "model unavailable"
    assert run_json(db, "analyses", "list", "--status", "queued") == []
    before = balances(db, user)["credits_remaining"]
    retried = run_json(db, "analyses", "retry", failed)
    assert retried["status"] == "queued" and retried["analysis_id"] == failed
    assert balances(db, user)["credits_remaining"] == before - 5
    queued = run_json(db, "analyses", "list", "--status", "queued", "--user", str(user))
    assert [a["id"] for a in queued] == [failed]
    assert "analysis_not_failed" in one_error_line(run(db, "analyses", "retry", failed))
    bad_status = run(db, "analyses", "list", "--status", "lost")
    assert bad_status.exit_code == 2


def test_reconcile_passes_then_catches_a_corrupted_balance(db: TestDatabase) -> None:
    users = [db.create_user() for _ in range(5)]
    ok = run_json(db, "reconcile", "--batch-size", "2")
    assert ok == {"users_checked": 5, "mismatches": []}
    victim = users[3]
    db.execute("update users set purchased_credits = purchased_credits + 7 where id = %s", [victim])
    try:
        result = run(db, "reconcile", "--batch-size", "2", "--json")
        assert result.exit_code == 1
        report = json.loads(result.stdout)
        assert report["users_checked"] == 5
        assert [m["user_id"] for m in report["mismatches"]] == [str(victim)]
        assert report["mismatches"][0]["purchased_credits"] == 57
        assert report["mismatches"][0]["ledger_purchased"] == 50
        assert f"mismatch: user {victim}" in result.stderr
        # the paged check agrees with the invariant the test harness uses
        assert db.fetchall("select user_id from private.ledger_mismatches()") == [
            {"user_id": victim}
        ]
        human = run(db, "reconcile")
        assert human.exit_code == 1 and str(victim) in human.stdout
    finally:
        db.execute(
            "update users set purchased_credits = purchased_credits - 7 where id = %s", [victim]
        )
    assert run(db, "reconcile").exit_code == 0


# --- doctor: pg_cron jobs ---------------------------------------------------------------------


def test_schedule_intervals_are_read_from_cron_expressions() -> None:
    assert schedule_interval("* * * * *") == dt.timedelta(minutes=1)
    assert schedule_interval("*/15 * * * *") == dt.timedelta(minutes=15)
    assert schedule_interval("17 3 * * *") == dt.timedelta(days=1)
    assert schedule_interval("30 seconds") == dt.timedelta(seconds=30)


JOBS = [
    "flirt_daily_reset",
    "flirt_reap_expired_leases",
    "flirt_refresh_metrics",
    "flirt_retention",
]


@pytest.fixture
def cron_runs(cron_db: TestDatabase) -> Any:
    """Write fake run history for the flirt jobs; the real history is put back afterwards."""
    saved = cron_db.fetchall(
        "select d.* from cron.job_run_details d join cron.job j using (jobid)"
        " where j.jobname like 'flirt\\_%%'"
    )

    def record(job: str, status: str, ago: dt.timedelta, message: str = "") -> None:
        cron_db.execute(
            "insert into cron.job_run_details (jobid, runid, job_pid, database, username,"
            " command, status, return_message, start_time, end_time)"
            " select j.jobid, nextval('cron.runid_seq'), 0, j.database, j.username, j.command,"
            " %s, %s, now() - %s, now() - %s from cron.job j where j.jobname = %s",
            [status, message, ago, ago, job],
        )

    def clear() -> None:
        cron_db.execute(
            "delete from cron.job_run_details d using cron.job j"
            " where d.jobid = j.jobid and j.jobname like 'flirt\\_%%'"
        )

    clear()
    yield record
    clear()
    with cron_db.connect() as conn:
        for row in saved:
            cols = list(row)
            conn.execute(
                f"insert into cron.job_run_details ({', '.join(cols)})"
                f" values ({', '.join(['%s'] * len(cols))})",
                list(row.values()),
            )


def test_doctor_judges_each_cron_job_by_its_last_run(cron_db: TestDatabase, cron_runs: Any) -> None:
    with cron_db.connect() as conn:
        never = {name: status for name, status, _ in cron_job_checks(conn, JOBS)}
    # the cluster has just started: every first run is still to come
    assert set(never.values()) == {"ok"}

    cron_runs("flirt_daily_reset", "succeeded", dt.timedelta(minutes=3))
    cron_runs("flirt_reap_expired_leases", "failed", dt.timedelta(seconds=20), "boom\ntrace")
    cron_runs("flirt_refresh_metrics", "succeeded", dt.timedelta(hours=2))
    cron_runs("flirt_retention", "succeeded", dt.timedelta(hours=20))
    with cron_db.connect() as conn:
        checks = {name: (status, detail) for name, status, detail in cron_job_checks(conn, JOBS)}
    assert checks["cron job flirt_daily_reset"][0] == "ok"
    assert checks["cron job flirt_reap_expired_leases"] == (
        "fail",
        "last run failed 20s ago: boom",
    )
    assert checks["cron job flirt_refresh_metrics"][0] == "fail"  # every 10 min, 2 h ago
    assert checks["cron job flirt_retention"][0] == "ok"


def test_doctor_warns_about_a_job_that_never_ran_on_a_long_running_database() -> None:
    now = dt.datetime.now(dt.UTC)
    job = {"jobname": "flirt_daily_reset", "schedule": "*/15 * * * *", "active": True,
           "status": None, "start_time": None, "end_time": None, "return_message": None,
           "now": now}  # fmt: skip
    assert _judge({**job, "started": now - dt.timedelta(minutes=10)})[0] == "ok"
    assert _judge({**job, "started": now - dt.timedelta(hours=3)}) == (
        "warn",
        "scheduled (*/15 * * * *), no run yet",
    )


def test_doctor_command_reports_cron_failures_with_exit_1(
    cron_db: TestDatabase, cron_runs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", cron_db.owner_dsn)
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "x" * 40)
    for job in JOBS:
        cron_runs(job, "succeeded", dt.timedelta(seconds=30))
    healthy = CliRunner().invoke(app, ["doctor", "--json"])
    rows = {r["check"]: r for r in json.loads(healthy.stdout)}
    assert all(rows[f"cron job {job}"]["status"] == "ok" for job in JOBS), rows
    assert healthy.exit_code == 0, healthy.stdout

    cron_runs("flirt_retention", "failed", dt.timedelta(seconds=5), "permission denied")
    broken = CliRunner().invoke(app, ["doctor", "--json"])
    rows = {r["check"]: r for r in json.loads(broken.stdout)}
    assert rows["cron job flirt_retention"]["status"] == "fail"
    assert "permission denied" in rows["cron job flirt_retention"]["detail"]
    assert broken.exit_code == 1
