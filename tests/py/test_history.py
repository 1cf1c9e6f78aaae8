"""History, single analyses and saved replies: own rows only, stable keyset pages."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from pyworker.db import ApiError
from tests.py.dbtools import TestDatabase, rpc, rpc_error


def add_analyses(db: TestDatabase, user: uuid.UUID, count: int, same_time: bool = False) -> None:
    """Insert finished analyses directly (history content, no credits involved)."""
    created = "now()" if same_time else "now() - make_interval(secs => g)"
    db.execute(
        "insert into analyses (user_id, action_type, cost, daily_cost, input, status, created_at)"
        f" select %s, 'short_chat', 5, 5, '{{}}'::jsonb, 'done', {created}"
        " from generate_series(1, %s) g",
        [user, count],
    )


def all_pages(conn: Any, user: uuid.UUID, fn: str, page_size: int) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        out = rpc(conn, user, fn, page_size=page_size, cursor=cursor)
        pages.append(out["items"])
        cursor = out["next_cursor"]
        if cursor is None:
            return pages


def test_history_pages_cover_every_own_analysis_once_newest_first(db: TestDatabase) -> None:
    user, other = db.create_user(), db.create_user()
    add_analyses(db, user, 25)
    add_analyses(db, user, 7, same_time=True)  # equal created_at: the id breaks the tie
    add_analyses(db, other, 3)
    with db.api_connect() as conn:
        pages = all_pages(conn, user, "get_history", 10)
    assert [len(p) for p in pages] == [10, 10, 10, 2]
    items = [i for p in pages for i in p]
    expected = db.fetchall(
        "select id::text from analyses where user_id = %s order by created_at desc, id desc", [user]
    )
    assert [i["analysis_id"] for i in items] == [r["id"] for r in expected]
    assert set(items[0]) == {
        "analysis_id",
        "action_type",
        "status",
        "cost",
        "created_at",
        "finished_at",
    }


def test_history_last_page_exactly_full_has_no_cursor(db: TestDatabase) -> None:
    user = db.create_user()
    add_analyses(db, user, 4)
    with db.api_connect() as conn:
        out = rpc(conn, user, "get_history", page_size=4)
        empty = rpc(conn, db.create_user(), "get_history")
    assert len(out["items"]) == 4 and out["next_cursor"] is None
    assert empty == {"items": [], "next_cursor": None}


def test_history_paging_during_concurrent_inserts_has_no_duplicates_or_gaps(
    db: TestDatabase,
) -> None:
    user = db.create_user()
    add_analyses(db, user, 60)
    existing = {
        r["id"] for r in db.fetchall("select id::text from analyses where user_id = %s", [user])
    }
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            add_analyses(db, user, 1, same_time=True)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with db.api_connect() as conn:
            seen = [i["analysis_id"] for p in all_pages(conn, user, "get_history", 7) for i in p]
    finally:
        stop.set()
        thread.join()
    assert len(seen) == len(set(seen)), "duplicate across pages"
    assert existing <= set(seen), "an existing analysis was skipped"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "aGVsbG8"}, "cursor"),
    ],
)
def test_history_rejects_bad_page_size_and_cursor(
    db: TestDatabase, params: dict[str, Any], field: str
) -> None:
    user = db.create_user()
    with db.api_connect() as conn:
        err = rpc_error(conn, user, "get_history", **params)
    assert (err.status, err.code, err.detail["field"]) == (400, "invalid_input", field)


def test_saved_replies_cursor_is_not_a_history_cursor(db: TestDatabase) -> None:
    user = db.create_user()
    add_analyses(db, user, 3)
    with db.api_connect() as conn:
        cursor = rpc(conn, user, "get_history", page_size=1)["next_cursor"]
        err = rpc_error(conn, user, "get_saved_replies", cursor=cursor)
    assert (err.code, err.detail["field"]) == ("invalid_input", "cursor")


def test_get_analysis_returns_own_and_hides_others(db: TestDatabase) -> None:
    user, other = db.create_user(), db.create_user()
    with db.api_connect() as conn:
        made = rpc(conn, user, "perform_action", action_type="short_chat", input={"chat": "hi"})
        mine = rpc(conn, user, "get_analysis", analysis_id=made["analysis_id"])
        foreign = rpc_error(conn, other, "get_analysis", analysis_id=made["analysis_id"])
        unknown = rpc_error(conn, user, "get_analysis", analysis_id=str(uuid.uuid4()))
    assert mine["analysis_id"] == made["analysis_id"] and mine["input"] == {"chat": "hi"}
    assert mine["status"] == "queued" and mine["result"] is None
    assert set(mine) == {
        "analysis_id", "action_type", "status", "cost", "input", "result", "error",
        "model", "usage", "created_at", "started_at", "finished_at",
    }  # fmt: skip
    assert (foreign.status, foreign.code) == (404, "analysis_not_found")
    assert (unknown.status, unknown.code) == (404, "analysis_not_found")


def test_save_reply_twice_returns_the_first_row(db: TestDatabase) -> None:
    user = db.create_user()
    add_analyses(db, user, 1)
    analysis = db.fetchone("select id::text from analyses where user_id = %s", [user])
    assert analysis is not None
    with db.api_connect() as conn:
        first = rpc(conn, user, "save_reply", analysis_id=analysis["id"], reply="Drinks Friday?")
        again = rpc(conn, user, "save_reply", analysis_id=analysis["id"], reply="Drinks Friday?")
        other = rpc(conn, user, "save_reply", analysis_id=analysis["id"], reply="Coffee?")
        listed = rpc(conn, user, "get_saved_replies")
    assert again == first and other["id"] != first["id"]
    assert set(first) == {"id", "analysis_id", "reply", "created_at"}
    assert [i["id"] for i in listed["items"]] == [other["id"], first["id"]]
    assert listed["next_cursor"] is None


def test_concurrent_identical_saves_keep_one_row(db: TestDatabase) -> None:
    user = db.create_user()
    add_analyses(db, user, 1)
    analysis = db.fetchone("select id::text from analyses where user_id = %s", [user])
    assert analysis is not None
    results: list[str] = []
    barrier = threading.Barrier(8)

    def save() -> None:
        with db.api_connect() as conn:
            barrier.wait()
            out = rpc(conn, user, "save_reply", analysis_id=analysis["id"], reply="Same words")
            results.append(out["id"])

    threads = [threading.Thread(target=save) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    row = db.fetchone("select count(*) as n from saved_replies where user_id = %s", [user])
    assert row == {"n": 1}


def test_save_reply_errors(db: TestDatabase) -> None:
    user, other = db.create_user(), db.create_user()
    add_analyses(db, other, 1)
    foreign = db.fetchone("select id::text from analyses where user_id = %s", [other])
    assert foreign is not None
    with db.api_connect() as conn:
        empty = rpc_error(conn, user, "save_reply", analysis_id=None, reply="")
        long = rpc_error(conn, user, "save_reply", analysis_id=None, reply="x" * 2001)
        theirs = rpc_error(conn, user, "save_reply", analysis_id=foreign["id"], reply="hi")
    assert (empty.status, empty.code, empty.detail["field"]) == (400, "invalid_input", "reply")
    assert (long.status, long.code) == (400, "invalid_input")
    assert (theirs.status, theirs.code) == (404, "analysis_not_found")
    assert db.fetchone("select count(*) as n from saved_replies") == {"n": 0}


def test_saved_replies_paginate_and_delete_only_own(db: TestDatabase) -> None:
    user, other = db.create_user(), db.create_user()
    with db.api_connect() as conn:
        saved = [rpc(conn, user, "save_reply", analysis_id=None, reply=f"r{i}") for i in range(5)]
        pages = all_pages(conn, user, "get_saved_replies", 2)
        assert [len(p) for p in pages] == [2, 2, 1]
        assert {i["id"] for p in pages for i in p} == {s["id"] for s in saved}
        not_theirs = rpc_error(conn, other, "delete_saved_reply", reply_id=saved[0]["id"])
        deleted = rpc(conn, user, "delete_saved_reply", reply_id=saved[0]["id"])
        gone = rpc_error(conn, user, "delete_saved_reply", reply_id=saved[0]["id"])
        left = rpc(conn, user, "get_saved_replies", page_size=100)
    assert (not_theirs.status, not_theirs.code) == (404, "reply_not_found")
    assert deleted == {"id": saved[0]["id"], "deleted": True}
    assert (gone.status, gone.code) == (404, "reply_not_found")
    assert len(left["items"]) == 4


def test_saved_replies_stop_at_the_limit_until_one_is_deleted(db: TestDatabase) -> None:
    """A user keeps at most max_saved_replies; concurrent saves cannot pass it."""
    db.execute("update app_settings set value = '6' where key = 'max_saved_replies'")
    user, other = db.create_user(), db.create_user()
    saved: list[dict[str, Any]] = []
    refused: list[ApiError] = []
    barrier = threading.Barrier(8)

    def save(i: int) -> None:
        with db.api_connect() as conn:
            barrier.wait()
            try:
                saved.append(rpc(conn, user, "save_reply", analysis_id=None, reply=f"r{i}"))
            except ApiError as exc:
                refused.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(saved) == 6 and len(refused) == 2
    full = refused[0]
    assert (full.status, full.code) == (409, "too_many_saved_replies")
    assert full.detail == {"saved": 6, "max_saved_replies": 6}
    count = "select count(*) as n from saved_replies where user_id = %s"
    assert db.fetchone(count, [user]) == {"n": 6}

    with db.api_connect() as conn:
        # saving one already saved still answers it; another user has their own limit
        again = rpc(conn, user, "save_reply", analysis_id=None, reply=saved[0]["reply"])
        assert again["id"] == saved[0]["id"]
        assert rpc(conn, other, "save_reply", analysis_id=None, reply="mine")["reply"] == "mine"
        rpc(conn, user, "delete_saved_reply", reply_id=saved[1]["id"])
        assert rpc(conn, user, "save_reply", analysis_id=None, reply="room now")["reply"]
    assert db.fetchone(count, [user]) == {"n": 6}
