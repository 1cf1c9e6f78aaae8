"""`flirt-admin users list|show`: find accounts and look at one."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from cli.common import DbUrl, JsonOut, console, emit, fail
from cli.service import service_db, show_table
from pyworker.db import call_json, call_rpc

users_app = typer.Typer(help="Accounts.", no_args_is_help=True)

UserId = Annotated[str, typer.Argument(help="The user's id (uuid).", show_default=False)]
LIST_COLUMNS = ["id", "email", "tier", "credits", "daily", "purchased", "status", "created_at"]


def parse_user_id(value: str) -> uuid.UUID:
    """A USER argument as a uuid, or one clear line and exit 1."""
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"USER must be a user id (uuid), got {value!r}")


@users_app.command("list")
def list_users(
    tier: Annotated[str | None, typer.Option("--tier", help="Only this tier.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Text in the email, or an exact user id.")
    ] = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=100)] = 50,
    page_offset: Annotated[int, typer.Option("--page-offset", min=0)] = 0,
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Accounts, newest first, filtered by tier and search text."""
    with service_db(db) as conn:
        page = call_rpc(
            conn,
            "public.admin_list_users",
            search=search,
            tier=tier,
            page_size=page_size,
            page_offset=page_offset,
        )
    if as_json:
        emit(page, True)
        return
    rows = [
        {
            **u,
            "credits": u["credits_remaining"],
            "daily": u["daily_credits"],
            "purchased": u["purchased_credits"],
            "status": ", ".join(
                s
                for s in (
                    u["role"] if u["role"] != "user" else None,
                    u["subscription_status"],
                    f"restricted: {u['restricted_reason']}" if u["restricted_reason"] else None,
                )
                if s
            ),
            "created_at": u["created_at"][:19].replace("T", " "),
        }
        for u in page["items"]
    ]
    show_table(rows, LIST_COLUMNS, title="users")
    shown = len(page["items"])
    console.print(f"{shown} of {page['total']} (offset {page['page_offset']})")


@users_app.command("show")
def show_user(user: UserId, db: DbUrl = None, as_json: JsonOut = False) -> None:
    """One account: balances, billing state, analyses by status, payments."""
    user_id = parse_user_id(user)
    with service_db(db) as conn:
        detail = call_json(conn, "private.admin_get_user", user_id=user_id)
    if as_json:
        emit(detail, True)
        return
    emit(detail["account"], False, title=f"user {user_id}")
    emit(
        {
            "analyses by status": detail["analyses_by_status"],
            "saved replies": detail["saved_replies"],
            "ledger rows": detail["ledger_rows"],
            "payments": len(detail["payments"]),
        },
        False,
        title="activity",
    )
    if detail["payments"]:
        emit(
            detail["payments"],
            False,
            ["stripe_payment_intent_id", "pack_id", "amount_cents", "currency", "status"],
            title="payments",
        )
