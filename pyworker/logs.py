"""Structured log lines shared by the worker's loops: an event name, then key=value fields."""

from __future__ import annotations

import logging
from typing import Any


def log_event(logger: logging.Logger, level: int, name: str, **fields: Any) -> None:
    """One structured log line: the event name, then key=value fields."""
    if not logger.isEnabledFor(level):
        return
    logger.log(level, "%s %s", name, " ".join(f"{k}={v}" for k, v in fields.items()))


def first_line(exc: BaseException) -> str:
    """The first line of an error message (quoted, at most 200 characters) for a log field."""
    text = str(exc).strip().splitlines()
    return repr(text[0][:200]) if text else type(exc).__name__
