"""`flirt-admin doctor`: is everything in place?"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from cli.common import DbUrl, JsonOut, emit
from cli.cron_checks import cron_job_checks
from pyworker import migrate as migrations
from pyworker.db import TRANSACTION_MODE, Connection, DatabaseError, plain_connect
from pyworker.queries import Q
from pyworker.settings import Config, Secrets, SettingsError, load_config, load_secrets

CRON_JOBS = [
    "flirt_daily_reset",
    "flirt_reap_expired_leases",
    "flirt_refresh_metrics",
    "flirt_retention",
]
Check = tuple[str, str, str]  # name, ok|warn|fail, detail


def _db_checks(conn: Connection[Any]) -> list[Check]:
    checks: list[Check] = []
    exts = {r[0] for r in conn.execute(Q["extensions"]).fetchall()}
    checks.append(
        (
            "extension pg_cron",
            "ok" if "pg_cron" in exts else "fail",
            "installed" if "pg_cron" in exts else "not installed in this database",
        )
    )
    pending = [m.path.name for m, ok in migrations.status(conn) if not ok]
    checks.append(
        (
            "migrations",
            "fail" if pending else "ok",
            f"pending: {', '.join(pending)}" if pending else "all applied",
        )
    )
    if "pg_cron" in exts:
        # exists, active, and its last run neither failed nor is overdue
        checks.extend(cron_job_checks(conn, CRON_JOBS))
    if not pending:
        checks.append(_screenshot_check(conn))
        checks.append(_storage_policy_check(conn))
        checks.append(_rejected_payments_check(conn))
    tiers = conn.execute(Q["count_tiers"]).fetchone()
    checks.append(
        (
            "config synced",
            "ok" if tiers and tiers[0] else "fail",
            f"{tiers[0] if tiers else 0} tiers",
        )
    )
    return checks


def _rejected_payments_check(conn: Connection[Any], days: int = 30) -> Check:
    """Payments that did not pay their pack's price: acknowledged to Stripe, nothing granted."""
    row = conn.execute(
        Q["rejected_payments"],
        [days],
    ).fetchone()
    count, latest = row if row else (0, None)
    if count:
        return (
            "rejected payments",
            "warn",
            f"{count} in {days} days (see `flirt-admin webhooks list --status rejected`);"
            f" latest {latest}",
        )
    return ("rejected payments", "ok", f"none in {days} days")


def _screenshot_check(conn: Connection[Any]) -> Check:
    row = conn.execute(Q["screenshot_deletions"]).fetchone()
    pending, failing, error = row if row else (0, 0, None)
    if failing:
        return ("screenshot deletions", "warn", f"{failing} of {pending} failing: {error}")
    return ("screenshot deletions", "ok", f"{pending} pending")


STORAGE_POLICIES = {
    "INSERT": "Users upload screenshots only into their own folder",
    "SELECT": "Users read only the screenshots in their own folder",
    "DELETE": "Users delete only the screenshots in their own folder",
}


def _storage_policy_check(conn: Connection[Any]) -> Check:
    # created by a migration; a policy dropped later (e.g. in the Dashboard) breaks uploads
    rows = conn.execute(
        Q["storage_policies"],
        [list(STORAGE_POLICIES.values())],
    ).fetchall()
    missing = set(STORAGE_POLICIES.values()) - {r[0] for r in rows}
    if missing:
        return (
            "storage policies",
            "fail",
            f"missing on storage.objects: {', '.join(sorted(missing))}"
            " (screenshot uploads are refused)",
        )
    return ("storage policies", "ok", "screenshot uploads limited to each user's folder")


def _key_checks(cfg: Config | None, sec: Secrets, db_url_option: str | None) -> list[Check]:
    def present(name: str, required: bool, why: str) -> Check:
        ok = bool(getattr(sec, name))
        return (
            f"key {name.upper()}",
            "ok" if ok else ("fail" if required else "warn"),
            "set" if ok else f"not set: {why}",
        )

    checks = (
        [("key DATABASE_URL", "ok", "given with --db-url")]
        if db_url_option
        else [present("database_url", True, "worker, API and CLI need it")]
    )
    jwt_ok = bool(sec.supabase_jwt_secret or sec.supabase_jwks_url)
    checks.append(
        (
            "key SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL",
            "ok" if jwt_ok else "fail",
            "set" if jwt_ok else "not set: the API cannot verify users",
        )
    )
    checks.append(
        present("stripe_secret_key", False, "payments endpoints answer 503 payments_not_configured")
    )
    checks.append(
        present("stripe_webhook_secret", False, "webhooks answer 503 webhooks_not_configured")
    )
    if cfg and cfg.ai.provider == "openai":
        # a self-hosted OpenAI-compatible server may need only its base URL
        ai_ok = bool(sec.openai_api_key or sec.openai_base_url)
        checks.append(
            (
                "key OPENAI_API_KEY or OPENAI_BASE_URL",
                "ok" if ai_ok else "fail",
                "set" if ai_ok else "not set: ai.provider is openai",
            )
        )
    return checks


def doctor(db: DbUrl = None, as_json: JsonOut = False) -> None:
    """Check settings, database, extensions, migrations, cron jobs and keys."""
    checks: list[Check] = []
    cfg: Config | None = None
    try:
        cfg = load_config()
        checks.append(("settings", "ok", "config.toml valid"))
    except SettingsError as exc:
        checks.append(("settings", "fail", str(exc)))
    try:
        sec = load_secrets()
    except SettingsError as exc:
        checks.append(("environment", "fail", str(exc)))
        sec = Secrets.model_construct()
    url = db or sec.database_url
    step: Callable[[], list[Check]]
    if url:
        try:
            with plain_connect(url, connect_timeout=5, **TRANSACTION_MODE) as conn:
                checks.append(("database connection", "ok", conn.info.host))
                step = lambda: _db_checks(conn)  # noqa: E731
                checks.extend(step())
        except DatabaseError as exc:
            checks.append(("database connection", "fail", str(exc).strip().splitlines()[0]))
    checks.extend(_key_checks(cfg, sec, db))
    rows = [{"check": n, "status": s, "detail": d} for n, s, d in checks]
    emit(rows, as_json, ["check", "status", "detail"], title="doctor")
    if any(s == "fail" for _, s, _ in checks):
        raise typer.Exit(1)
