"""The credit economy holds under any sequence of what users, Stripe and the worker can do.

A hypothesis `RuleBasedStateMachine` drives random interleavings through the real
paths, on a fresh clone of the migrated template database per example:

- users: `get_credits` and `perform_action` (with and without idempotency keys, and
  replays) the PostgREST way, `POST /api/user/buy_pack|buy_quick_pack|subscribe|
  cancel_subscription` through the FastAPI app in-process (Stripe API calls go to the
  local fake), anonymous sign-ins and their conversion (inserts/updates of
  `auth.users` as Supabase Auth makes them);
- Stripe: signed events through the real webhook handler: paid packs (Checkout and
  PaymentIntent, some underpaid), subscriptions created / updated (tier up and down) /
  deleted, renewals (`invoice.paid`), cumulative partial refunds, disputes on pack and
  subscription charges, each delivered in any order (and answered 200 whatever came
  before it) and delivered again;
- the worker: `claim_analyses`, `complete_analysis`, `fail_analysis` (retryable and
  permanent) as the `flirt_worker` role, leases running out, the reaper;
- time: the credit day moves forward by moving every stored date and timestamp one
  day back (so every rule that compares a stored time with `now()` sees a day pass),
  then the lazy reset or the `flirt_daily_reset` job's own command does the reset;
- admins: `admin_adjust_credits` as service_role.

After every step it checks the ledger invariant and the economy rules of
docs/credits.md and docs/stripe.md (R1 one day one allowance, R2 refunds, R3 disputes,
R4 paid means paid, R5 anonymous accounts), the debit order, that buckets stay at or
above zero except a clawback debt, that purchased credits come only from correctly
paid packs, signup bonuses and admin adjustments, and that every Stripe event is
applied at most once. Where a rule leaves room (how a tier change clamps), the check
is the bound the rule guarantees, not one implementation.

CI runs the `ci` profile (25 examples of up to 40 steps). A longer run, by hand:

    HYPOTHESIS_PROFILE=soak .venv/bin/pytest tests/py/test_economy_model.py -q -s --timeout 0

(`soak`: 200 examples of up to 100 steps; `ECONOMY_EXAMPLES` and `ECONOMY_STEPS`
override either profile's figures.) A failure prints the shortest sequence of steps
hypothesis found, ready to be replayed as a scenario test.
"""

from __future__ import annotations

import copy
import itertools
import os
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from pyworker import devstack
from pyworker.api.app import create_app
from pyworker.db import ApiError, call_json
from pyworker.providers.base import AnalysisRequest
from pyworker.providers.mock import mock_result
from pyworker.settings import load_config
from tests.py.conftest import TEMPLATE
from tests.py.dbtools import TestDatabase, as_role, rpc
from tests.py.fakes import stripe_events as ev
from tests.py.fakes import stripe_fake
from tests.py.fakes.billing_env import WEBHOOK_SECRET, auth, secrets_for

CFG = load_config()
ALLOWANCE = {tier_id: tier.daily_credits for tier_id, tier in CFG.tiers.items()}
COST = {action: spec.cost for action, spec in CFG.actions.items() if spec.enabled}
PACK_PRICE = {p: f"{pack.price_cents} {pack.currency}" for p, pack in CFG.packs.items()}
PACK_TOTAL = {p: pack.credits + pack.bonus_credits for p, pack in CFG.packs.items()}
PAID_TIERS = sorted(t for t, tier in CFG.tiers.items() if tier.stripe_price_id)
TIER_OF_PRICE = {tier.stripe_price_id: t for t, tier in CFG.tiers.items() if tier.stripe_price_id}
DEFAULT_TIER = CFG.signup.default_tier
BONUS = CFG.signup.bonus_credits
ANONYMOUS_TIER = getattr(CFG.signup, "anonymous_tier", None) or "free"
FALLBACK_TIER = CFG.subscriptions.fallback_tier
TIER_PRICE_CENTS = {"pro": 999, "premium": 1999}
WEBHOOK = "/api/webhook/stripe"
RESULT = mock_result(AnalysisRequest("x", "short_chat", {"chat": "hi"})).model_dump()
# perform_action refusals a user may legitimately get; anything else is a failure
EXPECTED_REFUSALS = {"insufficient_credits", "too_many_pending", "account_restricted"}
# ledger kinds whose positive purchased delta is not a sign-up bonus
NON_BONUS_INFLOW = {"purchase", "admin_adjust", "action_refund"}

PROFILES = {
    "ci": {"max_examples": 25, "stateful_step_count": 40},
    "soak": {"max_examples": 200, "stateful_step_count": 100},
}
# Rules to leave unchecked (e.g. ECONOMY_IGNORE=R1,R5 while those are being fixed), so that
# the run reports the other rules' violations.
IGNORED = {r.strip() for r in os.environ.get("ECONOMY_IGNORE", "").split(",") if r.strip()}


def holds(rule_id: str, ok: bool, message: str) -> None:
    """Assert one of the economy rules (R1…R5) unless it is ignored for this run."""
    if rule_id not in IGNORED:
        assert ok, f"{rule_id}: {message}"


