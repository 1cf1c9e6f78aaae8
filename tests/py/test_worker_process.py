"""The worker as a real process: end to end through the RPC path, crashes, drains, retries.

Each test starts `python -m pyworker.worker` with a temporary config (short
leases and polls) against its own database; analyses are created with
perform_action exactly as the frontend does.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.py.dbtools import TestDatabase, balances, rpc
from tests.py.fakes.openai_fake import VALID_RESULT, FakeOpenAI, serve_openai
from tests.py.fakes.worker_process import (
    WorkerProcess,
    scrape,
    start_worker,
    wait_until,
    write_config,
)

SECRET_CHAT = "them: my secret is PINEAPPLE-42, don't tell"
FAST = {
    "lease_seconds": 5,
    "heartbeat_seconds": 1,
    "poll_seconds": 0.2,
    "shutdown_grace_seconds": 5,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Every worker a test starts; any still running at the end is killed."""
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.kill()


def config(
    tmp_path: Path,
    worker: dict[str, Any] | None = None,
    ai: dict[str, Any] | None = None,
    mock: dict[str, Any] | None = None,
    name: str = "config.toml",
) -> Path:
    return write_config(
        tmp_path / name,
        {
            "worker": {**FAST, **(worker or {})},
            "ai": ai or {},
            "ai.mock": mock or {},
            "storage": {"local_dir": str(tmp_path / "storage")},
        },
    )


def perform(db: TestDatabase, user: uuid.UUID, action: str = "short_chat", **input: Any) -> str:
    with db.api_connect() as api:
        body = input or {"chat": SECRET_CHAT}
        return str(rpc(api, user, "perform_action", action_type=action, input=body)["analysis_id"])


def get_analysis(db: TestDatabase, user: uuid.UUID, aid: str) -> dict[str, Any]:
    with db.api_connect() as api:
        return rpc(api, user, "get_analysis", analysis_id=aid)  # type: ignore[no-any-return]


def status_of(db: TestDatabase, aid: str) -> str:
    row = db.fetchone("select status from analyses where id = %s", [aid])
    return str(row["status"]) if row else "missing"


def wait_status(db: TestDatabase, aid: str, wanted: str, timeout: float = 20) -> None:
    wait_until(
        lambda: status_of(db, aid) == wanted,
        timeout,
        f"analysis {aid} stayed {status_of(db, aid)}, wanted {wanted}",
    )


def kinds(db: TestDatabase, user: uuid.UUID) -> list[str]:
    rows = db.fetchall(
        "select kind from credits_transactions where user_id = %s order by id", [user]
    )
    return [r["kind"] for r in rows]


