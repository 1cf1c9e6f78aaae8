"""Doctor checks for the pg_cron jobs: each exists, is active, and ran recently without failing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from pyworker.db import Connection, dict_row
from pyworker.queries import Q

Check = tuple[str, str, str]  # name, ok|warn|fail, detail

_EVERY_N_MINUTES = re.compile(r"^\*/(\d+) \* \* \* \*$")
_SECONDS = re.compile(r"^(\d+) seconds?$")
_HOURLY = re.compile(r"^\d+ \* \* \* \*$")
_IN_FLIGHT = {"starting", "running", "sending", "connecting"}


def schedule_interval(schedule: str) -> dt.timedelta:
    """How often a pg_cron schedule fires (a day for shapes not recognised)."""
    schedule = " ".join(schedule.split())
    if schedule == "* * * * *":
        return dt.timedelta(minutes=1)
    if match := _EVERY_N_MINUTES.match(schedule):
        return dt.timedelta(minutes=int(match.group(1)))
    if match := _SECONDS.match(schedule):
        return dt.timedelta(seconds=int(match.group(1)))
    if _HOURLY.match(schedule):
        return dt.timedelta(hours=1)
    return dt.timedelta(days=1)


def _age(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    return f"{seconds // 3600}h"


def _judge(job: dict[str, Any]) -> tuple[str, str]:
    if not job["active"]:
        return "fail", "inactive: run `flirt-admin config sync`"
    status = job["status"]
    every = schedule_interval(job["schedule"])
    if status is None:
        # pg_cron has not had the chance yet (database just started): not a problem
        if job["now"] - job["started"] <= 2 * every + dt.timedelta(minutes=5):
            return "ok", f"scheduled ({job['schedule']}), first run due within {_age(every)}"
        return "warn", f"scheduled ({job['schedule']}), no run yet"
    if status == "failed":
        message = (job["return_message"] or "").strip().splitlines()
        return "fail", f"last run failed {_age(job['now'] - job['start_time'])} ago: " + (
            message[0] if message else "no message"
        )
    if status in _IN_FLIGHT:
        return "ok", f"running since {_age(job['now'] - job['start_time'])} ago"
    age = job["now"] - (job["end_time"] or job["start_time"])
    # two missed runs (plus slack for a busy launcher) mean cron is not running it
    if age > 2 * every + dt.timedelta(minutes=5):
        return "fail", f"last run {_age(age)} ago, expected every {_age(every)}"
    return "ok", f"last run succeeded {_age(age)} ago"


def cron_job_checks(conn: Connection[Any], jobs: Sequence[str]) -> list[Check]:
    """One check per job name: missing/inactive/failed → fail, never run → warn."""
    with conn.cursor(row_factory=dict_row) as cur:
        found = {
            row["jobname"]: row
            for row in cur.execute(
                Q["cron_job_runs"],
                [list(jobs)],
            ).fetchall()
        }
    checks: list[Check] = []
    for name in jobs:
        if name not in found:
            checks.append((f"cron job {name}", "fail", "missing: run `flirt-admin config sync`"))
            continue
        status, detail = _judge(found[name])
        checks.append((f"cron job {name}", status, detail))
    return checks