def profile_settings() -> settings:
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    figures = dict(PROFILES.get(name, PROFILES["ci"]))
    if os.environ.get("ECONOMY_EXAMPLES"):
        figures["max_examples"] = int(os.environ["ECONOMY_EXAMPLES"])
    if os.environ.get("ECONOMY_STEPS"):
        figures["stateful_step_count"] = int(os.environ["ECONOMY_STEPS"])
    return settings(
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
        **figures,
    )


def tier_of(price: str) -> str:
    return TIER_OF_PRICE[price]


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------


@dataclass
class Charge:
    """An action's debit as the ledger recorded it, and the model's day it happened on."""

    user: uuid.UUID
    day: int
    daily: int
    purchased: int
    refunded: bool = False


@dataclass
class StripeCharge:
    """A payment Stripe took: a pack (PaymentIntent) or a subscription invoice."""

    user: uuid.UUID
    payment_intent: str
    charge: str
    amount: int
    currency: str
    customer: str
    pack: str | None
    metadata: dict[str, str]
    refunded: int = 0
    disputed: bool = False


@dataclass
class Order:
    """A pack the user started buying through the API, not paid yet."""

    user: uuid.UUID
    pack: str
    session_id: str | None  # Checkout
    payment_intent: str | None  # quick pack


@dataclass
class UserModel:
    id: uuid.UUID
    anonymous: bool
    bonus: int  # sign-up bonus the account is owed so far
    customer: str | None = None
    subscription: str | None = None  # the fake Stripe subscription the API knows of
    keys: dict[str, tuple[str, dict[str, Any], str]] = field(default_factory=dict)
    tiers_today: set[str] = field(default_factory=set)
    spent_today: int = 0
    admin_inflow: int = 0
    admin_deltas: list[int] = field(default_factory=list)
    disputed: bool = False
    clawed: int = 0


@dataclass
class Environment:
    """What every example shares: one clone of the template, the API app, connections."""

    cluster: devstack.Cluster
    db: TestDatabase
    stripe: stripe_fake.FakeStripe
    client: TestClient
    owner: psycopg.Connection[Any]
    api: psycopg.Connection[Any]
    worker: psycopg.Connection[Any]
    data_tables: list[str]  # the tables the template holds no row of
    shift_columns: list[tuple[str, str, str, str]]

    def superuser(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.cluster.dsn(devstack.SUPERUSER, self.db.name), autocommit=True)

    def empty(self) -> None:
        """Back to the template's state: every table the template has no row in is emptied
        (faster than a clone per example; configuration tables keep their rows)."""
        with self.superuser() as su:
            su.execute(f"truncate {', '.join(self.data_tables)} cascade")  # type: ignore[arg-type]
            # The credit day starts about 12 hours from now, so that a run never crosses a
            # real day boundary: only credit_day_passes moves the credit day. Retries come
            # due only when a step says so (retry_backoff_elapses), not when the wall clock
            # happens to pass them: the same steps give the same run.
            su.execute(
                "update public.app_settings set value = case key"
                "  when 'reset_hour' then to_jsonb(%s::int) else '3600'::jsonb end"
                " where key in ('reset_hour', 'retry_base_seconds')",
                [(datetime.now(UTC).hour + 12) % 24],
            )


def open_environment(
    cluster: devstack.Cluster, stripe: stripe_fake.FakeStripe, name: str
) -> Environment:
    cluster.create_database(name, template=TEMPLATE)
    db = TestDatabase(name, cluster.port)
    owner = db.connect(autocommit=True)
    with psycopg.connect(cluster.dsn(devstack.SUPERUSER, name), autocommit=True) as su:
        tables = [
            r[0]
            for r in su.execute(
                "select format('%I.%I', n.nspname, c.relname)"
                " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                " where c.relkind in ('r', 'p')"
                " and n.nspname in ('public', 'private', 'auth', 'storage')"
                " order by 1"
            ).fetchall()
        ]
        data_tables = [
            t
            for t in tables
            if su.execute(f"select from {t} limit 1").fetchone() is None  # type: ignore[arg-type]
        ]
    shift_columns = [
        (r["table_schema"], r["table_name"], r["column_name"], r["data_type"])
        for r in owner.execute(
            "select c.table_schema, c.table_name, c.column_name, c.data_type"
            " from information_schema.columns c"
            " join information_schema.tables t using (table_schema, table_name)"
            " where c.table_schema in ('public', 'private') and t.table_type = 'BASE TABLE'"
            " and c.is_generated = 'NEVER' and c.table_name <> 'admin_metrics'"
            " and c.data_type in ('date', 'timestamp with time zone',"
            "                     'timestamp without time zone')"
            " order by 1, 2, 3"
        ).fetchall()
    ]
    worker = db.connect(autocommit=True)
    worker.execute("set role flirt_worker")
    client = TestClient(create_app(CFG, secrets_for(db, stripe.url), pool_size=2))
    client.__enter__()
    return Environment(
        cluster, db, stripe, client, owner, db.api_connect(), worker, data_tables, shift_columns
    )


def close_environment(env: Environment) -> None:
    try:
        env.client.__exit__(None, None, None)
    finally:
        for conn in (env.api, env.worker, env.owner):
            conn.close()
        env.cluster.drop_database(env.db.name)


