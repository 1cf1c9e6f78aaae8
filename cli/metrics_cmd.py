"""`flirt-admin metrics`: the daily admin metrics over a range of UTC days."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer

from cli.common import DbUrl, JsonOut, emit, fail
from cli.service import service_db, show_table
from pyworker.db import call_json, call_rpc

FromDate = Annotated[
    str | None,
    typer.Option("--from", help="First UTC day, YYYY-MM-DD (default: 6 days before --to)."),
]
ToDate = Annotated[
    str | None, typer.Option("--to", help="Last UTC day, YYYY-MM-DD (default: today).")
]
Refresh = Annotated[
    bool, typer.Option("--refresh", help="Recompute every day of the range from the source tables.")
]


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be a date like 2026-11-26, got {value!r}")


def _row(day: dict[str, Any]) -> dict[str, Any]:
    actions = day["actions_by_type"]
    return {
        "day": day["day"],
        "signups": day["signups"],
        "active": day["active_users"],
        "actions": sum(actions.values()),
        "by type": ", ".join(f"{k} {v}" for k, v in actions.items()) or "-",
        "spent": day["credits_spent"],
        "purchased": day["credits_purchased"],
        "granted": day["credits_granted"],
        "revenue": ", ".join(f"{v / 100:.2f} {k}" for k, v in day["revenue_cents"].items()) or "-",
        "purchases": day["purchases"],
        "subs": day["active_subscriptions"],
        "failed": day["failed_analyses"],
        "tokens in/out": f"{day['ai_prompt_tokens']}/{day['ai_completion_tokens']}",
    }


def metrics(
    from_date: FromDate = None,
    to_date: ToDate = None,
    refresh: Refresh = False,
    db: DbUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Daily signups, activity, credits, revenue and AI usage (UTC days)."""
    last = _date(to_date, "--to") if to_date else dt.datetime.now(dt.UTC).date()
    first = _date(from_date, "--from") if from_date else last - dt.timedelta(days=6)
    with service_db(db) as conn:
        if refresh:
            call_json(conn, "private.refresh_admin_metrics", from_date=first, to_date=last)
        report = call_rpc(conn, "public.admin_get_metrics", from_date=first, to_date=last)
    if as_json:
        emit(report, True)
        return
    rows = [_row(day) for day in report["days"]]
    columns = list(rows[0]) if rows else ["day"]
    show_table(rows, columns, title=f"metrics {first} .. {last} (UTC days)")
    totals = report["totals"]
    emit(
        {k: json.dumps(v) if isinstance(v, dict) else v for k, v in totals.items()},
        False,
        title="totals",
    )
