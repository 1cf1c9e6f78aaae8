"""The analysis worker: claims queued analyses, calls the AI provider, stores results.

Run with `flirt-admin worker run` or `python -m pyworker.worker`.

Concurrency model: one asyncio event loop with N provider calls in flight as
tasks, and an async psycopg pool for the short SQL calls. AI calls are slow
network waits, so tasks are cheaper than threads (32 calls in flight cost a
few KB each, no GIL contention, and cancellation on SIGTERM is one `cancel()`);
the SDKs we use (openai, psycopg) are natively async.

Every rule (leases, retries, backoff, refunds) lives in the SQL functions of
`supabase/functions_sql/40_worker.sql`; this process only moves data. It runs
as the role `flirt_worker`, which can execute those functions and read no
table. Logs are `event key=value …` lines and never contain chat text.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import functools
import logging
import os
import secrets as pysecrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, LiteralString

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from pyworker.db import (
    DatabaseError,
    DatabaseUnavailable,
    Jsonb,
    async_connect,
    async_fetch,
    async_pool,
    listen_connect,
)
from pyworker.group_commit import GroupCommit
from pyworker.logs import first_line, log_event
from pyworker.providers import (
    AnalysisRequest,
    Provider,
    ProviderError,
    ProviderOutput,
    make_provider,
)
from pyworker.queries import Q
from pyworker.screenshot_cleanup import ScreenshotCleanup
from pyworker.settings import Config, SettingsError, load_config, load_secrets
from pyworker.storage import ScreenshotStore

WORKER_ROLE = "flirt_worker"
APPLICATION_NAME = "flirt-worker"  # visible in pg_stat_activity
COMPLETE_BATCH = 100  # results written per statement at most
COMPLETE_WRITERS = 2  # batched result writes in flight at once
# Set in every transaction of the worker (DATABASE_URL may be a transaction pooler).
# Safe without a flush per commit: if a crash loses the last few commits, whole
# transactions are lost (a result, or a requeue with its refund), the lease expires
# and the analysis simply runs again. Charging happened durably in perform_action;
# the ledger stays consistent.
WORKER_SETTINGS = {"synchronous_commit": "off"}
log = logging.getLogger("pyworker.worker")

# -- metrics --------------------------------------------------------------------
CLAIMED = Counter("flirt_worker_claimed_total", "Analyses claimed")
DONE = Counter("flirt_worker_done_total", "Analyses completed with a result")
FAILED = Counter("flirt_worker_failed_total", "Analyses failed for good (and refunded)")
RETRIED = Counter("flirt_worker_retried_total", "Failed attempts requeued with backoff")
REFUNDED = Counter("flirt_worker_refunded_total", "Analyses whose cost was refunded")
RELEASED = Counter("flirt_worker_released_total", "Analyses handed back on shutdown")
LEASE_LOST = Counter("flirt_worker_lease_lost_total", "Results dropped: the lease had moved on")
LATENCY = Histogram(
    "flirt_worker_provider_seconds",
    "AI provider call duration",
    ["provider", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120),
)
QUEUE = Gauge(
    "flirt_worker_queue_depth", "Analyses (and screenshot deletions) waiting, by state", ["state"]
)
IN_FLIGHT = Gauge("flirt_worker_in_flight", "Analyses this worker is processing")


class Completion(enum.Enum):
    """What became of a result sent to complete_analyses."""

    APPLIED = "applied"  # stored; the analysis is done
    LEASE_LOST = "lease_lost"  # another worker (or the reaper) had it by then: dropped


@dataclass(frozen=True)
class ResultRefused:
    """complete_analyses refused the result: `field` is the first one out of shape."""

    field: str


CompletionOutcome = Completion | ResultRefused


def event(level: int, name: str, **fields: Any) -> None:
    """One structured log line: the event name, then key=value fields."""
    log_event(log, level, name, **fields)


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int
    batch_size: int
    lease_seconds: int
    heartbeat_seconds: float
    poll_seconds: float
    shutdown_grace_seconds: float
    cleanup_seconds: float = 60.0
    exit_when_empty: bool = False

    @classmethod
    def from_config(cls, cfg: Config, **overrides: Any) -> WorkerOptions:
        w = cfg.worker
        values: dict[str, Any] = {
            "concurrency": w.concurrency,
            "batch_size": w.batch_size,
            "lease_seconds": w.lease_seconds,
            "heartbeat_seconds": w.heartbeat_seconds,
            "poll_seconds": w.poll_seconds,
            "shutdown_grace_seconds": w.shutdown_grace_seconds,
            "cleanup_seconds": w.screenshot_cleanup_seconds,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class WorkerSetupError(Exception):
    """The worker cannot run against this database; the message says what to do."""


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{pysecrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        dsn: str,
        provider: Provider,
        store: ScreenshotStore,
        options: WorkerOptions,
        worker_id: str | None = None,
        listen_dsn: str | None = None,
    ) -> None:
        self.dsn = dsn  # DATABASE_URL: claims and results, one transaction per statement
        self.listen_dsn = listen_dsn or dsn  # DIRECT_URL: LISTEN needs a session
        self.provider = provider
        self.store = store
        self.opts = options
        self.worker_id = worker_id or new_worker_id()
        self.pool = async_pool(
            dsn,
            name="flirt-worker",
            role=WORKER_ROLE,
            settings=WORKER_SETTINGS,
            max_size=min(options.concurrency, 8) + 2,
            application_name=APPLICATION_NAME,
        )
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._saving: set[str] = set()  # result being written: a heartbeat miss must not cancel
        # Analyses whose provider call is running: only these count against `concurrency`,
        # so the next batch is claimed while finished results are still being written.
        self._calling: set[str] = set()
        self._lost: set[str] = set()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._backlog = False
        self._completions = GroupCommit[dict[str, Any], CompletionOutcome](
            self._write_completions, max_batch=COMPLETE_BATCH, writers=COMPLETE_WRITERS
        )
        self._latency_ok = LATENCY.labels(provider.name, "ok")
        self._latency_error = LATENCY.labels(provider.name, "error")

    # -- lifecycle ------------------------------------------------------------

    def request_stop(self) -> None:
        if not self._stop.is_set():
            event(
                logging.INFO,
                "worker_stopping",
                worker_id=self.worker_id,
                in_flight=len(self._inflight),
            )
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        if not await self._preflight():
            await self.provider.aclose()
            return
        await self.pool.open(wait=False)
        background = [
            asyncio.create_task(self._listen(), name="listen"),
            asyncio.create_task(self._heartbeats(), name="heartbeat"),
            asyncio.create_task(self._queue_stats(), name="stats"),
            asyncio.create_task(
                ScreenshotCleanup(
                    self._query, self.store, self._stop, self.opts.cleanup_seconds
                ).run(),
                name="screenshot-cleanup",
            ),
        ]
        event(
            logging.INFO,
            "worker_started",
            worker_id=self.worker_id,
            provider=self.provider.name,
            concurrency=self.opts.concurrency,
            batch_size=self.opts.batch_size,
            lease_seconds=self.opts.lease_seconds,
        )
        try:
            await self._claim_loop()
        finally:
            await self._drain()
            await _cancel_all(background)
            await self.pool.close()
            await self.provider.aclose()
            event(logging.INFO, "worker_stopped", worker_id=self.worker_id)

    async def _preflight(self) -> bool:
        """Wait for the database (with backoff) and check the worker role; False if stopped."""
        backoff = 0.2
        while not self._stop.is_set():
            try:
                conn = await async_connect(
                    self.dsn, role=WORKER_ROLE, autocommit=True, connect_timeout=10
                )
            except DatabaseUnavailable as exc:
                event(
                    logging.WARNING,
                    "db_unavailable",
                    during="startup",
                    error=first_line(exc),
                    retry_in=round(backoff, 2),
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            async with conn:
                try:
                    await conn.execute(Q["queue_stats"])
                except DatabaseError as exc:
                    raise WorkerSetupError(
                        f"the database is not ready for the worker ({first_line(exc)}): "
                        "run `flirt-admin db migrate`"
                    ) from exc
            return True
        return False

    async def _claim_loop(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            self._wake.clear()
            free = min(
                self.opts.concurrency - len(self._calling),
                # bound the results waiting to be written too (a slow database)
                4 * self.opts.concurrency - len(self._inflight),
            )
            full = False
            if free > 0:
                want = min(free, self.opts.batch_size)
                try:
                    rows = await self._query(
                        Q["claim"], [self.worker_id, want, self.opts.lease_seconds]
                    )
                except DatabaseError as exc:  # also e.g. a read-only node after failover
                    event(
                        logging.WARNING,
                        "db_unavailable",
                        during="claim",
                        error=first_line(exc),
                        retry_in=round(backoff, 2),
                    )
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                backoff = 0.1
                for row in rows:
                    self._start(row)
                full = len(rows) == want
                self._backlog = full
                if not rows and not self._inflight and self.opts.exit_when_empty:
                    event(logging.INFO, "queue_empty", worker_id=self.worker_id)
                    return
            else:
                self._backlog = True  # no room to claim: the next finished call wakes us
            if full and len(self._calling) < self.opts.concurrency:
                continue
            await self._wait_for_wake(await self._until_next_due())

    async def _until_next_due(self) -> float:
        """How long to sleep: the poll interval, or less when a retry comes due sooner
        (its requeue notified while it still had to wait out its backoff)."""
        try:
            rows = await self._query(Q["next_due"], [])
        except DatabaseError:
            return self.opts.poll_seconds  # the claim loop reports outages
        seconds = rows[0]["seconds"] if rows else None
        return self.opts.poll_seconds if seconds is None else min(seconds, self.opts.poll_seconds)

    async def _wait_for_wake(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _drain(self) -> None:
        """Let in-flight analyses finish within the grace period, then release the rest."""
        if not self._inflight:
            return
        tasks = dict(self._inflight)
        _, pending = await asyncio.wait(tasks.values(), timeout=self.opts.shutdown_grace_seconds)
        if not pending:
            return
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        left = [aid for aid, task in tasks.items() if task in pending and aid not in self._lost]
        deadline = time.monotonic() + 10
        for aid in left:
            try:
                rows = await self._query(Q["release"], [aid, self.worker_id], deadline=deadline)
            except DatabaseUnavailable as exc:
                # the lease simply expires and another worker (or the reaper) takes over
                event(logging.WARNING, "release_failed", analysis_id=aid, error=first_line(exc))
                continue
            if rows and rows[0]["ok"]:
                RELEASED.inc()
                event(logging.INFO, "analysis_released", analysis_id=aid)

    # -- one analysis -----------------------------------------------------------

    def _start(self, row: dict[str, Any]) -> None:
        aid = str(row["analysis_id"])
        CLAIMED.inc()
        if aid in self._inflight:
            # our own expired lease, claimed again: the running task keeps going
            event(logging.INFO, "analysis_reclaimed_by_self", analysis_id=aid)
            return
        task = asyncio.create_task(self._process(aid, row), name=f"analysis-{aid}")
        self._inflight[aid] = task
        self._calling.add(aid)
        IN_FLIGHT.set(len(self._inflight))
        task.add_done_callback(functools.partial(self._finished, aid))

    def _finished(self, aid: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(aid, None)
        self._saving.discard(aid)
        self._calling.discard(aid)
        if not self._stop.is_set():  # on shutdown _drain still needs to know
            self._lost.discard(aid)
        IN_FLIGHT.set(len(self._inflight))
        if self._backlog or self.opts.exit_when_empty:  # more work may be waiting
            self._wake.set()

    def _call_finished(self, aid: str) -> None:
        self._calling.discard(aid)
        if self._backlog or self.opts.exit_when_empty:
            self._wake.set()

    async def _process(self, aid: str, row: dict[str, Any]) -> None:
        attempt = int(row["attempts"])
        started = time.monotonic()
        try:
            try:
                request = await self._request(aid, row)
                output = await self.provider.analyze(request)
            finally:
                self._call_finished(aid)
        except ProviderError as exc:
            self._latency_error.observe(time.monotonic() - started)
            await self._fail(aid, attempt, exc.code, str(exc), exc.retryable, exc.retry_after)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # a bug or an unexpected library error: never store an invented result
            event(
                logging.ERROR,
                "analysis_error",
                analysis_id=aid,
                attempt=attempt,
                error_type=type(exc).__name__,
            )
            await self._fail(
                aid, attempt, "internal_error", f"internal_error: {type(exc).__name__}", True, None
            )
            return
        elapsed = time.monotonic() - started
        self._latency_ok.observe(elapsed)
        self._saving.add(aid)
        try:
            outcome = await self._save_result(aid, output)
        except DatabaseError as exc:
            # the lease expires and the analysis is retried (or failed and refunded by the reaper)
            event(logging.ERROR, "result_not_saved", analysis_id=aid, error=first_line(exc))
            return
        if isinstance(outcome, ResultRefused):
            event(logging.ERROR, "result_rejected", analysis_id=aid, field=outcome.field)
            self._saving.discard(aid)
            await self._fail(
                aid, attempt, "invalid_output", "invalid_output: result refused", True, None
            )
            return
        if outcome is Completion.APPLIED:
            DONE.inc()
            event(
                logging.INFO,
                "analysis_done",
                analysis_id=aid,
                attempt=attempt,
                model=output.model,
                prompt_version=output.prompt_version,
                duration_ms=round(elapsed * 1000),
                tokens=output.usage.total_tokens,
            )
        else:
            LEASE_LOST.inc()
            event(logging.WARNING, "lease_lost", analysis_id=aid, attempt=attempt, phase="complete")

    async def _save_result(self, aid: str, output: ProviderOutput) -> CompletionOutcome:
        """Queue the result for the next batched write (group commit) and wait for it."""
        return await self._completions.submit(
            {
                "analysis_id": aid,
                "result": output.result.model_dump(),
                "model": output.model,
                "usage": output.usage.model_dump(),
                "prompt_version": output.prompt_version,
            }
        )

    async def _write_completions(
        self, batch: list[dict[str, Any]]
    ) -> list[CompletionOutcome | BaseException]:
        """One statement for the batch; if Postgres refuses it (say a NUL character in one
        result), each result is written alone so one bad result cannot sink the others."""
        try:
            rows = await self._query(
                Q["complete_many"], [self.worker_id, Jsonb(batch)], deadline=self._save_deadline()
            )
        except DatabaseUnavailable as exc:
            return [exc] * len(batch)
        except DatabaseError:
            if len(batch) == 1:
                return [ResultRefused("result")]
            return [outcome for item in batch for outcome in await self._write_completions([item])]
        out = rows[0]["out"]
        applied = set(out["applied"])
        invalid = {item["analysis_id"]: item["field"] for item in out["invalid"]}
        return [
            Completion.APPLIED
            if payload["analysis_id"] in applied
            else ResultRefused(invalid[payload["analysis_id"]])
            if payload["analysis_id"] in invalid
            else Completion.LEASE_LOST
            for payload in batch
        ]

    async def _request(self, aid: str, row: dict[str, Any]) -> AnalysisRequest:
        data = row["input"]
        if not isinstance(data, dict):
            raise ProviderError("input_missing", "the analysis input was purged", retryable=False)
        image, mime = None, "image/png"
        if row["action_type"] == "image_analysis":
            image, mime = await self.store.load(str(data.get("image_path", "")))
        return AnalysisRequest(
            analysis_id=aid,
            action_type=str(row["action_type"]),
            input=data,
            attempt=int(row["attempts"]),
            image=image,
            image_mime=mime,
        )

    async def _fail(
        self,
        aid: str,
        attempt: int,
        code: str,
        message: str,
        retryable: bool,
        retry_after: float | None,
    ) -> None:
        try:
            rows = await self._query(
                Q["fail"],
                [aid, self.worker_id, message, retryable, retry_after],
                deadline=self._save_deadline(),
            )
        except DatabaseError as exc:
            event(logging.ERROR, "failure_not_saved", analysis_id=aid, error=first_line(exc))
            return
        status = rows[0]["status"] if rows else None
        if status == "queued":
            RETRIED.inc()
            event(
                logging.WARNING,
                "analysis_retry",
                analysis_id=aid,
                attempt=attempt,
                error=code,
                retry_after=retry_after,
            )
        elif status == "failed":
            FAILED.inc()
            REFUNDED.inc()
            event(
                logging.WARNING,
                "analysis_failed",
                analysis_id=aid,
                attempt=attempt,
                error=code,
                retryable=retryable,
                refunded=True,
            )
        else:
            LEASE_LOST.inc()
            event(logging.WARNING, "lease_lost", analysis_id=aid, attempt=attempt, phase="fail")

    def _save_deadline(self) -> float:
        # keep retrying a save through a database outage, longer when not shutting down
        return time.monotonic() + (self.opts.shutdown_grace_seconds if self._stop.is_set() else 300)

    # -- background loops ---------------------------------------------------------

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.opts.heartbeat_seconds)
            for aid in list(self._inflight):
                if aid in self._saving:
                    continue
                try:
                    rows = await self._query(
                        Q["heartbeat"],
                        [aid, self.worker_id, self.opts.lease_seconds],
                        deadline=time.monotonic() + self.opts.heartbeat_seconds,
                    )
                except DatabaseError as exc:
                    event(
                        logging.WARNING, "heartbeat_failed", analysis_id=aid, error=first_line(exc)
                    )
                    break
                task = self._inflight.get(aid)
                if rows and not rows[0]["ok"] and task and aid not in self._saving:
                    # another worker (or the reaper) has it now: stop wasting the call
                    self._lost.add(aid)
                    LEASE_LOST.inc()
                    event(logging.WARNING, "lease_lost", analysis_id=aid, phase="heartbeat")
                    task.cancel()

    async def _listen(self) -> None:
        """LISTEN analysis_queued on a dedicated session (DIRECT_URL), reconnecting with backoff."""
        backoff = 0.1
        while True:
            try:
                conn = await listen_connect(self.listen_dsn, application_name=APPLICATION_NAME)
                async with conn:
                    await conn.execute(Q["listen"])  # as flirt_worker, on analysis_queued
                    if backoff > 0.1:
                        event(logging.INFO, "listen_reconnected", worker_id=self.worker_id)
                    backoff = 0.1
                    self._wake.set()  # notifications may have been missed meanwhile
                    while True:
                        async for _ in conn.notifies(timeout=5.0):
                            self._wake.set()
                        await conn.execute(Q["ping"])  # notice a dead server
            except DatabaseError as exc:
                event(
                    logging.WARNING,
                    "listen_disconnected",
                    error=first_line(exc),
                    retry_in=round(backoff, 2),
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _queue_stats(self) -> None:
        while True:
            try:
                rows = await self._query(Q["queue_stats"], [], deadline=time.monotonic())
                for state, value in (rows[0]["stats"] or {}).items():
                    if state != "oldest_ready_seconds":
                        QUEUE.labels(state).set(value)
            except DatabaseUnavailable:
                pass  # the claim loop reports outages
            await asyncio.sleep(max(self.opts.poll_seconds, 5.0))

    # -- database -----------------------------------------------------------------

    async def _query(
        self, query: LiteralString, params: list[Any], *, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """Run one statement (its own transaction); retry connection errors until `deadline`."""
        return await async_fetch(
            self.pool, query, params, deadline=deadline, on_retry=_log_retry, timeout=10
        )


def _log_retry(exc: DatabaseUnavailable, delay: float) -> None:
    event(logging.WARNING, "db_retry", error=first_line(exc), retry_in=round(delay, 2))


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until every one has ended.

    A cancellation can be lost: on Python 3.11, `asyncio.wait_for` (which the
    connection pool uses while a task waits for a connection) swallows it when
    the awaited connection arrives in the same loop step, and the task carries
    on with its loop. So a task still running after a short wait is cancelled
    again, instead of waiting for it forever.
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # httpx logs full request lines at INFO; keep the worker's output its own
    logging.getLogger("httpx").setLevel(logging.WARNING)


def serve_metrics(port: int) -> None:
    """Expose Prometheus metrics on 127.0.0.1:port."""
    start_http_server(port, addr="127.0.0.1")
    event(logging.INFO, "metrics_listening", address=f"127.0.0.1:{port}")


def run_worker(
    dsn: str,
    cfg: Config,
    *,
    concurrency: int | None = None,
    metrics_port: int | None = None,
    exit_when_empty: bool = False,
    on_ready: Callable[[Worker], Awaitable[None]] | None = None,
    listen_dsn: str | None = None,
) -> None:
    """Build the provider and storage from settings and run a worker until stopped.

    `dsn` is DATABASE_URL (may be a transaction pooler); `listen_dsn` the direct
    connection for LISTEN (default: DIRECT_URL, else `dsn`)."""
    secrets = load_secrets()
    listen_dsn = listen_dsn or secrets.direct_url or dsn
    if cfg.ai.provider == "openai" and not (secrets.openai_api_key or secrets.openai_base_url):
        # every call would be refused: failing (and refunding) each analysis helps nobody
        raise WorkerSetupError(
            "[ai] provider is openai but OPENAI_API_KEY is not set (or set OPENAI_BASE_URL)"
        )
    options = WorkerOptions.from_config(
        cfg, concurrency=concurrency, exit_when_empty=exit_when_empty or None
    )
    if metrics_port:
        serve_metrics(metrics_port)

    async def main() -> None:
        worker = Worker(
            dsn,
            make_provider(cfg, secrets),
            ScreenshotStore(cfg, secrets),
            options,
            listen_dsn=listen_dsn,
        )
        if on_ready:
            await on_ready(worker)
        await worker.run()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyworker.worker", description=__doc__)
    parser.add_argument("--db-url", default=None, help="PostgreSQL URL (default: $DATABASE_URL)")
    parser.add_argument("--concurrency", type=int, default=None, help="AI calls in flight")
    parser.add_argument("--metrics-port", type=int, default=None, help="Prometheus port")
    parser.add_argument(
        "--exit-when-empty", action="store_true", help="stop once the queue is drained"
    )
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    try:
        cfg = load_config()
        dsn = args.db_url or load_secrets().database_url
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not dsn:
        print("error: environment variable DATABASE_URL is not set", file=sys.stderr)
        return 1
    try:
        run_worker(
            dsn,
            cfg,
            concurrency=args.concurrency,
            metrics_port=args.metrics_port,
            exit_when_empty=args.exit_when_empty,
        )
    except WorkerSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
