"""Deleting screenshots from Storage: the worker's second queue.

The database queues what must go (`private.screenshot_deletions`: deleted accounts'
folders, screenshots whose analysis input was purged); this loop claims a few at a
time, deletes them from Storage and reports each one back. The rules (who may be
claimed, backoff after a failure) live in `supabase/functions_sql/45_screenshots.sql`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, LiteralString

from prometheus_client import Counter

from pyworker.db import DatabaseError, DatabaseUnavailable
from pyworker.logs import first_line, log_event
from pyworker.queries import Q
from pyworker.storage import ScreenshotStore

CLEANUP_BATCH = 5  # screenshot deletions claimed at once (each may page through a folder)

SCREENSHOTS_DELETED = Counter(
    "flirt_worker_screenshot_deletions_total",
    "Screenshot deletions from Storage (deleted accounts, purged inputs)",
    ["outcome"],
)
log = logging.getLogger("pyworker.worker")

Query = Callable[[LiteralString, list[Any]], Awaitable[list[dict[str, Any]]]]


class ScreenshotCleanup:
    """Claims queued screenshot deletions, deletes them from Storage, reports each back.

    `query` runs one statement as the worker role (the worker's own pool), so the
    loop shares its connections, retries and error mapping."""

    def __init__(
        self, query: Query, store: ScreenshotStore, stop: asyncio.Event, idle_seconds: float
    ) -> None:
        self.query = query
        self.store = store
        self.stop = stop
        self.idle_seconds = idle_seconds

    async def run(self) -> None:
        """Until stopped: one batch, then a pause when the queue ran dry or a deletion failed."""
        while not self.stop.is_set():
            claimed, failed = await self.run_once()
            if failed or claimed < CLEANUP_BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.idle_seconds)

    async def run_once(self) -> tuple[int, int]:
        """One batch; returns (claimed, failed)."""
        try:
            rows = await self.query(Q["claim_deletions"], [CLEANUP_BATCH])
        except DatabaseError as exc:
            if not isinstance(exc, DatabaseUnavailable):  # outages: the claim loop
                log_event(log, logging.WARNING, "screenshot_claim_failed", error=first_line(exc))
            return 0, 0
        failed = 0
        for row in rows:
            if self.stop.is_set():
                break  # unreported: claimed again after its retry time
            error = await self._delete(row)
            failed += error is not None
            try:
                await self.query(Q["finish_deletion"], [row["deletion_id"], error])
            except DatabaseError as exc:  # unreported: claimed again after its retry time
                log_event(log, logging.WARNING, "screenshot_report_failed", error=first_line(exc))
        return len(rows), failed

    async def _delete(self, row: dict[str, Any]) -> str | None:
        """Delete one queued path from Storage; the error to report, or None."""
        try:
            files = await self.store.delete(row["path"], row["queued_at"])
        except Exception as exc:  # Storage errors, network errors: retried later
            error = first_line(exc) or type(exc).__name__
            SCREENSHOTS_DELETED.labels("error").inc()
            log_event(
                log,
                logging.WARNING,
                "screenshot_delete_failed",
                deletion_id=row["deletion_id"],
                attempt=row["attempts"],
                error=error,
            )
            return error
        SCREENSHOTS_DELETED.labels("ok").inc()
        log_event(
            log, logging.INFO, "screenshots_deleted", deletion_id=row["deletion_id"], files=files
        )
        return None
