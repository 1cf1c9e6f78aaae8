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

import contextlib
import logging
from typing import Any

from pyworker.db import (
    ApiError,
    AsyncPool,
    DatabaseError,
    DatabaseUnavailable,
    InvalidValue,
    async_fetch,
)
from pyworker.group_commit import GroupCommit
from pyworker.queries import Q

log = logging.getLogger("pyworker.api.webhooks")


class EventApplier:
    """Applies verified event bodies (JSON text); `await apply(body)` answers its result."""

    def __init__(self, pool: AsyncPool[Any], writers: int = 1, max_batch: int = 200) -> None:
        self.pool = pool
        self._batches = GroupCommit[str, dict[str, Any]](
            self._apply_batch, max_batch=max_batch, writers=writers
        )

    async def apply(self, body: str) -> dict[str, Any]:
        """Apply one verified event body (group commit with concurrent deliveries)."""
        return await self._batches.submit(body)

    async def record_failure(self, body: str, error: str) -> dict[str, Any]:
        """Keep an event that could not be applied as failed (Stripe's retry applies it)."""
        return await self._call(Q["record_event_failure"], [body, error])

    async def _apply_batch(self, bodies: list[str]) -> list[dict[str, Any] | BaseException]:
        """One statement for the batch; if it fails, each event alone (and recorded as
        failed when it is the event's fault)."""
        if len(bodies) > 1:
            with contextlib.suppress(Exception):
                return list(await self._run(bodies))
        return [await self._apply_alone(body) for body in bodies]

    async def _apply_alone(self, body: str) -> dict[str, Any] | Exception:
        try:
            return (await self._run([body]))[0]
        except ApiError as exc:
            if exc.code == "invalid_event":
                return exc
            error = exc.code
        except DatabaseError as exc:
            if isinstance(exc, DatabaseUnavailable | InvalidValue):
                return exc  # not the event's fault (or not storable): nothing to record
            error = exc.diag.message_primary or type(exc).__name__
        log.warning("stripe_event_failed error=%s", error)
        try:
            return await self._call(Q["record_event_failure"], [body, error])
        except Exception as exc:
            return exc

    async def _call(self, query: str, params: list[Any]) -> dict[str, Any]:
        rows = await async_fetch(self.pool, query, params)
        return rows[0]["value"] if rows else {}

    async def _run(self, bodies: list[str]) -> list[dict[str, Any]]:
        # autocommit: the statement is the transaction of these events and their effects
        if len(bodies) == 1:
            rows = await async_fetch(self.pool, Q["apply_event"], bodies)
            return [rows[0]["value"] if rows else {}]
        rows = await async_fetch(self.pool, Q["apply_events"], ["[" + ",".join(bodies) + "]"])
        by_position = {row["n"]: row["value"] for row in rows}
        return [by_position[i + 1] for i in range(len(bodies))]
