"""Screenshot uploads: Storage policies on storage.objects, exercised the way Storage does.

Supabase Storage writes storage.objects as the caller (`set local role authenticated`
and the JWT's claims in request.jwt.claims, in one transaction), so the policies are
tested through that role switch, never as a superuser.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from cli.main import app
from pyworker.settings import load_config
from tests.py.dbtools import TestDatabase, as_role, as_user, rpc

BUCKET = load_config().storage.screenshot_bucket


def _upload(
    conn: psycopg.Connection[Any], user: uuid.UUID | None, name: str, bucket: str = BUCKET
) -> None:
    """What Storage's upload does in the database: insert the object row as the caller."""
    if user is None:
        with as_role(conn, "anon"):
            conn.execute(
                "insert into storage.objects (bucket_id, name) values (%s, %s)", [bucket, name]
            )
        return
    with as_user(conn, user):
        conn.execute(
            "insert into storage.objects (bucket_id, name, owner) values (%s, %s, %s)",
            [bucket, name, user],
        )


def _names(db: TestDatabase) -> list[str]:
    rows = db.fetchall("select name from storage.objects order by name")
    return [r["name"] for r in rows]


def test_user_uploads_a_screenshot_into_their_own_folder_and_analyses_it(
    db: TestDatabase,
) -> None:
    user = db.create_user()
    path = f"{user}/chat.png"
    with db.api_connect() as conn:
        _upload(conn, user, path)
        with as_user(conn, user):
            seen = conn.execute("select name from storage.objects").fetchall()
        queued = rpc(
            conn, user, "perform_action", action_type="image_analysis", input={"image_path": path}
        )
    assert seen == [{"name": path}]
    assert _names(db) == [path]
    assert queued["status"] == "queued"


@pytest.mark.parametrize(
    "name",
    [
        "{other}/chat.png",  # another user's folder
        "{me}/nested/chat.png",  # deeper than <user id>/<file name>
        "chat.png",  # no folder
        "{me}",  # the folder itself
        "{me}/..%2F{other}%2Fx.png",  # a name image_analysis would refuse
        "{me}/..",
        "{me}/chat 1.png",
    ],
)
def test_upload_outside_the_own_folder_is_refused_and_stores_nothing(
    db: TestDatabase, name: str
) -> None:
    me, other = db.create_user(), db.create_user()
    with db.api_connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        _upload(conn, me, name.format(me=me, other=other))
    assert _names(db) == []


def test_upload_into_another_bucket_or_without_a_session_is_refused(db: TestDatabase) -> None:
    user = db.create_user()
    db.execute("insert into storage.buckets (id, name) values ('avatars', 'avatars')")
    with db.api_connect() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _upload(conn, user, f"{user}/chat.png", bucket="avatars")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _upload(conn, None, f"{user}/chat.png")
    assert _names(db) == []


def test_users_read_and_delete_only_their_own_screenshots(db: TestDatabase) -> None:
    me, other = db.create_user(), db.create_user()
    with db.api_connect() as conn:
        _upload(conn, me, f"{me}/mine.png")
        _upload(conn, other, f"{other}/theirs.png")
        with as_user(conn, me):
            visible = conn.execute("select name from storage.objects").fetchall()
            deleted_theirs = conn.execute(
                "delete from storage.objects where name = %s", [f"{other}/theirs.png"]
            ).rowcount
            deleted_mine = conn.execute(
                "delete from storage.objects where name = %s", [f"{me}/mine.png"]
            ).rowcount
    assert visible == [{"name": f"{me}/mine.png"}]
    assert (deleted_theirs, deleted_mine) == (0, 1)
    assert _names(db) == [f"{other}/theirs.png"]


def test_storage_policies_are_one_per_operation_and_read_the_user_once_per_statement(
    db: TestDatabase,
) -> None:
    rows = db.fetchall(
        "select policyname, cmd, roles::text[] as roles, coalesce(qual, with_check) as expr"
        " from pg_policies where schemaname = 'storage' and tablename = 'objects'"
        " order by cmd"
    )
    assert [(r["cmd"], r["roles"]) for r in rows] == [
        ("DELETE", ["authenticated"]),
        ("INSERT", ["authenticated"]),
        ("SELECT", ["authenticated"]),
    ]
    for row in rows:
        # splinter's auth_rls_initplan: auth.uid() only inside a sub-select
        assert re.search(r"select\s+auth\.uid\(\)", row["expr"].lower()), row


def test_postgres_manages_storage_policies_but_cannot_alter_storage_tables(
    db: TestDatabase,
) -> None:
    # the local stack keeps postgres to what hosted Supabase lets it do in storage
    with db.connect() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner"):
            conn.execute("alter table storage.objects add column note text")
        conn.rollback()
        conn.execute(
            'create policy "Service role reads every object" on storage.objects'
            " for select to service_role using (true)"
        )
        conn.execute('drop policy "Service role reads every object" on storage.objects')


def test_doctor_fails_when_a_screenshot_policy_is_missing(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "x" * 40)
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)

    def doctor() -> dict[str, dict[str, str]]:
        result = CliRunner().invoke(app, ["doctor", "--db-url", db.owner_dsn, "--json"])
        return {r["check"]: r for r in json.loads(result.stdout)}

    rows = doctor()
    assert rows["storage policies"]["status"] == "ok"
    # the keys' warnings name what a client then gets
    assert "503 payments_not_configured" in rows["key STRIPE_SECRET_KEY"]["detail"]
    assert "503 webhooks_not_configured" in rows["key STRIPE_WEBHOOK_SECRET"]["detail"]

    db.execute(
        'drop policy "Users upload screenshots only into their own folder" on storage.objects'
    )
    rows = doctor()
    assert rows["storage policies"] == {
        "check": "storage policies",
        "status": "fail",
        "detail": "missing on storage.objects: Users upload screenshots only into their own"
        " folder (screenshot uploads are refused)",
    }
