"""Through a transaction pooler: DATABASE_URL on PgBouncer (`pool_mode = transaction`).

The API, the worker and the admin CLI run their flows with DATABASE_URL on a
real PgBouncer in front of the test cluster, DIRECT_URL on the cluster itself
(the worker's LISTEN, migrations). Most tests here are the suite's own tests
of those flows, collected again in this module, where `db.owner_dsn` (what
the services get as DATABASE_URL) points at the pooler. Set-up and checks
still use direct connections, and the ledger invariant is checked after each.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from cli.main import app
from pyworker.db import SERVICE_ROLE, TRANSACTION_MODE, api_connect, connect
from pyworker.pgbouncer import PgBouncer
from pyworker.settings import ROOT
from tests.py.dbtools import TestDatabase, balances, rpc

# The flows, collected again here (through the pooler): billing routes and webhooks …
from tests.py.fakes.billing_env import client_fixture, fake_stripe_fixture  # noqa: F401
from tests.py.fakes.worker_process import start_worker
from tests.py.test_api import (
    test_buy_pack_creates_checkout_session_with_metadata_and_idempotency as test_buy_pack,
)
from tests.py.test_api import (
    test_buy_quick_pack_creates_payment_intent_for_pack_price as test_buy_quick_pack,
)
from tests.py.test_api import (
    test_cancel_subscription_at_period_end_or_immediately as test_cancel_subscription,
)
from tests.py.test_api import (
    test_concurrent_first_purchases_create_one_stripe_customer as test_concurrent_purchases,
)
from tests.py.test_api import (
    test_health_and_readiness as test_health_and_readiness,
)
from tests.py.test_api import (
    test_subscribe_uses_subscription_checkout_with_metadata as test_subscribe,
)

# … the admin CLI …
from tests.py.test_cli_admin import (
    test_analyses_list_and_retry_a_failed_one as test_cli_analyses_list_and_retry,
)
from tests.py.test_cli_admin import (
    test_credits_adjust_refusals_are_one_line_and_change_nothing as test_cli_adjust_refusals,
)
from tests.py.test_cli_admin import (
    test_credits_adjust_writes_one_row_and_history_shows_it as test_cli_credits_adjust,
)
from tests.py.test_cli_admin import (
    test_metrics_command_reports_each_day as test_cli_metrics,
)
from tests.py.test_cli_admin import (
    test_reconcile_passes_then_catches_a_corrupted_balance as test_cli_reconcile,
)
from tests.py.test_cli_admin import (
    test_reset_daily_gives_due_users_their_allowance as test_cli_reset_daily,
)
from tests.py.test_cli_admin import (
    test_users_list_filters_by_search_and_tier as test_cli_users_list,
)
from tests.py.test_cli_admin import (
    test_users_show_gives_account_and_activity as test_cli_users_show,
)
from tests.py.test_cli_admin import (
    wide_tables,  # noqa: F401
)
from tests.py.test_webhooks import (
    test_checkout_completed_and_payment_intent_succeeded_grant_once as test_webhook_grant_once,
)
from tests.py.test_webhooks import (
    test_dispute_claws_back_the_rest_and_restricts_the_account as test_webhook_dispute,
)
from tests.py.test_webhooks import (
    test_failed_event_answers_500_keeps_nothing_and_succeeds_on_retry as test_webhook_retry,
)
from tests.py.test_webhooks import (
    test_partial_then_full_refund_claws_back_cumulatively as test_webhook_refunds,
)
from tests.py.test_webhooks import (
    test_redelivered_event_is_answered_200_and_changes_nothing as test_webhook_redelivered,
)
from tests.py.test_webhooks import (
    test_subscription_state_never_moves_backwards as test_webhook_subscription_order,
)
from tests.py.test_webhooks_batching import (
    test_a_failing_event_does_not_undo_the_others_in_its_batch as test_webhook_batch_failure,
)
from tests.py.test_webhooks_batching import (
    test_many_concurrent_events_for_one_user_all_apply as test_webhook_concurrent_events,
)

# … and the worker as a real process.
from tests.py.test_worker_process import (
    config,
    perform,
    wait_status,
    workers,  # noqa: F401
)
from tests.py.test_worker_process import (
    test_a_worker_killed_mid_analysis_is_finished_by_another_charged_once as test_worker_killed,
)
from tests.py.test_worker_process import (
    test_bursts_of_analyses_from_many_users_all_finish_without_waiting_for_the_poll as test_bursts,
)
from tests.py.test_worker_process import (
    test_end_to_end_user_gets_a_result_for_chat_and_screenshot_through_the_rpc_path as test_e2e,
)
from tests.py.test_worker_process import (
    test_sigterm_after_the_grace_period_releases_without_using_an_attempt as test_release,
)

__all__ = [  # collected here again, through the pooler
    "test_bursts",
    "test_buy_pack",
    "test_buy_quick_pack",
    "test_cancel_subscription",
    "test_cli_adjust_refusals",
    "test_cli_analyses_list_and_retry",
    "test_cli_credits_adjust",
    "test_cli_metrics",
    "test_cli_reconcile",
    "test_cli_reset_daily",
    "test_cli_users_list",
    "test_cli_users_show",
    "test_concurrent_purchases",
    "test_e2e",
    "test_health_and_readiness",
    "test_release",
    "test_subscribe",
    "test_webhook_batch_failure",
    "test_webhook_concurrent_events",
    "test_webhook_dispute",
    "test_webhook_grant_once",
    "test_webhook_redelivered",
    "test_webhook_refunds",
    "test_webhook_retry",
    "test_webhook_subscription_order",
    "test_worker_killed",
]


@pytest.fixture
def db(db: TestDatabase, pooler: PgBouncer) -> TestDatabase:
    """The test's database with DATABASE_URL through the pooler."""
    return TestDatabase(db.name, db.port, pooler_port=pooler.port)


