"""perform_action under real concurrency: 16 clients on separate connections."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from pyworker.db import ApiError
from tests.py.dbtools import TestDatabase, balances, rpc

CLIENTS = 16


def set_buckets(db: TestDatabase, user: uuid.UUID, daily: int, purchased: int) -> None:
    """Give the user exact balances, with the ledger row that keeps the invariant."""
    with db.connect() as conn:
        old = conn.execute(
            "select daily_credits, purchased_credits from users where id = %s for update", [user]
        ).fetchone()
        assert old is not None
        conn.execute(
            "update users set daily_credits = %s, purchased_credits = %s where id = %s",
            [daily, purchased, user],
        )
        conn.execute(
            "insert into credits_transactions"
            " (user_id, daily_delta, purchased_delta, kind, balance_after, reference)"
            " values (%s, %s, %s, 'admin_adjust', %s, 'test')",
            [
                user,
                daily - old["daily_credits"],
                purchased - old["purchased_credits"],
                daily + purchased,
            ],
        )


def set_setting(db: TestDatabase, key: str, value: str) -> None:
    db.execute("update app_settings set value = %s::jsonb where key = %s", [value, key])


def race(db: TestDatabase, call: Callable[[Any], Any]) -> list[Any]:
    """Run `call(conn)` once on each of 16 connections, released together."""
    conns = [db.api_connect() for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    results: list[Any] = [None] * CLIENTS

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(conns[i])
        except ApiError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for c in conns:
            c.close()
    return results


def outcome(result: Any) -> str:
    return result.code if isinstance(result, ApiError) else "ok"


def test_exactly_k_of_16_racing_actions_succeed_when_balance_allows_k(db: TestDatabase) -> None:
    set_setting(db, "max_pending_analyses", "100")
    user = db.create_user()
    set_buckets(db, user, daily=12, purchased=26)  # 38 credits: 7 short chats of 5
    results = race(
        db,
        lambda conn: rpc(
            conn, user, "perform_action", action_type="short_chat", input={"chat": "hi"}
        ),
    )
    assert Counter(map(outcome, results)) == {"ok": 7, "insufficient_credits": 9}
    assert balances(db, user)["credits_remaining"] == 3
    split = db.fetchone(
        "select count(*) as n, sum(daily_cost) as d, sum(purchased_cost) as p"
        " from analyses where user_id = %s",
        [user],
    )
    assert split == {"n": 7, "d": 12, "p": 23}
    for failed in (r for r in results if isinstance(r, ApiError)):
        assert failed.status == 402 and failed.detail["required"] == 5
        assert failed.detail["available"] < 5


def test_same_idempotency_key_from_16_clients_charges_once(db: TestDatabase) -> None:
    user = db.create_user()
    before = balances(db, user)["credits_remaining"]
    key = str(uuid.uuid4())
    results = race(
        db,
        lambda conn: rpc(
            conn,
            user,
            "perform_action",
            action_type="long_chat",
            input={"chat": "hello"},
            idempotency_key=key,
        ),
    )
    assert all(not isinstance(r, ApiError) for r in results), results
    assert len({r["analysis_id"] for r in results}) == 1
    assert Counter(r["replayed"] for r in results) == {True: 15, False: 1}
    assert balances(db, user)["credits_remaining"] == before - 20
    assert all(r["credits_remaining"] in (before - 20,) for r in results)
    counts = db.fetchone(
        "select (select count(*) from analyses where user_id = %(u)s) as analyses,"
        " (select count(*) from credits_transactions where user_id = %(u)s and kind = 'action')"
        " as charges",
        {"u": user},
    )
    assert counts == {"analyses": 1, "charges": 1}


def test_pending_limit_holds_under_a_race(db: TestDatabase) -> None:
    user = db.create_user()
    set_buckets(db, user, daily=100, purchased=1000)
    results = race(
        db,
        lambda conn: rpc(
            conn, user, "perform_action", action_type="short_chat", input={"chat": "x"}
        ),
    )
    assert Counter(map(outcome, results)) == {"ok": 5, "too_many_pending": 11}
    assert balances(db, user)["credits_remaining"] == 1100 - 25


def test_racing_users_each_pay_only_for_their_own_action(db: TestDatabase) -> None:
    users = [db.create_user() for _ in range(CLIENTS)]
    turn = iter(range(CLIENTS))
    lock = threading.Lock()

    def act(conn: Any) -> Any:
        with lock:
            user = users[next(turn)]
        return rpc(conn, user, "perform_action", action_type="short_chat", input={"chat": "hi"})

    results = race(db, act)
    assert all(not isinstance(r, ApiError) for r in results)
    assert [balances(db, u)["credits_remaining"] for u in users] == [145] * CLIENTS
