"""Group commit of webhook events: one statement for many events, each applied once on its own."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from pyworker.api.deps import make_pool
from pyworker.api.events import EventApplier
from pyworker.db import ApiError
from tests.py.dbtools import TestDatabase, balances
from tests.py.fakes import stripe_events as ev


async def _apply_together(db: TestDatabase, bodies: list[str]) -> list[Any]:
    pool = make_pool(db.owner_dsn, 2)
    await pool.open(wait=True)
    try:
        applier = EventApplier(pool)
        # all queued before the first batch starts: they share one statement
        return await asyncio.gather(*(applier.apply(b) for b in bodies), return_exceptions=True)
    finally:
        await pool.close()


def test_events_applied_together_each_take_effect_once(db: TestDatabase) -> None:
    users = [db.create_user() for _ in range(3)]
    before = {u: balances(db, u)["purchased_credits"] for u in users}
    events = [
        ev.event("payment_intent.succeeded", ev.payment_intent(str(u), "small", 499)) for u in users
    ]
    bodies = [json.dumps(e) for e in events]
    results = asyncio.run(_apply_together(db, [*bodies, bodies[0]]))
    assert [r["status"] for r in results] == ["processed"] * 4
    assert [r["duplicate"] for r in results] == [False, False, False, True]
    for u in users:
        assert balances(db, u)["purchased_credits"] == before[u] + 100


def test_a_failing_event_does_not_undo_the_others_in_its_batch(db: TestDatabase) -> None:
    good, bad_pack = db.create_user(), db.create_user()
    before = balances(db, good)["purchased_credits"]
    ok = ev.event("payment_intent.succeeded", ev.payment_intent(str(good), "small", 499))
    fails = ev.event("payment_intent.succeeded", ev.payment_intent(str(bad_pack), "nope", 1))
    broken = {"id": "evt_broken", "type": "x", "created": 1, "data": {}}  # refused by the SQL
    results = asyncio.run(_apply_together(db, [json.dumps(e) for e in (ok, fails, broken)]))
    assert results[0]["status"] == "processed"
    assert results[1]["status"] == "failed" and results[1]["error"] == "pack_not_found"
    assert isinstance(results[2], ApiError) and results[2].code == "invalid_event"
    assert balances(db, good)["purchased_credits"] == before + 100
    rows = db.fetchall("select id, status from stripe_webhook_events order by id")
    assert {r["id"]: r["status"] for r in rows} == {ok["id"]: "processed", fails["id"]: "failed"}


@pytest.mark.parametrize("count", [40])
def test_many_concurrent_events_for_one_user_all_apply(db: TestDatabase, count: int) -> None:
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    bodies = [
        json.dumps(ev.event("payment_intent.succeeded", ev.payment_intent(str(user), "small", 499)))
        for _ in range(count)
    ]
    results = asyncio.run(_apply_together(db, bodies))
    assert all(r["status"] == "processed" and not r["duplicate"] for r in results)
    assert balances(db, user)["purchased_credits"] == before + 100 * count