@pytest.fixture(autouse=True)
def direct_url(db: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """DIRECT_URL for the worker processes and the CLI, as in production."""
    monkeypatch.setenv("DIRECT_URL", db.direct_dsn)


# "prepared statement _pg3_0 does not exist" / "… already exists", on another server connection
PREPARED_STATEMENT_ERRORS = (
    psycopg.errors.InvalidSqlStatementName,
    psycopg.errors.DuplicatePreparedStatement,
)


def _spread_server_connections(db: TestDatabase, user: str = "postgres", clients: int = 4) -> None:
    """Make the pooler open several server connections (one per concurrent transaction)."""
    dsn = make_conninfo(db.owner_dsn, user=user)
    conns = [psycopg.connect(dsn, **TRANSACTION_MODE) for _ in range(clients)]
    try:
        for conn in conns:
            conn.execute("select 1")  # each holds a server connection: its transaction is open
        for conn in conns:
            conn.commit()  # a clean server connection goes back to the pool for the next client
    finally:
        for conn in conns:
            conn.close()


# -- the pooler is really in transaction mode -------------------------------------------


def test_the_pooler_breaks_prepared_statements_and_session_state(db: TestDatabase) -> None:
    """What the services must avoid fails here, so these tests can catch it."""
    _spread_server_connections(db)
    with (
        psycopg.connect(db.owner_dsn, autocommit=True) as conn,  # psycopg's defaults
        pytest.raises(PREPARED_STATEMENT_ERRORS),
    ):
        for _ in range(20):  # psycopg prepares from the 5th run on
            conn.execute("select private.analysis_queue_stats()").fetchone()
    with psycopg.connect(db.owner_dsn, autocommit=True, **TRANSACTION_MODE) as conn:
        conn.execute("set role service_role")
        roles = {conn.execute("select current_user").fetchone()[0] for _ in range(8)}  # type: ignore[index]
        assert "postgres" in roles  # the session's SET stayed behind on one server connection
    # the services' connections keep their role in every transaction, and prepare nothing
    with connect(db.owner_dsn, role=SERVICE_ROLE, autocommit=True) as conn:
        for _ in range(20):
            row = conn.execute("select current_user as who, private.analysis_queue_stats()")
            assert row.fetchone()["who"] == SERVICE_ROLE  # type: ignore[index]
    with connect(db.owner_dsn, role=SERVICE_ROLE) as conn, conn.transaction():
        assert conn.execute("select current_user as who").fetchone() == {"who": SERVICE_ROLE}
        assert conn.execute("select current_user as who").fetchone() == {"who": SERVICE_ROLE}


# -- the worker: claims through the pooler, LISTEN on DIRECT_URL --------------------------


def test_worker_on_the_pooler_wakes_within_a_second_of_each_action(
    db: TestDatabase,
    tmp_path: Path,
    workers: list,  # type: ignore[type-arg]  # noqa: F811
) -> None:
    cfg = config(tmp_path, worker={"poll_seconds": 60})  # only NOTIFY can wake it in time
    workers.append(start_worker(db.owner_dsn, cfg, tmp_path / "w.log"))
    user = db.create_user()
    time.sleep(0.5)  # the worker has claimed nothing and sleeps on LISTEN
    for _ in range(5):
        started = time.monotonic()
        aid = perform(db, user)
        wait_status(db, aid, "done", timeout=5)
        assert time.monotonic() - started < 1.0
    assert balances(db, user)["credits_remaining"] == 150 - 5 * 5
    assert workers[0].terminate() == 0


# -- the CLI: migrations on DIRECT_URL, everything else on the pooler ------------------


def test_db_migrate_uses_direct_url_while_commands_use_the_pooler(db: TestDatabase) -> None:
    env = {**os.environ, "DATABASE_URL": db.owner_dsn, "DIRECT_URL": db.direct_dsn}
    migrate = subprocess.run(
        [sys.executable, "-m", "cli", "db", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # everything applied through DIRECT_URL; the one error is pg_cron's, which lives only
    # in the test cluster's cron database (test_migrate.py covers enabling it)
    assert "no pending migrations" in migrate.stdout, migrate.stdout + migrate.stderr
    assert migrate.stderr.strip().startswith("error: pg_cron could not be enabled"), migrate.stderr
    assert len(migrate.stderr.strip().splitlines()) == 1, migrate.stderr
    status = CliRunner().invoke(app, ["db", "status"], env=env)
    assert status.exit_code == 0, status.output


def test_cli_commands_keep_their_role_on_any_server_connection(db: TestDatabase) -> None:
    users = [db.create_user() for _ in range(3)]
    _spread_server_connections(db)
    for user in users * 3:
        result = CliRunner().invoke(
            app,
            ["credits", "adjust", str(user), "7", "--reason", "goodwill", "--db-url", db.owner_dsn],
        )
        assert result.exit_code == 0, result.output
    for user in users:
        assert balances(db, user)["purchased_credits"] == 50 + 21


def test_perform_action_through_the_pooler_the_postgrest_way(db: TestDatabase) -> None:
    """PostgREST's call path (set local role + claims in one transaction) through the pooler."""
    user = db.create_user()
    _spread_server_connections(db, "authenticator")
    with api_connect(db.owner_dsn) as api:
        for n in range(3):
            rpc(api, user, "perform_action", action_type="short_chat", input={"chat": f"hi {n}"})
        for _ in range(10):
            assert rpc(api, user, "get_credits")["credits_remaining"] == 150 - 3 * 5
            assert len(rpc(api, user, "get_history")["items"]) == 3
