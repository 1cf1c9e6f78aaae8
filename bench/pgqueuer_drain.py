"""PgQueuer drain-mode run for bench_worker.py (runs in bench/.venv, never in the app's venv).

Usage: bench/.venv/bin/python bench/pgqueuer_drain.py DSN N BATCH
Installs PgQueuer's schema in the given (empty) database, enqueues N jobs whose
payload is a chat like the worker's input, drains them with a handler that
computes the same kind of deterministic JSON as the mock provider, and prints
one JSON line: {"jobs": N, "seconds": drain time, "rss_kb": peak RSS}.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import sys
import time

import asyncpg
from pgqueuer import AsyncpgDriver, Job, QueueManager
from pgqueuer.domain.types import QueueExecutionMode
from pgqueuer.queries import Queries


def mock_result(payload: bytes) -> dict[str, object]:
    d = hashlib.sha256(payload).digest()
    return {
        "summary": "The conversation is friendly.",
        "interest_level": d[0] % 11,
        "tone": ["playful", "warm", "flirty"][d[1] % 3],
        "red_flags": [],
        "suggestions": [{"reply": "hi", "style": "x", "rationale": "y"}] * 3,
    }


async def main(dsn: str, n: int, batch: int) -> None:
    conn = await asyncpg.connect(dsn)
    queries = Queries(AsyncpgDriver(conn))
    await queries.install()
    payload = json.dumps({"chat": "them: hey you\nme: hi!"}).encode()
    for start in range(0, n, 5000):
        size = min(5000, n - start)
        await queries.enqueue(["analyze"] * size, [payload] * size, [0] * size)
    await conn.close()

    conn = await asyncpg.connect(dsn)
    qm = QueueManager(Queries(AsyncpgDriver(conn)))
    done = 0

    @qm.entrypoint("analyze")
    async def analyze(job: Job) -> None:
        nonlocal done
        json.dumps(mock_result(job.payload or b""))
        done += 1

    started = time.perf_counter()
    await qm.run(mode=QueueExecutionMode.drain, batch_size=batch)
    seconds = time.perf_counter() - started
    await conn.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"jobs": done, "seconds": seconds, "rss_kb": rss}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
