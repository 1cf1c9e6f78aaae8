"""Group commit for webhook events.

Events that arrive while a batch is being applied go together into the next
batch: one SQL statement, one transaction, one round trip for all of them.
Each event is still recorded and applied at most once, atomically with its
effects (`private.apply_stripe_event`). One batch runs at a time by default
(`writers`; a second writer measured no faster on two cores), so batches of a
process never wait on each other's row locks. When a batch fails (an event whose
handler raises, a lost connection), its events are applied one by one, and an
event that fails alone is recorded as failed (`private.record_stripe_event_failure`,
its effects undone) so that Stripe's retry or `webhooks replay` runs it again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from pyworker.db import ApiError, api_error_from

log = logging.getLogger("pyworker.api.webhooks")

APPLY_ONE = "select private.apply_stripe_event(%s::jsonb) as value"
RECORD_FAILURE = "select private.record_stripe_event_failure(%s::jsonb, %s) as value"
# The bodies travel as one JSON array built by joining them (each is a verified
# JSON object): far cheaper than quoting them into a text[] parameter. Events
# are applied grouped by the account they name (in arrival order within it), so
# batches from several API processes take account row locks in one order.
APPLY_MANY = """
with batch as materialized (
  select t.event, t.n from jsonb_array_elements(%s::jsonb) with ordinality as t(event, n)
   order by coalesce(t.event #>> '{data,object,metadata,user_id}',
                     (select u.id::text from public.users u
                       where u.stripe_customer_id = t.event #>> '{data,object,customer}'),
                     ''), t.n
)
select b.n, private.apply_stripe_event(b.event) as value from batch b
"""


class EventApplier:
    """Applies verified event bodies (JSON text); `await apply(body)` answers its result."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], writers: int = 1, max_batch: int = 200
    ) -> None:
        self.pool = pool
        self.writers = writers
        self.max_batch = max_batch
        self._queue: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        # the loop holds tasks only weakly: keep the running writers here
        self._tasks: set[asyncio.Task[None]] = set()

    async def apply(self, body: str) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.append((body, future))
        # a finished writer leaves _tasks one loop step later: count the live ones
        if sum(not task.done() for task in self._tasks) < self.writers:
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def record_failure(self, body: str, error: str) -> dict[str, Any]:
        """Keep an event that could not be applied as failed (Stripe's retry applies it)."""
        return await self._call(RECORD_FAILURE, [body, error])

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            await self._apply_batch(batch)

    async def _apply_batch(self, batch: list[tuple[str, asyncio.Future[dict[str, Any]]]]) -> None:
        if len(batch) == 1:
            _settle(batch[0][1], await self._apply_alone(batch[0][0]))
            return
        try:
            results = await self._run([body for body, _ in batch])
        except Exception:
            for body, future in batch:
                _settle(future, await self._apply_alone(body))
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)

    async def _apply_alone(self, body: str) -> dict[str, Any] | Exception:
        try:
            return (await self._run([body]))[0]
        except ApiError as exc:
            if exc.code == "invalid_event":
                return exc
            error = exc.code
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError | psycopg.DataError):
                return exc  # not the event's fault (or not storable): nothing to record
            error = exc.diag.message_primary or type(exc).__name__
        log.warning("stripe_event_failed error=%s", error)
        try:
            return await self._call(RECORD_FAILURE, [body, error])
        except Exception as exc:
            return exc

    async def _call(self, query: str, params: list[Any]) -> dict[str, Any]:
        conn = await self.pool.getconn()
        try:
            cur = await conn.execute(query, params)
            row = await cur.fetchone()
            return row["value"] if row else {}
        finally:
            await self.pool.putconn(conn)

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