def test_end_to_end_user_gets_a_result_for_chat_and_screenshot_through_the_rpc_path(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    # a poll far longer than the test: only NOTIFY can wake the worker in time
    cfg = config(tmp_path, worker={"poll_seconds": 60})
    port = free_port()
    workers.append(start_worker(db.owner_dsn, cfg, tmp_path / "w.log", "--metrics-port", str(port)))
    user = db.create_user()
    shot = tmp_path / "storage" / "screenshots" / str(user) / "chat.png"
    shot.parent.mkdir(parents=True)
    shot.write_bytes(b"\x89PNG\r\n\x1a\nfake screenshot")

    started = time.monotonic()
    chat = perform(db, user)
    image = perform(db, user, "image_analysis", image_path=f"{user}/chat.png")
    missing = perform(db, user, "image_analysis", image_path=f"{user}/nope.png")
    for aid, wanted in ((chat, "done"), (image, "done"), (missing, "failed")):
        wait_status(db, aid, wanted, timeout=10)
    assert time.monotonic() - started < 10

    result = get_analysis(db, user, chat)
    assert set(result["result"]) == set(VALID_RESULT)
    assert len(result["result"]["suggestions"]) == 3
    assert result["model"] == "mock-1" and result["usage"]["total_tokens"] > 0
    assert get_analysis(db, user, image)["result"]["summary"]
    failed = get_analysis(db, user, missing)
    assert failed["result"] is None and failed["error"].startswith("image_not_found")
    # charged for the two that worked, the missing screenshot refunded once
    assert kinds(db, user) == ["signup_bonus", "action", "action", "action", "action_refund"]
    assert balances(db, user)["credits_remaining"] == 150 - 5 - 50
    row = db.fetchone("select prompt_version from analyses where id = %s", [chat])
    assert row == {"prompt_version": "analysis_v1"}

    metrics = wait_until(lambda: scrape(port).get("flirt_worker_done_total") == 2 and scrape(port))
    assert metrics["flirt_worker_claimed_total"] == 3
    assert metrics["flirt_worker_failed_total"] == 1 and metrics["flirt_worker_refunded_total"] == 1
    assert metrics['flirt_worker_provider_seconds_count{outcome="ok",provider="mock"}'] == 2
    assert any(k.startswith("flirt_worker_queue_depth") for k in metrics)

    assert workers[0].terminate() == 0
    log = workers[0].log
    assert "analysis_done" in log and chat in log
    assert "PINEAPPLE" not in log  # logs never carry chat text


def test_a_worker_killed_mid_analysis_is_finished_by_another_charged_once(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    slow = config(tmp_path, worker={"lease_seconds": 2}, mock={"latency_ms": 30000}, name="a.toml")
    fast = config(tmp_path, worker={"lease_seconds": 2}, name="b.toml")
    first = start_worker(db.owner_dsn, slow, tmp_path / "a.log")
    workers.append(first)
    user = db.create_user()
    aid = perform(db, user)
    wait_status(db, aid, "processing")
    first.kill()

    workers.append(start_worker(db.owner_dsn, fast, tmp_path / "b.log"))
    wait_status(db, aid, "done", timeout=15)
    row = db.fetchone("select attempts, locked_by, result from analyses where id = %s", [aid])
    assert row and row["attempts"] == 2 and row["locked_by"] is None and row["result"]
    assert kinds(db, user) == ["signup_bonus", "action"]  # charged once, nothing refunded
    assert balances(db, user)["credits_remaining"] == 145


def test_sigterm_lets_in_flight_analyses_finish(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    cfg = config(tmp_path, mock={"latency_ms": 1500})
    worker = start_worker(db.owner_dsn, cfg, tmp_path / "w.log")
    workers.append(worker)
    user = db.create_user()
    ids = [perform(db, user, chat=f"hi {i}") for i in range(3)]
    for aid in ids:
        wait_status(db, aid, "processing")
    later = perform(db, user, chat="arrives after the stop")
    assert worker.terminate(timeout=10) == 0
    assert [status_of(db, aid) for aid in ids] == ["done"] * 3
    assert status_of(db, later) in ("queued", "done")  # never claimed-and-abandoned
    assert "worker_stopped" in worker.log


def test_sigterm_after_the_grace_period_releases_without_using_an_attempt(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    cfg = config(tmp_path, worker={"shutdown_grace_seconds": 0.5}, mock={"latency_ms": 30000})
    worker = start_worker(db.owner_dsn, cfg, tmp_path / "w.log")
    workers.append(worker)
    user = db.create_user()
    ids = [perform(db, user, chat=f"hi {i}") for i in range(2)]
    for aid in ids:
        wait_status(db, aid, "processing")
    started = time.monotonic()
    assert worker.terminate(timeout=10) == 0
    assert time.monotonic() - started < 5
    rows = db.fetchall("select status, attempts, locked_by from analyses order by created_at")
    assert rows == [{"status": "queued", "attempts": 0, "locked_by": None}] * 2
    assert kinds(db, user) == ["signup_bonus", "action", "action"]
    assert worker.log.count("analysis_released") == 2


@pytest.fixture
def fast_retries(db: TestDatabase) -> None:
    db.execute("update app_settings set value = '0.3' where key = 'retry_base_seconds'")


def openai_config(tmp_path: Path) -> Path:
    return config(tmp_path, ai={"provider": "openai", "model": "gpt-test", "timeout_seconds": 0.5})


def openai_env(fake: FakeOpenAI) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-test"}


@pytest.mark.usefixtures("fast_retries")
def test_provider_5xx_and_timeouts_retry_with_backoff_then_fail_with_one_refund(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    with serve_openai(FakeOpenAI(model="gpt-test", script=["503", "slow:2", "500"])) as fake:
        workers.append(
            start_worker(
                db.owner_dsn, openai_config(tmp_path), tmp_path / "w.log", env=openai_env(fake)
            )
        )
        user = db.create_user()
        aid = perform(db, user)
        wait_status(db, aid, "failed", timeout=20)
        assert fake.violations == []
        assert len(fake.requests) == 3
        gaps = [b - a for a, b in zip(fake.times, fake.times[1:], strict=False)]
    # attempt 1 failed at once, attempt 2 timed out after 0.5 s; backoff 0.3 s then 0.6 s
    assert gaps[0] >= 0.3 and gaps[1] >= 0.6 + 0.5
    row = get_analysis(db, user, aid)
    assert row["result"] is None and row["error"].startswith("provider_unavailable")
    assert kinds(db, user) == ["signup_bonus", "action", "action_refund"]
    assert balances(db, user)["credits_remaining"] == 150


@pytest.mark.usefixtures("fast_retries")
def test_a_retry_runs_when_its_backoff_ends_not_at_the_next_poll(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    cfg = config(
        tmp_path,
        worker={"poll_seconds": 60},
        ai={"provider": "openai", "model": "gpt-test", "timeout_seconds": 5},
    )
    with serve_openai(FakeOpenAI(model="gpt-test", script=["503", "503"])) as fake:
        workers.append(start_worker(db.owner_dsn, cfg, tmp_path / "w.log", env=openai_env(fake)))
        user = db.create_user()
        aid = perform(db, user)
        wait_status(db, aid, "done", timeout=15)
        gaps = [b - a for a, b in zip(fake.times, fake.times[1:], strict=False)]
    # backoff 0.3 s then 0.6 s (plus up to 20 % jitter), far from the 60 s poll
    assert len(gaps) == 2 and 0.3 <= gaps[0] < 2 and 0.6 <= gaps[1] < 3


@pytest.mark.usefixtures("fast_retries")
def test_invalid_provider_output_is_never_stored(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    with serve_openai(FakeOpenAI(model="gpt-test", default="invalid")) as fake:
        workers.append(
            start_worker(
                db.owner_dsn, openai_config(tmp_path), tmp_path / "w.log", env=openai_env(fake)
            )
        )
        user = db.create_user()
        aid = perform(db, user)
        wait_status(db, aid, "failed", timeout=20)
        assert len(fake.requests) == 3
    row = get_analysis(db, user, aid)
    assert row["result"] is None and row["error"].startswith("invalid_output")
    assert kinds(db, user) == ["signup_bonus", "action", "action_refund"]


@pytest.mark.usefixtures("fast_retries")
def test_an_answer_cut_off_at_the_token_cap_fails_at_once_with_one_refund(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    cfg = config(
        tmp_path,
        ai={
            "provider": "openai",
            "model": "gpt-test",
            "timeout_seconds": 5,
            "max_output_tokens": 64,
        },
    )
    with serve_openai(FakeOpenAI(model="gpt-test", default="length")) as fake:
        workers.append(start_worker(db.owner_dsn, cfg, tmp_path / "w.log", env=openai_env(fake)))
        user = db.create_user()
        aid = perform(db, user)
        wait_status(db, aid, "failed", timeout=20)
        assert [r.get("max_completion_tokens") for r in fake.requests] == [64]  # never asked again
    row = get_analysis(db, user, aid)
    assert row["result"] is None and row["error"].startswith("output_too_long")
    assert kinds(db, user) == ["signup_bonus", "action", "action_refund"]


@pytest.mark.usefixtures("fast_retries")
def test_rate_limit_retry_after_is_honoured_and_then_the_analysis_succeeds(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    with serve_openai(FakeOpenAI(model="gpt-test", script=["429:2"])) as fake:
        workers.append(
            start_worker(
                db.owner_dsn, openai_config(tmp_path), tmp_path / "w.log", env=openai_env(fake)
            )
        )
        user = db.create_user()
        aid = perform(db, user)
        wait_status(db, aid, "done", timeout=20)
        assert fake.times[1] - fake.times[0] >= 2.0  # not the 0.3 s backoff
    row = get_analysis(db, user, aid)
    assert row["model"] == "gpt-test" and row["usage"]["prompt_tokens"] == 321
    assert row["result"] == VALID_RESULT
    assert kinds(db, user) == ["signup_bonus", "action"]


def test_heartbeats_keep_a_call_longer_than_the_lease_from_being_taken_over(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    slow = config(tmp_path, worker={"lease_seconds": 2}, mock={"latency_ms": 3500}, name="a.toml")
    fast = config(tmp_path, worker={"lease_seconds": 2}, name="b.toml")
    first = start_worker(db.owner_dsn, slow, tmp_path / "a.log")
    workers.append(first)
    user = db.create_user()
    aid = perform(db, user)
    wait_status(db, aid, "processing")
    second = start_worker(db.owner_dsn, fast, tmp_path / "b.log")  # idle, ready to steal
    workers.append(second)
    wait_status(db, aid, "done", timeout=15)
    row = db.fetchone("select attempts from analyses where id = %s", [aid])
    assert row == {"attempts": 1}
    assert "analysis_done" in first.log and "analysis_done" not in second.log


def test_the_worker_runs_exactly_its_configured_number_of_calls_at_once(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    cfg = config(tmp_path, worker={"concurrency": 3, "batch_size": 2}, mock={"latency_ms": 700})
    workers.append(start_worker(db.owner_dsn, cfg, tmp_path / "w.log"))
    ids = [
        perform(db, user, chat="hi")
        for user in (db.create_user(), db.create_user())
        for _ in range(4)
    ]
    peak = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = db.fetchone(
            "select count(*) filter (where status = 'processing') as busy,"
            " count(*) filter (where status = 'done') as done from analyses"
        )
        assert row is not None
        peak = max(peak, row["busy"])
        if row["done"] == len(ids):
            break
        time.sleep(0.05)
    assert all(status_of(db, aid) == "done" for aid in ids)
    span = db.fetchone(
        "select extract(epoch from max(finished_at) - min(started_at)) as s from analyses"
    )
    assert span is not None
    # 8 calls of 0.7 s, 3 at a time: three rounds, not one (unbounded) nor eight (serial)
    assert peak >= 3 and 3 * 0.7 <= float(span["s"]) < 5 * 0.7


def test_bursts_of_analyses_from_many_users_all_finish_without_waiting_for_the_poll(
    db: TestDatabase, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    # NOTIFY is skipped while the queue has a backlog; a missed wake-up would leave an
    # analysis waiting for the 60 s poll
    cfg = config(tmp_path, worker={"poll_seconds": 60, "concurrency": 4}, mock={"latency_ms": 30})
    db.execute("update app_settings set value = '20' where key = 'max_pending_analyses'")
    workers.append(start_worker(db.owner_dsn, cfg, tmp_path / "w.log"))
    users = [db.create_user() for _ in range(8)]
    ids: list[str] = []
    for burst in range(10):
        with ThreadPoolExecutor(len(users)) as pool:
            ids += pool.map(perform, [db] * len(users), users)
        time.sleep(0.2 * (burst % 2))  # some bursts land on a busy worker, some on an idle one
    wait_until(
        lambda: all(status_of(db, aid) == "done" for aid in ids),
        15,
        "some analyses were left waiting for the poll",
    )
