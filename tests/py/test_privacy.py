"""Privacy: users export everything they own; deleting an account leaves only anonymised
ledger and payment rows."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pyworker.db import call_json, connect
from tests.py.dbtools import TestDatabase, as_role, rpc, rpc_error

CHAT = {"chat": "Them: I had fun tonight\nMe: me too!", "context": {"tone": "warm"}}
RESULT = {
    "summary": "Mutual interest.",
    "interest_level": 8,
    "tone": "warm",
    "red_flags": [],
    "suggestions": [
        {"reply": "Same time next week?", "style": "direct", "rationale": "momentum"},
        {"reply": "You owe me a rematch", "style": "playful", "rationale": "callback"},
        {"reply": "Tonight was lovely", "style": "sincere", "rationale": "warmth"},
    ],
}


def full_account(db: TestDatabase, email: str) -> uuid.UUID:
    """A user with something in every table: analyses, a result, a saved reply, a payment,
    Stripe webhook events naming them."""
    user = db.create_user(email)
    db.execute("update users set stripe_customer_id = %s where id = %s", [f"cus_{user.hex}", user])
    with db.api_connect() as conn:
        done = rpc(conn, user, "perform_action", action_type="short_chat", input=CHAT)
        rpc(conn, user, "perform_action", action_type="long_chat", input={"chat": "hello"})
    with connect(db.owner_dsn, role="service_role", autocommit=True) as conn:
        conn.execute("select * from private.claim_analyses('w', 1, 60)")
        call_json(
            conn,
            "private.complete_analysis",
            analysis_id=done["analysis_id"],
            worker_id="w",
            result=RESULT,
            model="mock",
            usage={"prompt_tokens": 10, "completion_tokens": 20},
        )
    with db.api_connect() as conn:
        rpc(conn, user, "save_reply", analysis_id=done["analysis_id"], reply="Same time next week?")
    with db.connect() as conn:
        conn.execute(
            "insert into payments (stripe_payment_intent_id, user_id, pack_id, amount_cents,"
            " currency, credits_granted) values (%s, %s, 'small', 499, 'usd', 100)",
            [f"pi_{user.hex}", user],
        )
        row = conn.execute(
            "update users set purchased_credits = purchased_credits + 100 where id = %s"
            " returning credits_remaining",
            [user],
        ).fetchone()
        assert row is not None
        conn.execute(
            "insert into credits_transactions (user_id, purchased_delta, kind, balance_after,"
            " reference) values (%s, 100, 'purchase', %s, %s)",
            [user, row["credits_remaining"], f"pi_{user.hex}"],
        )
        for n, obj in enumerate(
            [
                {
                    "object": "checkout.session",
                    "id": f"cs_{user.hex}",
                    "client_reference_id": str(user),
                    "customer_details": {"email": email},
                },
                {
                    "object": "payment_intent",
                    "id": f"pi_{user.hex}",
                    "metadata": {"user_id": str(user)},
                },
                {
                    "object": "invoice",
                    "id": f"in_{user.hex}",
                    "customer": f"cus_{user.hex}",
                    "customer_email": email,
                },
                {  # names neither the user nor the customer, only the payment
                    "object": "dispute",
                    "id": f"dp_{user.hex}",
                    "payment_intent": f"pi_{user.hex}",
                    "evidence": {"customer_email_address": email},
                },
            ]
        ):
            conn.execute(
                "insert into stripe_webhook_events (id, type, stripe_created, payload)"
                " values (%s, 'test.event', now(), %s)",
                [
                    f"evt_{n}_{user.hex}",
                    Jsonb(
                        {"id": f"evt_{n}_{user.hex}", "type": "test.event", "data": {"object": obj}}
                    ),
                ],
            )
    return user


def traces(db: TestDatabase, user: uuid.UUID, email: str) -> dict[str, int]:
    """Rows of every public table whose text mentions the user's id or email.

    (The fixture's Stripe ids embed the id's hex digits, which is not searched for.)"""
    tables = [
        r["relname"]
        for r in db.fetchall(
            "select relname from pg_class where relnamespace = 'public'::regnamespace"
            " and relkind = 'r' order by 1"
        )
    ]
    found: dict[str, int] = {}
    with db.connect() as conn:
        for table in tables:
            row = conn.execute(
                psycopg.sql.SQL(
                    "select count(*) as n from public.{} t where t::text ilike %s"
                    " or t::text ilike %s"
                ).format(psycopg.sql.Identifier(table)),
                [f"%{user}%", f"%{email}%"],
            ).fetchone()
            if row and row["n"]:
                found[table] = row["n"]
    return found


def test_export_contains_everything_the_user_owns_and_nothing_else(db: TestDatabase) -> None:
    user = full_account(db, "me@example.test")
    other = full_account(db, "someone.else@example.test")
    with db.api_connect() as conn:
        export = rpc(conn, user, "export_my_data")
    assert export["account"]["id"] == str(user)
    assert export["account"]["email"] == "me@example.test"
    owned = {
        "credits_transactions": "credits_transactions",
        "analyses": "analyses",
        "saved_replies": "saved_replies",
        "payments": "payments",
    }
    for key, table in owned.items():
        ids = db.fetchall(
            psycopg.sql.SQL("select id from public.{} where user_id = %s order by id").format(
                psycopg.sql.Identifier(table)
            ),
            [user],
        )
        assert sorted(str(r["id"]) for r in ids) == sorted(str(r["id"]) for r in export[key])
        assert all(r["user_id"] == str(user) for r in export[key])
    analyses = {a["action_type"]: a for a in export["analyses"]}
    assert analyses["short_chat"]["input"] == CHAT and analyses["short_chat"]["result"] == RESULT
    assert export["saved_replies"][0]["reply"] == "Same time next week?"
    assert str(other) not in json.dumps(export)


def test_export_needs_a_signed_in_user(db: TestDatabase) -> None:
    with db.api_connect() as conn:
        err = rpc_error(conn, None, "export_my_data")
        assert (err.status, err.code) == (401, "not_authenticated")
        with pytest.raises(psycopg.errors.InsufficientPrivilege), as_role(conn, "anon"):
            conn.execute("select public.export_my_data()")


def test_deleting_the_auth_user_leaves_only_anonymised_ledger_and_payments(
    db: TestDatabase,
) -> None:
    email = "leaving@example.test"
    user = full_account(db, email)
    keeper = full_account(db, "staying@example.test")
    with db.api_connect() as conn:
        export = rpc(conn, user, "export_my_data")
    keeper_before = traces(db, keeper, "staying@example.test")

    with db.connect("supabase_auth_admin") as conn:
        conn.execute("delete from auth.users where id = %s", [user])

    assert traces(db, user, email) == {}
    ledger = db.fetchall(
        "select id, user_id from credits_transactions where id = any(%s)",
        [[t["id"] for t in export["credits_transactions"]]],
    )
    assert len(ledger) == len(export["credits_transactions"]) > 0
    assert {r["user_id"] for r in ledger} == {None}
    payment = db.fetchone(
        "select user_id, amount_cents from payments where stripe_payment_intent_id = %s",
        [f"pi_{user.hex}"],
    )
    assert payment == {"user_id": None, "amount_cents": 499}
    events = db.fetchall(
        "select payload from stripe_webhook_events where id like %s", [f"%{user.hex}"]
    )
    assert len(events) == 4 and all(e["payload"]["redacted"] for e in events)
    # the other account is untouched
    assert traces(db, keeper, "staying@example.test") == keeper_before
