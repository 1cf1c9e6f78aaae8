"""Credits engine: balances, perform_action and its errors, called as PostgREST does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pyworker.settings import load_config
from tests.py.dbtools import TestDatabase, balances, rpc, rpc_error

CHAT = {"chat": "Them: hey you\nMe: hi!", "context": {"goal": "a date", "tone": "playful"}}


def ledger(db: TestDatabase, user: uuid.UUID) -> list[dict[str, Any]]:
    return db.fetchall(
        "select kind, daily_delta, purchased_delta, balance_after, reference, metadata"
        " from credits_transactions where user_id = %s order by id",
        [user],
    )


def state(db: TestDatabase, user: uuid.UUID) -> tuple[Any, ...]:
    """Everything an action could change for this user."""
    return (
        balances(db, user),
        ledger(db, user),
        db.fetchall("select id from analyses where user_id = %s order by id", [user]),
    )


def test_get_credits_shows_allowance_bonus_and_next_reset(db: TestDatabase) -> None:
    cfg = load_config()
    user = db.create_user()
    with db.api_connect() as conn:
        credits = rpc(conn, user, "get_credits")
    allowance = cfg.tiers["pro"].daily_credits
    assert credits["tier"] == "pro"
    assert credits["daily_credits"] == credits["daily_limit"] == allowance
    assert credits["purchased_credits"] == cfg.signup.bonus_credits
    assert credits["credits_remaining"] == allowance + cfg.signup.bonus_credits
    assert credits["restricted"] is False
    expected = db.fetchone(
        "select to_jsonb(private.next_reset_at(private.credit_day(now()))) #>> '{}' as v"
    )
    assert expected is not None and credits["next_reset_at"] == expected["v"]


def test_get_credits_without_sub_claim_is_401(db: TestDatabase) -> None:
    with db.api_connect() as conn:
        err = rpc_error(conn, None, "get_credits")
    assert (err.status, err.code) == (401, "not_authenticated")


def test_perform_action_debits_daily_first_writes_ledger_and_queues(db: TestDatabase) -> None:
    user = db.create_user()
    with db.api_connect() as conn:
        out = rpc(conn, user, "perform_action", action_type="short_chat", input=CHAT)
    assert out["status"] == "queued" and out["replayed"] is False and out["cost"] == 5
    assert (out["daily_credits"], out["purchased_credits"], out["credits_remaining"]) == (
        95,
        50,
        145,
    )
    row = db.fetchone("select * from analyses where id = %s", [out["analysis_id"]])
    assert row is not None
    assert (row["status"], row["daily_cost"], row["purchased_cost"], row["input"]) == (
        "queued",
        5,
        0,
        CHAT,
    )
    assert row["max_attempts"] == load_config().worker.max_attempts
    last = ledger(db, user)[-1]
    assert last == {
        "kind": "action",
        "daily_delta": -5,
        "purchased_delta": 0,
        "balance_after": 145,
        "reference": out["analysis_id"],
        "metadata": {"action_type": "short_chat"},
    }


def test_perform_action_spills_into_purchased_bucket(db: TestDatabase) -> None:
    user = db.create_user()
    db.execute("update users set daily_credits = 3 where id = %s", [user])
    db.execute(
        "insert into credits_transactions (user_id, daily_delta, kind, balance_after)"
        " values (%s, -97, 'admin_adjust', 53)",
        [user],
    )
    with db.api_connect() as conn:
        out = rpc(conn, user, "perform_action", action_type="long_chat", input={"chat": "hi"})
    assert (out["daily_credits"], out["purchased_credits"]) == (0, 33)
    row = db.fetchone(
        "select daily_cost, purchased_cost from analyses where id = %s", [out["analysis_id"]]
    )
    assert row == {"daily_cost": 3, "purchased_cost": 17}


def test_perform_action_notifies_analysis_queued(db: TestDatabase) -> None:
    user = db.create_user()
    with db.connect(autocommit=True) as listener, db.api_connect() as conn:
        listener.execute("listen analysis_queued")
        out = rpc(conn, user, "perform_action", action_type="short_chat", input=CHAT)
        note = next(listener.notifies(timeout=5))
    assert note.payload == out["analysis_id"]


def test_insufficient_credits_changes_nothing(db: TestDatabase) -> None:
    user = db.create_user()
    with db.api_connect() as conn:
        for _ in range(3):
            rpc(
                conn,
                user,
                "perform_action",
                action_type="image_analysis",
                input={"image_path": f"{user}/a.png"},
            )
        db.execute("update analyses set status = 'done' where user_id = %s", [user])
        before = state(db, user)
        err = rpc_error(
            conn,
            user,
            "perform_action",
            action_type="image_analysis",
            input={"image_path": f"{user}/a.png"},
        )
    assert (err.status, err.code) == (402, "insufficient_credits")
    assert err.detail == {"required": 50, "available": 0}
    assert state(db, user) == before


@pytest.mark.parametrize(
    ("action_type", "payload", "field"),
    [
        ("short_chat", None, "input"),
        ("short_chat", [], "input"),
        ("short_chat", {}, "input.chat"),
        ("short_chat", {"chat": 5}, "input.chat"),
        ("short_chat", {"chat": "   \n "}, "input.chat"),
        ("short_chat", {"chat": "x" * 4001}, "input.chat"),
        ("short_chat", {"chat": "hi", "extra": 1}, "input.extra"),
        ("short_chat", {"chat": "hi", "context": "flirty"}, "input.context"),
        ("short_chat", {"chat": "hi", "context": {"mood": "x"}}, "input.context.mood"),
        ("short_chat", {"chat": "hi", "context": {"goal": 1}}, "input.context.goal"),
        ("short_chat", {"chat": "hi", "context": {"tone": "x" * 201}}, "input.context.tone"),
        ("short_chat", {"image_path": "x/y.png"}, "input.image_path"),
        ("long_chat", {"chat": "x" * 70000}, "input"),
        ("image_analysis", {}, "input.image_path"),
        ("image_analysis", {"chat": "hi"}, "input.chat"),
        ("image_analysis", {"image_path": "someone-else/a.png"}, "input.image_path"),
        ("image_analysis", {"image_path": 7}, "input.image_path"),
    ],
)
def test_invalid_input_is_400_naming_the_field_and_changes_nothing(
    db: TestDatabase, action_type: str, payload: Any, field: str
) -> None:
    user = db.create_user()
    before = state(db, user)
    with db.api_connect() as conn:
        err = rpc_error(conn, user, "perform_action", action_type=action_type, input=payload)
    assert (err.status, err.code, err.detail["field"]) == (400, "invalid_input", field)
    assert state(db, user) == before
