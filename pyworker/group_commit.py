"""Group commit: many concurrent callers, one statement and one commit per batch.

Callers `await submit(item)` and get their own outcome; whatever was submitted
while the previous batch was being written goes into the next one, so a busy
process needs one round trip per batch instead of one per item, and an idle
one writes each item at once. The worker's results and the API's Stripe events
both go through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Writes a batch; returns one outcome per item, in order (an exception for an item that
# failed on its own), or raises when the whole batch failed.
WriteBatch = Callable[[list[T]], Awaitable[list[R | BaseException]]]


class GroupCommit(Generic[T, R]):
    """Batches `submit`ted items into calls of `write_batch`, at most `writers` at once."""

    def __init__(self, write_batch: WriteBatch[T, R], *, max_batch: int, writers: int) -> None:
        self.write_batch = write_batch
        self.max_batch = max_batch
        self.writers = writers
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        # the loop holds tasks only weakly: keep the running writers here
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """Queue `item` for the next batch and wait for its own outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        # a finished writer leaves _tasks one loop step later: count the live ones
        if sum(not task.done() for task in self._tasks) < self.writers:
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            try:
                outcomes = await self.write_batch([item for item, _ in batch])
            except Exception as exc:  # the writer decides what a failed batch means
                outcomes = [exc] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                _settle(future, outcome)


def _settle(future: asyncio.Future[R], outcome: R | BaseException) -> None:
    if future.done():  # the waiting caller went away
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