class EconomyMachine(RuleBasedStateMachine):
    env: ClassVar[Environment]
    steps_checked: ClassVar[int] = 0  # invariant checks passed, over all examples
    examples: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        env = self.env
        env.empty()
        self.db, self.stripe, self.client = env.db, env.stripe, env.client
        self.owner, self.api, self.worker = env.owner, env.api, env.worker
        if self.api.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.api.rollback()
        self.day = 0
        self.users: list[UserModel] = []
        self.charges: dict[str, Charge] = {}
        self.issued: set[str] = set()  # analysis ids perform_action returned as new
        self.orders: list[Order] = []
        self.stripe_charges: list[StripeCharge] = []
        self.correctly_paid: dict[str, tuple[uuid.UUID, str]] = {}  # pi -> (user, pack)
        self.granted: set[str] = set()
        self.pending: list[dict[str, Any]] = []
        self.acked: list[dict[str, Any]] = []
        self.stripe_clock = int(time.time())
        self.last_ledger_id = 0
        self.seq = itertools.count(1)
        EconomyMachine.examples += 1
        for _ in range(2):
            self._sign_up(anonymous=False)
        self.check_everything()

    # -- helpers ---------------------------------------------------------------

    def _sign_up(self, anonymous: bool) -> UserModel:
        user_id = uuid.uuid4()
        with self.db.connect("supabase_auth_admin") as conn:
            conn.execute(
                "insert into auth.users (id, email, is_anonymous) values (%s, %s, %s)",
                [user_id, None if anonymous else f"{user_id}@example.test", anonymous],
            )
        model = UserModel(user_id, anonymous=anonymous, bonus=0 if anonymous else BONUS)
        model.tiers_today = {self._user_row(user_id)["tier"]}
        self.users.append(model)
        return model

    def _user_row(self, user_id: uuid.UUID) -> dict[str, Any]:
        row = self.owner.execute("select * from users where id = %s", [user_id]).fetchone()
        assert row is not None
        return dict(row)

    def _user(self, i: int, stripe: bool = False) -> UserModel:
        candidates = [u for u in self.users if not (stripe and u.anonymous)]
        return candidates[i % len(candidates)]

    def _stripe_now(self) -> int:
        self.stripe_clock = max(int(time.time()), self.stripe_clock + 1)
        return self.stripe_clock

    def _emit(self, type_: str, obj: dict[str, Any]) -> None:
        self.pending.append(ev.event(type_, copy.deepcopy(obj), created=self._stripe_now()))

    def _customer(self, user: UserModel) -> str:
        if user.customer is None:
            user.customer = self._user_row(user.id)["stripe_customer_id"]
        assert user.customer, "the API created no Stripe customer"
        return user.customer

    def _take_payment(
        self,
        user: UserModel,
        amount: int,
        currency: str,
        pack: str | None,
        metadata: dict[str, str],
        invoice: str | None = None,
        charge_metadata: dict[str, str] | None = None,
    ) -> StripeCharge:
        """Stripe charges the customer: a PaymentIntent with its charge, known to the fake.
        The charge carries `charge_metadata` (default: the PaymentIntent's)."""
        pid = f"pi_econ{next(self.seq):06d}{uuid.uuid4().hex[:8]}"
        charge = StripeCharge(
            user.id,
            pid,
            "ch_" + pid.removeprefix("pi_"),
            amount,
            currency,
            self._customer(user),
            pack,
            metadata if charge_metadata is None else charge_metadata,
        )
        intent = {
            "id": pid,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency,
            "customer": charge.customer,
            "latest_charge": charge.charge,
            "metadata": metadata,
            "status": "succeeded",
            "created": self.stripe_clock,
            **({"invoice": invoice} if invoice else {}),
        }
        with self.stripe.lock:
            self.stripe.intents[pid] = intent
            self.stripe.charges[charge.charge] = self._charge_object(charge)
        self.stripe_charges.append(charge)
        return charge

    def _charge_object(self, charge: StripeCharge) -> dict[str, Any]:
        return {
            "id": charge.charge,
            "object": "charge",
            "amount": charge.amount,
            "amount_captured": charge.amount,
            "amount_refunded": charge.refunded,
            "currency": charge.currency,
            "customer": charge.customer,
            "payment_intent": charge.payment_intent,
            "metadata": charge.metadata,
            "refunded": charge.refunded >= charge.amount,
            "status": "succeeded",
        }

    def _invoice(self, user: UserModel, sub: dict[str, Any], reason: str) -> None:
        price = sub["items"]["data"][0]["price"]["id"]
        amount = TIER_PRICE_CENTS.get(tier_of(price), 999)
        invoice_id = f"in_econ{next(self.seq):06d}"
        charge = self._take_payment(user, amount, "usd", None, {}, invoice=invoice_id)
        inv = ev.invoice(sub["id"], price, str(user.id), amount)
        inv.update(id=invoice_id, customer=charge.customer, billing_reason=reason)
        self._emit("payment_intent.succeeded", self.stripe.intents[charge.payment_intent])
        self._emit("invoice.paid", inv)

    def _api(self, user: UserModel, path: str, body: dict[str, Any]) -> Any:
        response = self.client.post(f"/api/user/{path}", json=body, headers=auth(user.id))
        assert response.status_code < 500, f"{path}: {response.status_code} {response.text}"
        return response

    def _deliver(self, evt: dict[str, Any]) -> Any:
        body, headers = ev.signed(evt, WEBHOOK_SECRET)
        return self.client.post(WEBHOOK, content=body, headers=headers)

    def _snapshot(self) -> Any:
        users = self.owner.execute(
            "select id, tier, daily_credits, purchased_credits, restricted_reason,"
            " subscription_status from users order by id"
        ).fetchall()
        last = self.owner.execute("select max(id) as m from credits_transactions").fetchone()
        return users, last

    # -- users -----------------------------------------------------------------

    @rule(i=st.integers(0, 9))
    def get_credits(self, i: int) -> None:
        user = self._user(i)
        out = rpc(self.api, user.id, "get_credits")
        row = self._user_row(user.id)
        assert (out["daily_credits"], out["purchased_credits"], out["tier"]) == (
            row["daily_credits"],
            row["purchased_credits"],
            row["tier"],
        )

    @rule(
        i=st.integers(0, 9),
        action=st.sampled_from(sorted(a for a in COST if not a.startswith("image_"))),
        key=st.sampled_from(["none", "new", "replay", "reuse_other_input"]),
        n=st.integers(0, 3),
    )
    def perform_action(self, i: int, action: str, key: str, n: int) -> None:
        user = self._user(i)
        payload: dict[str, Any] = {"chat": f"hello {n}"}
        idem: str | None = None
        expect_replay: str | None = None
        if key in ("replay", "reuse_other_input") and user.keys:
            idem = sorted(user.keys)[n % len(user.keys)]
            old_action, old_input, old_id = user.keys[idem]
            if key == "replay":
                action, payload, expect_replay = old_action, old_input, old_id
            else:
                payload = {"chat": old_input["chat"] + " and more"}
        elif key != "none":
            idem = f"k{next(self.seq)}"
        try:
            out = rpc(
                self.api,
                user.id,
                "perform_action",
                action_type=action,
                input=payload,
                idempotency_key=idem,
            )
        except ApiError as exc:
            if key == "reuse_other_input" and idem in user.keys:
                assert exc.code == "idempotency_key_reused", exc
                return
            assert exc.code in EXPECTED_REFUSALS, f"perform_action refused: {exc.code} {exc}"
            if exc.code == "insufficient_credits":
                assert exc.detail["available"] < COST[action], exc.detail
            return
        if expect_replay is not None:
            assert out["replayed"] is True and out["analysis_id"] == expect_replay, out
            return
        assert out["replayed"] is False and out["cost"] == COST[action], out
        self.issued.add(out["analysis_id"])
        if idem is not None:
            user.keys[idem] = (action, payload, out["analysis_id"])

    @precondition(lambda self: sum(u.anonymous for u in self.users) < 2)
    @rule()
    def anonymous_sign_in(self) -> None:
        user = self._sign_up(anonymous=True)
        row = self._user_row(user.id)
        # R5: an anonymous sign-in gets the anonymous tier and no bonus
        holds("R5", row["tier"] == ANONYMOUS_TIER, f"anonymous sign-in got tier {row['tier']}")

    @precondition(lambda self: any(u.anonymous for u in self.users))
    @rule(i=st.integers(0, 9))
    def convert_anonymous_account(self, i: int) -> None:
        anonymous = [u for u in self.users if u.anonymous]
        user = anonymous[i % len(anonymous)]
        with self.db.connect("supabase_auth_admin") as conn:
            conn.execute(
                "update auth.users set is_anonymous = false, email = %s where id = %s",
                [f"{user.id}@example.test", user.id],
            )
        user.anonymous = False
        user.bonus = BONUS
        row = self._user_row(user.id)
        # R5: converting gives the default tier (and the bonus, checked with the ledger)
        holds("R5", row["tier"] == DEFAULT_TIER, f"converted account is on {row['tier']}")

    @rule(i=st.integers(0, 9), pack=st.sampled_from(sorted(CFG.packs)), quick=st.booleans())
    def buy_pack(self, i: int, pack: str, quick: bool) -> None:
        user = self._user(i, stripe=True)
        path = "buy_quick_pack" if quick else "buy_pack"
        response = self._api(user, path, {"pack_id": pack})
        if response.status_code != 200:
            assert response.json()["error"]["code"] == "account_restricted", response.text
            return
        body = response.json()
        self.orders.append(
            Order(user.id, pack, body.get("session_id"), body.get("payment_intent_id"))
        )

    @rule(i=st.integers(0, 9), tier=st.sampled_from(PAID_TIERS))
    def subscribe(self, i: int, tier: str) -> None:
        user = self._user(i, stripe=True)
        response = self._api(user, "subscribe", {"tier": tier})
        if response.status_code != 200:
            code = response.json()["error"]["code"]
            assert code in ("account_restricted", "already_subscribed"), response.text
            return
        body = response.json()
        if body.get("session_id"):
            self._complete_subscription_checkout(user, body["session_id"], tier)
            return
        # the API moved the existing subscription to the new price (prorated)
        sub = self.stripe.subscriptions[body["subscription_id"]]
        self._emit("customer.subscription.updated", sub)
        self._invoice(user, sub, "subscription_update")

    @rule(i=st.integers(0, 9), immediately=st.booleans())
    def cancel_subscription(self, i: int, immediately: bool) -> None:
        user = self._user(i, stripe=True)
        response = self._api(user, "cancel_subscription", {"immediately": immediately})
        if response.status_code != 200:
            assert response.json()["error"]["code"] == "no_subscription", response.text
            return
        row = self._user_row(user.id)
        sub = self.stripe.subscriptions[row["subscription_id"]]
        self._emit(
            "customer.subscription.deleted" if immediately else "customer.subscription.updated", sub
        )

    # -- Stripe ----------------------------------------------------------------

    @precondition(lambda self: bool(self.orders))
    @rule(
        i=st.integers(0, 99),
        paid=st.sampled_from(["full", "full", "one_cent", "short", "jpy"]),
        copied=st.booleans(),
    )
    def stripe_pays_pack(self, i: int, paid: str, copied: bool) -> None:
        """Stripe takes a pack payment. Its charge may or may not carry the PaymentIntent's
        metadata (`copied`): a refund or dispute must not depend on it."""
        order = self.orders.pop(i % len(self.orders))
        user = next(u for u in self.users if u.id == order.user)
        price = CFG.packs[order.pack].price_cents
        currency = CFG.packs[order.pack].currency
        meta = {"user_id": str(user.id), "pack_id": order.pack}
        if order.session_id is not None:
            # Checkout charges the price of its line item: always the pack's price
            charge = self._take_payment(
                user, price, currency, order.pack, meta, charge_metadata=meta if copied else {}
            )
            session = dict(self.stripe.sessions[order.session_id])
            session.pop("line_items_price", None)
            session.update(
                payment_intent=charge.payment_intent,
                payment_status="paid",
                status="complete",
                amount_subtotal=price,
                amount_total=price,
                currency=currency,
            )
            self.correctly_paid[charge.payment_intent] = (user.id, order.pack)
            self._emit("checkout.session.completed", session)
            self._emit("payment_intent.succeeded", self.stripe.intents[charge.payment_intent])
            return
        assert order.payment_intent is not None
        amount, cur = {
            "full": (price, currency),
            "one_cent": (1, currency),
            "short": (price - 1, currency),
            "jpy": (price, "jpy"),
        }[paid]
        intent = self.stripe.intents[order.payment_intent]
        intent.update(
            status="succeeded",
            amount_received=amount,
            currency=cur,
            latest_charge="ch_" + order.payment_intent.removeprefix("pi_"),
        )
        charge = StripeCharge(
            user.id,
            order.payment_intent,
            intent["latest_charge"],
            amount,
            cur,
            self._customer(user),
            order.pack,
            meta if copied else {},
        )
        with self.stripe.lock:
            self.stripe.charges[charge.charge] = self._charge_object(charge)
        self.stripe_charges.append(charge)
        if (amount, cur) == (price, currency):
            self.correctly_paid[order.payment_intent] = (user.id, order.pack)
        self._emit("payment_intent.succeeded", intent)

    def _complete_subscription_checkout(self, user: UserModel, session_id: str, tier: str) -> None:
        """The user pays the subscription Checkout: Stripe creates the subscription."""
        price = CFG.tiers[tier].stripe_price_id
        sub = self.stripe.add_subscription(self._customer(user), price, str(user.id))
        sub["metadata"] = {"user_id": str(user.id), "tier": tier}
        session = dict(self.stripe.sessions[session_id])
        session.pop("line_items_price", None)
        session.update(status="complete", payment_status="paid", subscription=sub["id"])
        self._emit("customer.subscription.created", sub)
        self._invoice(user, sub, "subscription_create")
        self._emit("checkout.session.completed", session)

    @rule(i=st.integers(0, 9))
    def stripe_period_ends(self, i: int) -> None:
        """The billing period rolls over: a renewal invoice, or the end of a cancelled one."""
        user = self._user(i, stripe=True)
        subs = [
            s
            for s in self.stripe.subscriptions.values()
            if s["metadata"].get("user_id") == str(user.id) and s["status"] == "active"
        ]
        if not subs:
            return
        sub = subs[-1]
        if sub["cancel_at_period_end"]:
            sub["status"] = "canceled"
            self._emit("customer.subscription.deleted", sub)
        else:
            self._invoice(user, sub, "subscription_cycle")

    @precondition(lambda self: bool(self.stripe_charges))
    @rule(i=st.integers(0, 99), share=st.sampled_from([0.25, 0.5, 1.0]))
    def stripe_refunds(self, i: int, share: float) -> None:
        charge = self.stripe_charges[i % len(self.stripe_charges)]
        if charge.refunded >= charge.amount:
            return
        charge.refunded = min(charge.amount, charge.refunded + max(1, int(charge.amount * share)))
        self._emit("charge.refunded", self._charge_object(charge))

    @precondition(lambda self: bool(self.stripe_charges))
    @rule(i=st.integers(0, 99))
    def stripe_dispute_opens(self, i: int) -> None:
        charge = self.stripe_charges[i % len(self.stripe_charges)]
        if charge.disputed:
            return
        charge.disputed = True
        dispute = ev.dispute(charge.payment_intent, charge.amount)
        dispute.update(charge=charge.charge, currency=charge.currency)
        self._emit("charge.dispute.created", dispute)

    @precondition(lambda self: bool(self.pending))
    @rule(i=st.integers(0, 99))
    def deliver(self, i: int) -> None:
        """Stripe delivers a pending event, in any order: every one is applied (answered
        200) whatever came before it; a refund or dispute before its grant too."""
        evt = self.pending[i % len(self.pending)]
        response = self._deliver(evt)
        assert response.status_code == 200, f"{evt['type']}: {response.status_code} {response.text}"
        self.pending.remove(evt)
        self.acked.append(evt)
        if evt["type"] == "charge.dispute.created":
            charge = next(
                c
                for c in self.stripe_charges
                if c.payment_intent == evt["data"]["object"]["payment_intent"]
            )
            next(u for u in self.users if u.id == charge.user).disputed = True

    @precondition(lambda self: bool(self.pending))
    @rule(reverse=st.booleans())
    def deliver_all(self, reverse: bool) -> None:
        """Stripe catches up: every pending event, oldest or newest first."""
        for evt in list(reversed(self.pending) if reverse else self.pending):
            self.deliver(self.pending.index(evt))

    @precondition(lambda self: bool(self.acked))
    @rule(i=st.integers(0, 99))
    def redeliver(self, i: int) -> None:
        """Stripe delivers an acknowledged event again: answered 200, nothing changes."""
        evt = self.acked[i % len(self.acked)]
        before = self._snapshot()
        response = self._deliver(evt)
        assert response.status_code == 200, response.text
        assert response.json()["duplicate"] is True, f"event applied twice: {response.text}"
        assert self._snapshot() == before, f"a second delivery of {evt['id']} changed state"

    # -- the worker ------------------------------------------------------------

    @rule(worker=st.sampled_from(["w1", "w2"]), n=st.integers(1, 4))
    def worker_claims(self, worker: str, n: int) -> None:
        self.worker.execute("select * from private.claim_analyses(%s, %s, 3600)", [worker, n])

    def _processing(self, i: int) -> str | None:
        rows = self.owner.execute(
            "select id from analyses where status = 'processing' order by created_at, id"
        ).fetchall()
        return str(rows[i % len(rows)]["id"]) if rows else None

    @rule(worker=st.sampled_from(["w1", "w2"]), i=st.integers(0, 99))
    def worker_completes(self, worker: str, i: int) -> None:
        aid = self._processing(i)
        if aid is not None:
            call_json(
                self.worker,
                "private.complete_analysis",
                analysis_id=aid,
                worker_id=worker,
                result=RESULT,
                model="mock",
            )

    @rule(worker=st.sampled_from(["w1", "w2"]), i=st.integers(0, 99), retryable=st.booleans())
    def worker_fails(self, worker: str, i: int, retryable: bool) -> None:
        aid = self._processing(i)
        if aid is not None:
            call_json(
                self.worker,
                "private.fail_analysis",
                analysis_id=aid,
                worker_id=worker,
                error="provider said no",
                retryable=retryable,
            )

    @rule()
    def leases_run_out(self) -> None:
        self.owner.execute(
            "update analyses set locked_until = now() - interval '1 second'"
            " where status = 'processing'"
        )

    @rule()
    def retry_backoff_elapses(self) -> None:
        self.owner.execute("update analyses set run_after = now() where status = 'queued'")

    @rule()
    def reaper_runs(self) -> None:
        self.owner.execute("select private.reap_expired_leases()")

    # -- time and admins -------------------------------------------------------

    @rule()
    def credit_day_passes(self) -> None:
        """Everything stored moves one day into the past: a day has gone by."""
        by_table: dict[str, list[str]] = defaultdict(list)
        for schema, table, column, data_type in self.env.shift_columns:
            step = "1" if data_type == "date" else "interval '1 day'"
            by_table[f'"{schema}"."{table}"'].append(f'"{column}" = "{column}" - {step}')
        with self.env.superuser() as su:
            su.execute("set session_replication_role = replica")  # the ledger is append-only
            for table, sets in by_table.items():
                su.execute(f"update {table} set {', '.join(sets)}")  # type: ignore[arg-type]
        for evt in (*self.pending, *self.acked):
            evt["created"] -= 86400
        self.stripe_clock -= 86400
        self.day += 1
        for user in self.users:
            user.tiers_today = {self._user_row(user.id)["tier"]}
            user.spent_today = 0

    @rule()
    def daily_reset_job_runs(self) -> None:
        """The flirt_daily_reset job's own command, run as pg_cron runs it."""
        job = self.owner.execute(
            "select command from private.cron_jobs(15) where jobname = 'flirt_daily_reset'"
        ).fetchone()
        assert job is not None
        self.owner.execute(job["command"])

    @rule(i=st.integers(0, 9), delta=st.sampled_from([-200, -30, 25, 300]))
    def admin_adjusts(self, i: int, delta: int) -> None:
        user = self._user(i)
        try:
            with as_role(self.api, "service_role", {"role": "service_role"}) as conn:
                call_json(
                    conn,
                    "public.admin_adjust_credits",
                    user_id=user.id,
                    delta=delta,
                    reason="support",
                )
        except ApiError as exc:
            assert exc.code == "would_go_negative" and delta < 0, exc
            return
        user.admin_deltas.append(delta)
        user.admin_inflow += max(delta, 0)

    # -- the rules, after every step -------------------------------------------

    @invariant()
    def check_everything(self) -> None:
        EconomyMachine.steps_checked += 1  # hypothesis checks after every step
        assert self.owner.execute("select * from private.ledger_mismatches()").fetchall() == [], (
            "ledger invariant broken"
        )
        rows = self.owner.execute(
            "select * from (select t.id, t.user_id, t.kind, t.daily_delta, t.purchased_delta,"
            "  t.reference, t.metadata,"
            "  sum(t.daily_delta) over w - t.daily_delta as daily_before,"
            "  sum(t.purchased_delta) over w as purchased_after"
            "  from credits_transactions t window w as (partition by t.user_id order by t.id)) r"
            " where r.id > %s order by r.id",
            [self.last_ledger_id],
        ).fetchall()
        models = {u.id: u for u in self.users}
        inflow = self.owner.execute(
            "select user_id, coalesce(sum(purchased_delta) filter (where purchased_delta > 0"
            "   and kind <> all(%s)), 0) as bonus"
            " from credits_transactions group by user_id",
            [sorted(NON_BONUS_INFLOW)],
        ).fetchall()
        for row in rows:
            self.last_ledger_id = row["id"]
            self._check_ledger_row(models[row["user_id"]], row)

        users = {r["id"]: r for r in self.owner.execute("select * from users").fetchall()}
        bonus_inflow = {r["user_id"]: r["bonus"] for r in inflow}
        for user in self.users:
            row = users[user.id]
            tier, daily, purchased = row["tier"], row["daily_credits"], row["purchased_credits"]
            user.tiers_today.add(tier)
            assert daily >= 0, "daily bucket below zero"
            assert purchased >= -user.clawed, (
                f"purchased bucket {purchased} below zero beyond the clawback debt {user.clawed}"
            )
            holds(
                "R2",
                daily <= ALLOWANCE[tier],
                f"daily credits {daily} above the {tier} allowance {ALLOWANCE[tier]}",
            )
            bound = max(ALLOWANCE[t] for t in user.tiers_today)
            holds(
                "R1",
                user.spent_today + daily <= bound,
                f"day {self.day}: spent {user.spent_today} + daily bucket {daily} daily"
                f" credits > {bound}, the highest allowance of the tiers held today"
                f" {sorted(user.tiers_today)}",
            )
            holds(
                "R5",
                bonus_inflow.get(user.id, 0) == user.bonus,
                f"sign-up bonus credits {bonus_inflow.get(user.id, 0)}, owed {user.bonus}"
                f" ({'anonymous' if user.anonymous else 'signed-up'} account)",
            )
            if user.disputed:
                holds(
                    "R3",
                    row["restricted_reason"] is not None,
                    "a dispute on the customer's charge left the account unrestricted",
                )

        failed = {
            str(r["id"])
            for r in self.owner.execute(
                "select id from analyses where status = 'failed'"
            ).fetchall()
        }
        refunded = {a for a, c in self.charges.items() if c.refunded}
        assert refunded <= failed, f"refund of an analysis that did not fail: {refunded - failed}"
        # a refund that returns nothing (daily part only, its day gone) may write no row
        owed = {a for a in failed - refunded if self.charges[a].purchased > 0}
        holds("R2", not owed, f"failed analyses whose purchased part never came back: {owed}")
        assert set(self.charges) == self.issued, "an action charged without a new analysis"

        if not self.pending:
            self._check_reversals_taken_back()
        bad_payments = self.owner.execute(
            "select stripe_payment_intent_id from payments"
            " where credits_clawed_back > credits_granted or credits_clawed_back < 0"
        ).fetchall()
        assert bad_payments == [], f"clawed back more than granted: {bad_payments}"
        acked = [e["id"] for e in self.acked]
        if acked:
            recorded = self.owner.execute(
                "select count(*) as n from stripe_webhook_events"
                " where id = any(%s) and status <> 'failed'",
                [acked],
            ).fetchone()
            assert recorded is not None and recorded["n"] == len(acked), (
                "an acknowledged Stripe event is not recorded as applied"
            )

    def _check_reversals_taken_back(self) -> None:
        """With every Stripe event delivered, each granted pack whose money went back has
        given back what the rules take, whatever order the events came in: R2
        ceil(granted x refunded / amount) of a refund, R3 all of it for a dispute; and the
        ledger's clawbacks of the payment are what the payment records."""
        payments = {
            r["stripe_payment_intent_id"]: r
            for r in self.owner.execute(
                "select stripe_payment_intent_id, user_id, credits_granted, credits_clawed_back"
                " from payments"
            ).fetchall()
        }
        taken = {
            r["pi"]: r["credits"]
            for r in self.owner.execute(
                "select metadata ->> 'payment_intent_id' as pi, -sum(purchased_delta) as credits"
                " from credits_transactions"
                " where kind in ('refund_clawback', 'dispute_clawback') group by 1"
            ).fetchall()
        }
        for charge in self.stripe_charges:
            pay = payments.get(charge.payment_intent)
            if pay is None or pay["user_id"] is None:
                continue  # nothing was granted, or to no account left
            granted = pay["credits_granted"]
            if charge.disputed:
                rule_id, want = "R3", granted
            else:
                rule_id, want = "R2", min(granted, -(-granted * charge.refunded // charge.amount))
            holds(
                rule_id,
                pay["credits_clawed_back"] == want == taken.get(charge.payment_intent, 0),
                f"pack payment {charge.payment_intent} (refunded {charge.refunded} of"
                f" {charge.amount}, disputed {charge.disputed}): {granted} credits granted,"
                f" {want} owed back, payment records {pay['credits_clawed_back']} clawed back,"
                f" ledger {taken.get(charge.payment_intent, 0)}",
            )

    def _check_ledger_row(self, user: UserModel, row: dict[str, Any]) -> None:
        kind, daily, purchased, ref = (
            row["kind"],
            row["daily_delta"],
            row["purchased_delta"],
            row["reference"],
        )
        if kind == "action":
            cost = COST[row["metadata"]["action_type"]]
            take_daily = min(cost, row["daily_before"])
            assert (-daily, -purchased) == (take_daily, cost - take_daily), (
                f"debit of {cost} took daily {-daily} + purchased {-purchased} with"
                f" {row['daily_before']} daily credits: not daily bucket first"
            )
            assert purchased == 0 or row["purchased_after"] >= 0, "an action left a debt"
            self.charges[ref] = Charge(user.id, self.day, -daily, -purchased)
            user.spent_today += -daily
        elif kind == "action_refund":
            charge = self.charges.get(ref)
            assert charge is not None, f"refund of an unknown charge {ref}"
            assert not charge.refunded, f"analysis {ref} refunded twice"
            charge.refunded = True
            holds(
                "R2",
                purchased == charge.purchased,
                f"refund returned {purchased} purchased credits of {charge.purchased} charged",
            )
            holds(
                "R2",
                0 <= daily <= charge.daily,
                f"refund returned {daily} daily credits of {charge.daily} charged",
            )
            if charge.day != self.day:
                holds(
                    "R2",
                    daily == 0,
                    f"refund on day {self.day} returned {daily} daily credits of a charge"
                    f" made on day {charge.day}",
                )
            else:
                user.spent_today -= daily
        elif kind == "purchase":
            assert daily == 0
            assert ref not in self.granted, f"payment {ref} granted twice"
            self.granted.add(ref)
            paid = self.correctly_paid.get(ref)
            charge = next((c for c in self.stripe_charges if c.payment_intent == ref), None)
            holds(
                "R4",
                paid is not None and paid[0] == user.id,
                f"{purchased} credits granted for {ref}, which paid"
                f" {charge.amount if charge else '?'} {charge.currency if charge else ''}"
                f" for pack {charge.pack if charge else '?'}"
                f" (price {CFG.packs[charge.pack].price_cents if charge and charge.pack else '?'})",
            )
            if paid is not None:
                assert purchased == PACK_TOTAL[paid[1]], f"pack {paid[1]} granted {purchased}"
        elif kind in ("refund_clawback", "dispute_clawback"):
            assert daily == 0 and purchased <= 0, (
                f"{kind} moved daily {daily}, purchased {purchased}"
            )
            user.clawed += -purchased
        elif kind == "admin_adjust":
            assert daily == 0 and purchased in user.admin_deltas, f"admin adjust {purchased}"
            user.admin_deltas.remove(purchased)
        elif kind in ("daily_reset", "subscription_grant"):
            assert purchased == 0, f"{kind} moved purchased credits"
        else:
            assert purchased <= 0 or kind not in NON_BONUS_INFLOW, f"unexpected {kind} row"


@pytest.fixture(scope="module")
def fake_stripe_server() -> Any:
    yield from stripe_fake.serve()


@pytest.mark.timeout(900)  # a failure's shrinking may take minutes; a passing run does not
def test_credit_economy_holds_under_any_sequence(
    cluster: devstack.Cluster, fake_stripe_server: stripe_fake.FakeStripe
) -> None:
    env = open_environment(cluster, fake_stripe_server, f"econ_{os.getpid()}")
    try:
        EconomyMachine.env = env
        EconomyMachine.steps_checked = EconomyMachine.examples = 0
        run_state_machine_as_test(EconomyMachine, settings=profile_settings())
        # `-s` shows it: how much the run explored (a soak must reach its step count)
        print(
            f"economy model: {EconomyMachine.examples} sequences,"
            f" {EconomyMachine.steps_checked} invariant checks (one after every step)"
        )
        assert EconomyMachine.steps_checked > EconomyMachine.examples, "no step was run"
    finally:
        close_environment(env)
