"""Group commit for webhook events.

Events that arrive while a batch is being applied go together into the next
batch: one SQL statement, one transaction, one round trip for all of them.
Each event is still recorded and applied at most once, atomically with its
effects (`private.apply_stripe_event`, whose handler runs in its own
subtransaction, so a failing event is recorded as failed without touching
the others). One batch runs at a time, so batches never wait on each other's
row locks. If a whole batch fails (a lost connection, say), its events are
applied one by one so that only the event at fault gets an error.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from pyworker.db import api_error_from

APPLY_ONE = "select private.apply_stripe_event(%s::jsonb) as value"
# The bodies travel as one JSON array built by joining them (each is a verified
# JSON object): far cheaper than quoting them into a text[] parameter.
APPLY_MANY = (
    "select t.n, private.apply_stripe_event(t.event) as value"
    " from jsonb_array_elements(%s::jsonb) with ordinality as t(event, n)"
)


class EventApplier:
    """Applies verified event bodies (JSON text); `await apply(body)` answers its result."""

    def __init__(self, pool: AsyncConnectionPool[Any], max_batch: int = 200) -> None:
        self.pool = pool
        self.max_batch = max_batch
        self._queue: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._draining = False

    async def apply(self, body: str) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.append((body, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                await self._apply_batch(batch)
        finally:
            self._draining = False

    async def _apply_batch(self, batch: list[tuple[str, asyncio.Future[dict[str, Any]]]]) -> None:
        try:
            results = await self._run([body for body, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for body, future in batch:
                try:
                    _settle(future, (await self._run([body]))[0])
                except Exception as one:
                    _settle(future, one)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)

    async def _run(self, bodies: list[str]) -> list[dict[str, Any]]:
        conn = await self.pool.getconn()
        try:
            # autocommit: the statement is the transaction of these events and their effects
            if len(bodies) == 1:
                cur = await conn.execute(APPLY_ONE, bodies)
                row = await cur.fetchone()
                return [row["value"] if row else {}]
            cur = await conn.execute(APPLY_MANY, ["[" + ",".join(bodies) + "]"])
            rows = await cur.fetchall()
            by_position = {row["n"]: row["value"] for row in rows}
            return [by_position[i + 1] for i in range(len(bodies))]
        except psycopg.Error as exc:
            mapped = api_error_from(exc)
            raise (mapped or exc) from exc
        finally:
            await self.pool.putconn(conn)


def _settle(future: asyncio.Future[dict[str, Any]], outcome: dict[str, Any] | Exception) -> None:
    if future.done():  # the waiting request went away
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
