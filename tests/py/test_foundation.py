"""Foundation: migrations, signup, settings and the PostgREST call path."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from pyworker import devstack
from pyworker.migrate import migrate, status
from pyworker.settings import SettingsError, load_config
from tests.py.dbtools import TestDatabase, as_role, as_user, balances, ledger_mismatches
from tests.py.test_providers_storage import storage_config


def test_signup_creates_account_with_default_tier_allowance_and_bonus(db: TestDatabase) -> None:
    cfg = load_config()
    user = db.create_user("new@example.test")
    row = balances(db, user)
    tier = cfg.tiers[cfg.signup.default_tier]
    assert row["tier"] == cfg.signup.default_tier == "pro"
    assert row["daily_credits"] == tier.daily_credits
    assert row["purchased_credits"] == cfg.signup.bonus_credits
    ledger = db.fetchall(
        "select kind, daily_delta, purchased_delta, balance_after"
        " from credits_transactions where user_id = %s",
        [user],
    )
    assert ledger == [
        {
            "kind": "signup_bonus",
            "daily_delta": tier.daily_credits,
            "purchased_delta": cfg.signup.bonus_credits,
            "balance_after": tier.daily_credits + cfg.signup.bonus_credits,
        }
    ]


def test_second_migrate_changes_nothing(db: TestDatabase) -> None:
    def snapshot() -> list[dict[str, object]]:
        return db.fetchall(
            "select 'm' as k, version as v from supabase_migrations.schema_migrations"
            " union all select 'f', p.oid::regprocedure::text || md5(p.prosrc) from pg_proc p"
            " join pg_namespace n on n.oid = p.pronamespace where n.nspname in ('public','private')"
            " union all select 's', key || value::text from app_settings order by 1, 2"
        )

    before = snapshot()
    report = migrate(db.owner_dsn, load_config())
    assert report.applied == []
    assert snapshot() == before
    with db.connect() as conn:
        assert all(applied for _, applied in status(conn))


def test_config_sync_creates_the_private_screenshot_bucket(db: TestDatabase) -> None:
    storage = load_config().storage
    row = db.fetchone(
        "select public, file_size_limit, allowed_mime_types from storage.buckets where id = %s",
        [storage.screenshot_bucket],
    )
    # Storage refuses an upload over the limit or of another type
    assert row == {
        "public": False,
        "file_size_limit": storage.max_screenshot_bytes,
        "allowed_mime_types": ["image/png", "image/jpeg", "image/webp", "image/gif"],
    }


def test_config_sync_on_a_storage_without_upload_limits_still_syncs_everything(
    db: TestDatabase,
) -> None:
    """An older local cluster's storage.buckets has no limit columns: the bucket is made
    without them, and the settings (max_saved_replies here) are still written."""
    with db.connect(devstack.SUPERUSER, autocommit=True) as conn:
        conn.execute("delete from storage.buckets")
        conn.execute(
            "alter table storage.buckets"
            " drop column file_size_limit, drop column allowed_mime_types"
        )
    db.execute("delete from app_settings where key = 'max_saved_replies'")
    migrate(db.owner_dsn, load_config())
    bucket = load_config().storage.screenshot_bucket
    assert db.fetchone("select public from storage.buckets where id = %s", [bucket]) == {
        "public": False
    }
    assert db.fetchone("select value from app_settings where key = 'max_saved_replies'") == {
        "value": 1000
    }


def test_config_sync_sets_a_changed_screenshot_limit_on_the_existing_bucket(
    db: TestDatabase,
) -> None:
    cfg = load_config()
    smaller = storage_config(max_screenshot_bytes=1_000_000, screenshot_types=["image/png"])
    try:
        migrate(db.owner_dsn, smaller)
        row = db.fetchone(
            "select file_size_limit, allowed_mime_types from storage.buckets where id = %s",
            [cfg.storage.screenshot_bucket],
        )
        assert row == {"file_size_limit": 1_000_000, "allowed_mime_types": ["image/png"]}
    finally:
        migrate(db.owner_dsn, cfg)


def test_migrations_run_as_non_superuser_owner(db: TestDatabase) -> None:
    row = db.fetchone("select rolsuper from pg_roles where rolname = current_user")
    assert row == {"rolsuper": False}
    owner = db.fetchone(
        "select tableowner from pg_tables where tablename = 'users' and schemaname = 'public'"
    )
    assert owner == {"tableowner": "postgres"}


def test_authenticated_cannot_write_own_credits(db: TestDatabase) -> None:
    user = db.create_user()
    with (
        db.api_connect() as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        as_user(conn, user),
    ):
        conn.execute("update public.users set purchased_credits = 1000000 where id = %s", [user])
    assert balances(db, user)["purchased_credits"] == load_config().signup.bonus_credits


def test_anon_reads_prices_but_no_accounts(db: TestDatabase) -> None:
    db.create_user()
    with db.api_connect() as conn:
        with as_role(conn, "anon"):
            packs = conn.execute("select id, price_cents from public.credit_packs").fetchall()
        assert {p["id"] for p in packs} == set(load_config().packs)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), as_role(conn, "anon"):
            conn.execute("select * from public.users")


def test_ledger_rows_cannot_be_changed_or_deleted(db: TestDatabase) -> None:
    user = db.create_user()
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="ledger_append_only"):
        db.execute(
            "update credits_transactions set purchased_delta = 999 where user_id = %s", [user]
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="ledger_append_only"):
        db.execute("delete from credits_transactions where user_id = %s", [user])


def test_deleting_auth_user_keeps_anonymised_ledger(db: TestDatabase) -> None:
    user = db.create_user()
    with db.connect("supabase_auth_admin") as conn:
        conn.execute("delete from auth.users where id = %s", [user])
    assert db.fetchone("select count(*) as n from public.users where id = %s", [user]) == {"n": 0}
    rows = db.fetchall("select user_id, kind from credits_transactions")
    assert rows == [{"user_id": None, "kind": "signup_bonus"}]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('default_tier = "pro"', 'default_tier = "gold"'), "signup.default_tier: unknown tier"),
        (("cost = 5", "cost = -5"), "actions.short_chat.cost"),
        (('timezone = "UTC"', 'timezone = "Mars/Olympus"'), "reset.timezone"),
    ],
)
def test_bad_settings_stop_with_one_line_naming_the_key(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    text = Path("config.toml").read_text().replace(*edit, 1)
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=message.replace(".", r"\.")) as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_cron_database_has_every_job_scheduled(cron_db: TestDatabase) -> None:
    jobs = {
        r["jobname"]: r
        for r in cron_db.fetchall("select jobname, schedule, username from cron.job")
    }
    assert set(jobs) >= {
        "flirt_daily_reset",
        "flirt_reap_expired_leases",
        "flirt_refresh_metrics",
        "flirt_retention",
    }
    every = load_config().reset.cron_every_minutes
    assert jobs["flirt_daily_reset"]["schedule"] == f"*/{every} * * * *"
    assert jobs["flirt_daily_reset"]["username"] == "postgres"
    before = cron_db.fetchall("select jobid, jobname, schedule, command from cron.job order by 1")
    migrate(cron_db.owner_dsn, load_config())
    assert (
        cron_db.fetchall("select jobid, jobname, schedule, command from cron.job order by 1")
        == before
    )


def test_pg_cron_itself_runs_the_daily_reset_job(cron_db: TestDatabase) -> None:
    """The reset command commits between batches; pg_cron must run it as a top-level command."""
    user = cron_db.create_user()
    cron_db.execute(
        "update users set daily_credits = 1, daily_reset_on = daily_reset_on - 2 where id = %s",
        [user],
    )
    cron_db.execute(
        "insert into credits_transactions (user_id, daily_delta, kind, balance_after)"
        " select id, 1 - %s, 'admin_adjust', credits_remaining from users where id = %s",
        [load_config().tiers["pro"].daily_credits, user],
    )
    command = cron_db.fetchone(
        "select command from private.cron_jobs(15) where jobname = 'flirt_daily_reset'"
    )
    assert command is not None
    probe = cron_db.fetchone(
        "select cron.schedule('flirt_probe_reset', '* * * * *', %s) as jobid", [command["command"]]
    )
    assert probe is not None
    try:
        deadline = time.monotonic() + 75  # pg_cron's granularity is one minute
        run = None
        while time.monotonic() < deadline and run is None:
            time.sleep(1)
            run = cron_db.fetchone(
                "select status, return_message from cron.job_run_details"
                " where jobid = %s and status in ('succeeded', 'failed')",
                [probe["jobid"]],
            )
        assert run is not None, "pg_cron did not run the probe job within 75 s"
        assert run["status"] == "succeeded", run["return_message"]
    finally:
        cron_db.execute("select cron.unschedule('flirt_probe_reset')")
    row = balances(cron_db, user)
    assert row["daily_credits"] == load_config().tiers["pro"].daily_credits
    assert ledger_mismatches(cron_db) == []
