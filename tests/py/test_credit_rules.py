"""The credit economy's rules (docs/credits.md): one allowance per credit day across tier
changes (R1), refunds within the charge's credit day (R2), anonymous accounts (R5), and
strict screenshot names and admin deltas (R8).

Tier changes arrive the real way, as signed Stripe subscription events through the API;
the credit day moves the way the reset tests move it (the account's `daily_reset_on`, and
for a charge, its analysis, one day back).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pyworker.db import SERVICE_ROLE, ApiError, call_json, connect
from pyworker.settings import DEFAULT_CONFIG, SettingsError, load_config
from tests.py.dbtools import TestDatabase, as_user, balances, rpc, rpc_error
from tests.py.fakes import stripe_events as ev
from tests.py.fakes.billing_env import WEBHOOK_SECRET, client_fixture, fake_stripe_fixture  # noqa: F401
from tests.py.test_credits_concurrency import set_buckets, set_setting
from tests.py.test_worker_protocol import claim, enqueue, fn, worker_conn

CFG = load_config()
FREE, PRO, PREMIUM = (CFG.tiers[t].daily_credits for t in ("free", "pro", "premium"))
BONUS = CFG.signup.bonus_credits
LONG = CFG.actions["long_chat"].cost


class Subscription:
    """A user's Stripe subscriptions, moved between tiers by signed events in order: a paid
    tier is the live subscription's price, "free" is its end (the fallback tier)."""

    def __init__(self, client: TestClient, user: uuid.UUID) -> None:
        self.client = client
        self.user = user
        self.sub: dict[str, Any] | None = None
        self.at = int(time.time()) - 1000

    def to(self, tier: str) -> None:
        self.at += 10
        if tier == CFG.subscriptions.fallback_tier:
            assert self.sub is not None
            kind, self.sub = "customer.subscription.deleted", {**self.sub, "status": "canceled"}
        elif self.sub is None or self.sub["status"] == "canceled":
            kind = "customer.subscription.created"
            self.sub = ev.subscription(str(self.user), CFG.tiers[tier].stripe_price_id)
        else:
            kind = "customer.subscription.updated"
            item = self.sub["items"]["data"][0]
            price = {**item["price"], "id": CFG.tiers[tier].stripe_price_id}
            self.sub = {
                **self.sub,
                "items": {**self.sub["items"], "data": [{**item, "price": price}]},
            }
        body, headers = ev.signed(ev.event(kind, self.sub, self.at), WEBHOOK_SECRET)
        answer = self.client.post("/api/webhook/stripe", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "processed", answer.json()


@pytest.fixture
def no_pending_limit(db: TestDatabase) -> None:
    """No worker drains the queue in these tests: lift the pending limit."""
    set_setting(db, "max_pending_analyses", "100000")


def spend(db: TestDatabase, user: uuid.UUID, times: int, action: str = "long_chat") -> None:
    with db.api_connect() as conn:
        for i in range(times):
            rpc(conn, user, "perform_action", action_type=action, input={"chat": f"spend {i}"})


def credits(db: TestDatabase, user: uuid.UUID) -> dict[str, Any]:
    with db.api_connect() as conn:
        return rpc(conn, user, "get_credits")  # type: ignore[no-any-return]


def ledger(db: TestDatabase, user: uuid.UUID, kind: str | None = None) -> list[dict[str, Any]]:
    return db.fetchall(
        "select kind, daily_delta, purchased_delta, balance_after, metadata"
        " from credits_transactions where user_id = %s and (%s::text is null or kind = %s)"
        " order by id",
        [user, kind, kind],
    )


def days_behind(db: TestDatabase, user: uuid.UUID, days: int = 1) -> None:
    """The credit day moves on: the account's last reset, and its charges, are `days` old."""
    db.execute("update users set daily_reset_on = daily_reset_on - %s where id = %s", [days, user])
    db.execute(
        "update analyses set created_at = created_at - make_interval(days => %s),"
        " charged_on = charged_on - %s where user_id = %s",
        [days, days, user],
    )


# ---------------------------------------------------------------------------
# R1: one credit day, one allowance
# ---------------------------------------------------------------------------


@pytest.mark.usefixtures("no_pending_limit")
def test_cycling_tiers_after_spending_the_day_gives_no_second_allowance(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    sub = Subscription(client, user)
    sub.to("premium")
    assert credits(db, user)["daily_credits"] == PREMIUM
    spend(db, user, PREMIUM // LONG)
    assert credits(db, user)["daily_credits"] == 0
    for _ in range(3):
        sub.to("pro")
        sub.to("premium")
    after = credits(db, user)
    assert (after["tier"], after["daily_credits"], after["purchased_credits"]) == (
        "premium",
        0,
        BONUS,
    )
    # what the day's tier changes wrote adds up to the one allowance upgrade
    grants = ledger(db, user, "subscription_grant")
    assert sum(g["daily_delta"] for g in grants) == PREMIUM - PRO


@pytest.mark.usefixtures("no_pending_limit")
def test_upgrade_gives_the_difference_and_downgrade_counts_what_was_used_today(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    spend(db, user, 3)  # 60 of the pro allowance
    sub = Subscription(client, user)
    sub.to("premium")
    assert credits(db, user)["daily_credits"] == PREMIUM - 3 * LONG
    sub.to("free")
    assert credits(db, user)["daily_credits"] == max(0, FREE - 3 * LONG)
    sub.to("pro")
    assert credits(db, user)["daily_credits"] == PRO - 3 * LONG
    assert [g["daily_delta"] for g in ledger(db, user, "subscription_grant")] == [
        PREMIUM - PRO,
        max(0, FREE - 3 * LONG) - (PREMIUM - 3 * LONG),
        PRO - 3 * LONG - max(0, FREE - 3 * LONG),
    ]


@pytest.mark.usefixtures("no_pending_limit")
def test_the_next_credit_day_gives_the_current_tier_its_whole_allowance(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    sub = Subscription(client, user)
    sub.to("premium")
    spend(db, user, PREMIUM // LONG)
    sub.to("pro")
    days_behind(db, user)
    # the lazy reset: a new day, nothing used yet
    assert credits(db, user)["daily_credits"] == PRO
    sub.to("premium")
    assert credits(db, user)["daily_credits"] == PREMIUM


@pytest.mark.usefixtures("no_pending_limit")
def test_the_batched_reset_starts_a_new_day_of_use(db: TestDatabase, client: TestClient) -> None:
    user = db.create_user()
    spend(db, user, PRO // LONG)
    days_behind(db, user)
    with connect(db.owner_dsn, role=SERVICE_ROLE, autocommit=True) as conn:
        conn.execute("select private.reset_daily(now())")
    assert balances(db, user)["daily_credits"] == PRO
    spend(db, user, 1)
    Subscription(client, user).to("premium")
    assert credits(db, user)["daily_credits"] == PREMIUM - LONG


@pytest.mark.usefixtures("no_pending_limit")
def test_a_tier_change_before_the_days_reset_applies_the_reset_first(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    spend(db, user, PRO // LONG)
    days_behind(db, user)
    # yesterday's use does not count against today's upgrade
    Subscription(client, user).to("premium")
    assert balances(db, user)["daily_credits"] == PREMIUM
    assert [r["kind"] for r in ledger(db, user)][-2:] == ["daily_reset", "subscription_grant"]


# ---------------------------------------------------------------------------
# R2: refunds
# ---------------------------------------------------------------------------


def fail_for_good(db: TestDatabase, aid: str) -> None:
    with worker_conn(db) as w:
        claim(w, "W")
        assert fn(w, "fail_analysis", analysis_id=aid, worker_id="W", error="x", retryable=False)


def test_a_refund_after_the_credit_day_changed_returns_only_the_purchased_part(
    db: TestDatabase,
) -> None:
    user = db.create_user()
    set_buckets(db, user, daily=5, purchased=40)
    [aid] = enqueue(db, user, action="long_chat")  # 5 daily + 15 purchased
    days_behind(db, user)
    fail_for_good(db, aid)
    assert (balances(db, user)["daily_credits"], balances(db, user)["purchased_credits"]) == (
        PRO,
        40,
    )
    refund = ledger(db, user, "action_refund")[-1]
    assert (refund["daily_delta"], refund["purchased_delta"]) == (0, 15)
    assert refund["metadata"]["daily_forfeited"] == 5


def test_a_reaped_refund_after_the_credit_day_changed_keeps_the_allowance(
    db: TestDatabase,
) -> None:
    user = db.create_user()
    [aid] = enqueue(db, user)
    db.execute("update analyses set max_attempts = 1 where id = %s", [aid])
    with worker_conn(db) as w:
        claim(w, "W")
    db.execute(
        "update analyses set locked_until = now() - interval '1 second' where id = %s", [aid]
    )
    days_behind(db, user)
    with connect(db.owner_dsn, role=SERVICE_ROLE, autocommit=True) as conn:
        conn.execute("select private.reap_expired_leases()")
    assert balances(db, user)["daily_credits"] == PRO


def test_a_same_day_refund_returns_the_daily_part(db: TestDatabase) -> None:
    user = db.create_user()
    [aid] = enqueue(db, user, action="long_chat")
    fail_for_good(db, aid)
    assert balances(db, user)["daily_credits"] == PRO
    refund = ledger(db, user, "action_refund")[-1]
    assert (refund["daily_delta"], refund["purchased_delta"]) == (LONG, 0)


def test_a_charge_from_a_day_that_began_while_the_call_waited_is_refunded_within_that_day(
    db: TestDatabase,
) -> None:
    """The call began just before the reset hour and waited for the account's row while
    a transaction that began after the hour reset it: the new day's allowance pays, and
    a refund on that day gives it back."""
    user = db.create_user()
    db.execute(
        "update users set daily_reset_on = private.credit_day(now()) + 1 where id = %s", [user]
    )
    [aid] = enqueue(db, user, action="long_chat")
    assert balances(db, user)["daily_credits"] == PRO - LONG
    fail_for_good(db, aid)
    assert balances(db, user)["daily_credits"] == PRO
    refund = ledger(db, user, "action_refund")[-1]
    assert (refund["daily_delta"], refund["purchased_delta"]) == (LONG, 0)


def test_an_admin_retry_on_a_later_day_is_refunded_within_its_own_day(db: TestDatabase) -> None:
    user = db.create_user()
    [aid] = enqueue(db, user, action="long_chat")
    fail_for_good(db, aid)
    days_behind(db, user)
    with connect(db.owner_dsn, role=SERVICE_ROLE, autocommit=True) as conn:
        retried = call_json(conn, "private.retry_analysis", analysis_id=aid)
    assert retried["daily_cost"] == LONG
    assert balances(db, user)["daily_credits"] == PRO - LONG
    fail_for_good(db, aid)
    # charged today (by the retry), refunded today: the daily part comes back
    assert balances(db, user)["daily_credits"] == PRO
    refund = ledger(db, user, "action_refund")[-1]
    assert (refund["daily_delta"], refund["purchased_delta"]) == (LONG, 0)


@pytest.mark.usefixtures("no_pending_limit")
def test_a_same_day_refund_never_lifts_daily_credits_above_the_current_allowance(
    db: TestDatabase, client: TestClient
) -> None:
    user = db.create_user()
    sub = Subscription(client, user)
    sub.to("premium")
    [aid] = enqueue(db, user, action="long_chat")
    spend(db, user, 2)
    sub.to("free")
    fail_for_good(db, aid)
    assert balances(db, user)["daily_credits"] == FREE
    # and the day's allowance still holds when the user goes back up
    sub.to("premium")
    assert balances(db, user)["daily_credits"] == PREMIUM - 3 * LONG + min(LONG, FREE)


# ---------------------------------------------------------------------------
# R5: anonymous accounts
# ---------------------------------------------------------------------------


def sign_in_anonymously(db: TestDatabase) -> uuid.UUID:
    user = uuid.uuid4()
    with db.connect("supabase_auth_admin") as conn:
        conn.execute("insert into auth.users (id, is_anonymous) values (%s, true)", [user])
    return user


def convert(db: TestDatabase, user: uuid.UUID, email: str | None = None) -> None:
    with db.connect("supabase_auth_admin") as conn:
        conn.execute(
            "update auth.users set is_anonymous = false, email = %s where id = %s",
            [email or f"{user}@example.test", user],
        )


def test_an_anonymous_sign_in_gets_the_anonymous_tier_and_no_bonus(db: TestDatabase) -> None:
    user = sign_in_anonymously(db)
    seen = credits(db, user)
    assert (seen["tier"], seen["daily_credits"], seen["purchased_credits"]) == ("free", FREE, 0)
    [row] = ledger(db, user)
    assert (row["kind"], row["daily_delta"], row["purchased_delta"]) == ("signup_bonus", FREE, 0)


def test_converting_gives_the_default_tier_and_the_bonus_once(db: TestDatabase) -> None:
    user = sign_in_anonymously(db)
    spend(db, user, 1, action="short_chat")
    convert(db, user)
    seen = credits(db, user)
    short = CFG.actions["short_chat"].cost
    assert (seen["tier"], seen["daily_credits"], seen["purchased_credits"]) == (
        CFG.signup.default_tier,
        PRO - short,
        BONUS,
    )
    row = ledger(db, user)[-1]
    assert (row["kind"], row["daily_delta"], row["purchased_delta"]) == (
        "signup_bonus",
        PRO - FREE,
        BONUS,
    )
    # anonymous again and converted again (an admin's doing): nothing more
    with db.connect("supabase_auth_admin") as conn:
        conn.execute("update auth.users set is_anonymous = true where id = %s", [user])
    convert(db, user, "other@example.test")
    assert credits(db, user)["purchased_credits"] == BONUS
    assert len(ledger(db, user, "signup_bonus")) == 2


def test_converting_keeps_a_paid_subscription_tier(db: TestDatabase, client: TestClient) -> None:
    user = sign_in_anonymously(db)
    Subscription(client, user).to("premium")
    convert(db, user)
    seen = credits(db, user)
    assert (seen["tier"], seen["daily_credits"], seen["purchased_credits"]) == (
        "premium",
        PREMIUM,
        BONUS,
    )


def test_a_normal_sign_up_is_unchanged_by_the_anonymous_rule(db: TestDatabase) -> None:
    user = db.create_user()
    seen = credits(db, user)
    assert (seen["tier"], seen["daily_credits"], seen["purchased_credits"]) == (
        CFG.signup.default_tier,
        PRO,
        BONUS,
    )


def test_the_anonymous_tier_is_synced_and_validated(db: TestDatabase, tmp_path: Path) -> None:
    row = db.fetchone("select value from app_settings where key = 'anonymous_tier'")
    assert row is not None and row["value"] == CFG.signup.anonymous_tier == "free"
    text = DEFAULT_CONFIG.read_text()
    bad = tmp_path / "config.toml"
    bad.write_text(text.replace('anonymous_tier = "free"', 'anonymous_tier = "gold"'))
    with pytest.raises(SettingsError, match=r"signup\.anonymous_tier: unknown tier 'gold'"):
        load_config(bad)
    missing = tmp_path / "default.toml"
    missing.write_text("\n".join(ln for ln in text.splitlines() if "anonymous_tier" not in ln))
    assert load_config(missing).signup.anonymous_tier == "free"


# ---------------------------------------------------------------------------
# R8: screenshot names and admin deltas
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "..%2Fother%2Fx.png",
        "%2e%2e",
        "..",
        ".",
        "a b.png",
        "shot\\x.png",
        "caf\u00e9.png",
        "x.png?y=1",
        "",
    ],
)
def test_screenshot_names_other_than_plain_characters_are_refused(
    db: TestDatabase, name: str
) -> None:
    user = db.create_user()
    with db.api_connect() as conn:
        err = rpc_error(
            conn,
            user,
            "perform_action",
            action_type="image_analysis",
            input={"image_path": f"{user}/{name}"},
        )
    assert (err.status, err.code, err.detail["field"]) == (400, "invalid_input", "input.image_path")
    assert balances(db, user)["daily_credits"] == PRO
    assert db.fetchone("select count(*) as n from analyses") == {"n": 0}


def test_a_plain_screenshot_name_is_accepted(db: TestDatabase) -> None:
    user = db.create_user()
    with db.api_connect() as conn:
        out = rpc(
            conn,
            user,
            "perform_action",
            action_type="image_analysis",
            input={"image_path": f"{user}/Screenshot_2026-12-05.at.10-00_x.PNG"},
        )
    assert out["status"] == "queued"


@pytest.fixture
def admin(db: TestDatabase) -> Iterator[uuid.UUID]:
    user = db.create_user()
    db.execute("update users set role = 'admin' where id = %s", [user])
    yield user


def adjust_error(db: TestDatabase, admin: uuid.UUID, user: uuid.UUID, delta: Any) -> ApiError:
    """admin_adjust_credits called by an admin the PostgREST way; the error it must raise."""
    with db.api_connect() as conn, as_user(conn, admin), pytest.raises(ApiError) as caught:
        call_json(conn, "public.admin_adjust_credits", user_id=user, delta=delta, reason="range")
    return caught.value


@pytest.mark.parametrize(
    "delta", [2**31, 2**31 - 1, -(2**31), -(2**31) - 1, 2**63, -(2**63) - 1, 10**30]
)
def test_admin_deltas_outside_the_range_are_a_clear_400(
    db: TestDatabase, admin: uuid.UUID, delta: int
) -> None:
    user = db.create_user()
    err = adjust_error(db, admin, user, delta)
    assert (err.status, err.code, err.detail["field"]) == (400, "invalid_input", "delta")
    assert balances(db, user)["purchased_credits"] == BONUS


def test_a_fractional_admin_delta_is_a_clear_400(db: TestDatabase, admin: uuid.UUID) -> None:
    user = db.create_user()
    err = adjust_error(db, admin, user, Decimal("1.5"))
    assert (err.status, err.code, err.detail["field"]) == (400, "invalid_input", "delta")


@pytest.mark.parametrize("delta", ["2147483648", "-2147483649", "99999999999999999999"])
def test_cli_admin_deltas_outside_the_range_are_one_clear_line(
    db: TestDatabase, delta: str
) -> None:
    from tests.py.test_cli_admin import one_error_line, run

    user = db.create_user()
    line = one_error_line(run(db, "credits", "adjust", str(user), delta, "--reason", "range"))
    assert "invalid_input" in line and "delta" in line and "does not exist" not in line
    assert balances(db, user)["purchased_credits"] == BONUS
