"""Screenshots leave Storage with the account, and with their analysis input on retention.

The database queues what must go (private.screenshot_deletions); the worker deletes it
through the Storage API (here a local fake of its list and remove endpoints) or from the
local stack's folder, and reports back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from cli.main import app
from pyworker.db import call_json, connect
from pyworker.settings import Config, Secrets, load_config
from pyworker.storage import ScreenshotStore
from tests.py.dbtools import TestDatabase
from tests.py.fakes.worker_process import WorkerProcess, start_worker, wait_until, write_config
from tests.py.test_worker_protocol import fn, worker_conn

PNG = b"\x89PNG\r\n\x1a\nscreenshot"
UPLOADED = "2026-11-20T10:00:00.000Z"  # when the fake Storage says every object was uploaded


def local_config(root: Path) -> Config:
    cfg = load_config()
    return cfg.model_copy(
        update={"storage": cfg.storage.model_copy(update={"local_dir": str(root)})}
    )


def queued(db: TestDatabase) -> list[dict[str, Any]]:
    return db.fetchall(
        "select path, reason, attempts, last_error from private.screenshot_deletions order by id"
    )


def delete_account(db: TestDatabase, user: uuid.UUID) -> None:
    with db.connect("supabase_auth_admin") as conn:
        conn.execute("delete from auth.users where id = %s", [user])


def image_analysis(
    db: TestDatabase, user: uuid.UUID, path: str, finished_days_ago: int | None
) -> uuid.UUID:
    aid = uuid.uuid4()
    now = dt.datetime.now(UTC)
    finished = None if finished_days_ago is None else now - dt.timedelta(days=finished_days_ago)
    db.execute(
        "insert into analyses (id, user_id, action_type, cost, daily_cost, input, status,"
        " created_at, finished_at) values (%s, %s, 'image_analysis', 0, 0, %s, %s, %s, %s)",
        [
            aid,
            user,
            json.dumps({"image_path": path}),
            "queued" if finished is None else "done",
            now - dt.timedelta(days=45),
            finished,
        ],
    )
    return aid


def claim_deletions(db: TestDatabase, n: int) -> list[dict[str, Any]]:
    with worker_conn(db) as conn:
        return conn.execute("select * from private.claim_screenshot_deletions(%s)", [n]).fetchall()


def as_worker(db: TestDatabase, function: str, **params: Any) -> Any:
    with worker_conn(db) as conn:
        return fn(conn, function, **params)


# --- what gets queued ----------------------------------------------------------------------


def test_deleting_an_account_queues_its_whole_screenshot_folder(db: TestDatabase) -> None:
    leaving, staying = db.create_user(), db.create_user()
    delete_account(db, leaving)
    assert queued(db) == [
        {"path": f"{leaving}/", "reason": "account_deleted", "attempts": 0, "last_error": None}
    ]
    assert str(staying) not in json.dumps(queued(db))


def test_retention_queues_purged_screenshots_unless_a_kept_input_still_names_them(
    db: TestDatabase,
) -> None:
    user = db.create_user()
    image_analysis(db, user, f"{user}/old.png", finished_days_ago=40)
    image_analysis(db, user, f"{user}/shared.png", finished_days_ago=40)
    image_analysis(db, user, f"{user}/shared.png", finished_days_ago=2)  # input still kept
    image_analysis(db, user, f"{user}/twice.png", finished_days_ago=40)
    image_analysis(db, user, f"{user}/twice.png", finished_days_ago=35)
    with connect(db.owner_dsn, role="service_role", autocommit=True) as conn:
        assert call_json(conn, "private.purge_expired_inputs") == 4
    assert [(q["path"], q["reason"]) for q in queued(db)] == [
        (f"{user}/old.png", "retention"),
        (f"{user}/twice.png", "retention"),
    ]


def test_a_purged_screenshot_named_again_by_a_new_analysis_is_not_deleted(
    db: TestDatabase,
) -> None:
    user = db.create_user()
    image_analysis(db, user, f"{user}/chat.png", finished_days_ago=40)
    with connect(db.owner_dsn, role="service_role", autocommit=True) as conn:
        call_json(conn, "private.purge_expired_inputs")
    assert [q["path"] for q in queued(db)] == [f"{user}/chat.png"]
    # uploaded again under the same name and analysed before the worker came round
    image_analysis(db, user, f"{user}/chat.png", finished_days_ago=None)
    assert claim_deletions(db, 10) == []
    assert queued(db) == []


def test_a_claimed_deletion_is_retried_with_backoff_until_reported_done(
    db: TestDatabase,
) -> None:
    first, second = db.create_user(), db.create_user()
    delete_account(db, first)
    delete_account(db, second)
    claimed = claim_deletions(db, 10)
    assert [(c["path"], c["attempts"]) for c in claimed] == [(f"{first}/", 1), (f"{second}/", 1)]
    assert claim_deletions(db, 10) == []  # claimed: not handed out twice
    ok, failing = claimed
    assert as_worker(db, "finish_screenshot_deletion", deletion_id=ok["deletion_id"], error=None)
    assert as_worker(
        db,
        "finish_screenshot_deletion",
        deletion_id=failing["deletion_id"],
        error="storage answered 503",
    )
    assert queued(db) == [
        {
            "path": f"{second}/",
            "reason": "account_deleted",
            "attempts": 1,
            "last_error": "storage answered 503",
        }
    ]
    # the failed one comes back once its backoff is over
    db.execute("update private.screenshot_deletions set run_after = now() - interval '1 second'")
    assert [c["attempts"] for c in claim_deletions(db, 10)] == [2]


def test_the_worker_role_cannot_read_or_change_the_deletion_queue(db: TestDatabase) -> None:
    delete_account(db, db.create_user())
    with worker_conn(db) as conn:
        for sql in (
            "select * from private.screenshot_deletions",
            "delete from private.screenshot_deletions",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    assert len(queued(db)) == 1


# --- deleting: local folder and Supabase Storage -----------------------------------------------


def test_the_local_store_deletes_a_file_or_a_folder_and_nothing_else(tmp_path: Path) -> None:
    store = ScreenshotStore(local_config(tmp_path), Secrets())
    bucket = tmp_path / "screenshots"
    for name in ("u1/a.png", "u1/b.png", "u1/sub/c.png", "u2/a.png"):
        (bucket / name).parent.mkdir(parents=True, exist_ok=True)
        (bucket / name).write_bytes(PNG)
    an_hour_ago = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    assert asyncio.run(store.delete("u2/a.png", an_hour_ago)) == 0  # uploaded since: kept
    assert asyncio.run(store.delete("u2/a.png")) == 1
    assert asyncio.run(store.delete("u2/a.png")) == 0  # already gone: not an error
    assert asyncio.run(store.delete("u1/")) == 3
    assert not (bucket / "u1").exists() and (bucket / "u2").is_dir()
    for bad in ("../etc/passwd", "/u1/a.png", "u1/../u2/", ""):
        with pytest.raises(ValueError):
            asyncio.run(store.delete(bad))


@pytest.fixture
def storage_api() -> Iterator[tuple[str, set[str], list[str]]]:
    """Supabase Storage's list (one folder level, sub-folders without id) and remove."""
    objects: set[str] = set()
    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _body(self) -> Any:
            return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

        def _answer(self, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            assert self.path == "/storage/v1/object/list/screenshots"
            body = self._body()
            calls.append(f"list {body['prefix']}")
            prefix = body["prefix"].rstrip("/") + "/"
            level = sorted(
                {o[len(prefix) :].split("/")[0] for o in objects if o.startswith(prefix)}
            )
            items = [
                {"name": n, "id": str(uuid.uuid4()), "updated_at": UPLOADED}
                if prefix + n in objects
                else {"name": n, "id": None}
                for n in level
            ]
            self._answer(items[body["offset"] : body["offset"] + body["limit"]])

        def do_DELETE(self) -> None:
            assert self.path == "/storage/v1/object/screenshots"
            names = self._body()["prefixes"]
            calls.append(f"remove {len(names)}")
            gone = [n for n in names if n in objects]
            objects.difference_update(gone)
            self._answer([{"name": n} for n in gone])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", objects, calls
    finally:
        server.shutdown()
        server.server_close()


def test_supabase_storage_deletes_a_folder_level_by_level(
    storage_api: tuple[str, set[str], list[str]],
) -> None:
    url, objects, calls = storage_api
    objects.update({"u1/a.png", "u1/b.png", "u1/sub/c.png", "u2/a.png"})
    store = ScreenshotStore(
        load_config(), Secrets(supabase_url=url, supabase_service_role_key="service-key")
    )
    assert asyncio.run(store.delete("u1/")) == 3
    assert objects == {"u2/a.png"}
    # uploaded anew after the deletion was queued: kept
    queued_before_upload = dt.datetime(2026, 11, 19, tzinfo=UTC)
    assert asyncio.run(store.delete("u2/a.png", queued_before_upload)) == 0
    assert objects == {"u2/a.png"}
    assert asyncio.run(store.delete("u2/a.png", dt.datetime(2026, 11, 21, tzinfo=UTC))) == 1
    assert asyncio.run(store.delete("u2/a.png")) == 0
    assert objects == set() and "remove 2" in calls


# --- the worker does it ------------------------------------------------------------------------


def test_the_worker_removes_a_deleted_accounts_screenshots_and_purged_ones(
    db: TestDatabase, tmp_path: Path
) -> None:
    leaving, staying = db.create_user(), db.create_user()
    bucket = tmp_path / "storage" / "screenshots"
    files = [f"{leaving}/a.png", f"{leaving}/b.png", f"{staying}/old.png", f"{staying}/new.png"]
    for name in files:
        (bucket / name).parent.mkdir(parents=True, exist_ok=True)
        (bucket / name).write_bytes(PNG)
    image_analysis(db, staying, f"{staying}/old.png", finished_days_ago=40)
    image_analysis(db, staying, f"{staying}/new.png", finished_days_ago=1)

    delete_account(db, leaving)
    with connect(db.owner_dsn, role="service_role", autocommit=True) as conn:
        call_json(conn, "private.purge_expired_inputs")

    cfg = write_config(
        tmp_path / "config.toml",
        {
            "worker": {"poll_seconds": 0.2, "screenshot_cleanup_seconds": 0.2},
            "storage": {"local_dir": str(tmp_path / "storage")},
        },
    )
    worker: WorkerProcess = start_worker(db.owner_dsn, cfg, tmp_path / "w.log")
    try:
        wait_until(lambda: queued(db) == [], 15, "the deletions were not done")
    finally:
        worker.kill()
    assert sorted(str(p.relative_to(bucket)) for p in bucket.rglob("*.png")) == [
        f"{staying}/new.png"
    ]
    assert "screenshots_deleted" in worker.log


def test_doctor_and_queue_stats_report_failing_deletions(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    delete_account(db, db.create_user())
    delete_account(db, db.create_user())
    (first, _) = claim_deletions(db, 10)
    as_worker(
        db,
        "finish_screenshot_deletion",
        deletion_id=first["deletion_id"],
        error="storage answered 403: invalid signature",
    )
    stats = as_worker(db, "analysis_queue_stats")
    assert (stats["screenshot_deletions"], stats["screenshot_deletions_failing"]) == (2, 1)

    monkeypatch.setenv("SUPABASE_JWT_SECRET", "x" * 40)
    result = CliRunner().invoke(app, ["doctor", "--db-url", db.owner_dsn, "--json"])
    rows = {r["check"]: r for r in json.loads(result.stdout)}
    assert rows["screenshot deletions"]["status"] == "warn"
    assert "1 of 2 failing: storage answered 403" in rows["screenshot deletions"]["detail"]
