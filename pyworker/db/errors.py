"""Database errors as the rest of the code sees them.

Callers catch the names below, never psycopg's. psycopg already raises the class
that matches the SQLSTATE, so these are its classes under the names the product
uses; `map_error` adds the one mapping of our own: a PTxxx error raised by a SQL
function (the PostgREST convention) becomes ApiError, with its HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg.errors

# Any error from the database or the driver.
DatabaseError = psycopg.Error
# The database cannot be reached or dropped the connection (also a server shutting
# down or a read-only node after a failover): worth retrying, not the data's fault.
DatabaseUnavailable = psycopg.OperationalError
# A value Postgres cannot store or convert (say a NUL character in JSON text).
InvalidValue = psycopg.DataError
UniqueViolation = psycopg.errors.UniqueViolation
CheckViolation = psycopg.errors.CheckViolation
# The function called is not (yet) deployed in this database.
UndefinedFunction = psycopg.errors.UndefinedFunction
# What a notice or an error carries (severity, message, detail, hint).
Diagnostic = psycopg.errors.Diagnostic


class ApiError(Exception):
    """An error raised by a SQL function with a PTxxx SQLSTATE."""

    def __init__(self, status: int, code: str, detail: dict[str, Any], hint: str) -> None:
        super().__init__(f"{code}: {hint}")
        self.status = status
        self.code = code
        self.detail = detail
        self.hint = hint


def api_error_from(exc: DatabaseError) -> ApiError | None:
    """Map a PTxxx database error to ApiError; None for any other error."""
    diag = exc.diag
    state = diag.sqlstate or ""
    if not (state.startswith("PT") and state[2:].isdigit()):
        return None
    try:
        detail = json.loads(diag.message_detail or "{}")
    except ValueError:
        detail = {"text": diag.message_detail}
    return ApiError(
        int(state[2:]), diag.message_primary or "error", detail, diag.message_hint or ""
    )


def map_error(exc: DatabaseError) -> Exception:
    """The domain error for a database error: ApiError for PTxxx, otherwise the error
    itself (already of its named class: UniqueViolation, CheckViolation,
    DatabaseUnavailable, …)."""
    return api_error_from(exc) or exc


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Raise database errors inside the block as `map_error` maps them."""
    try:
        yield
    except DatabaseError as exc:
        mapped = map_error(exc)
        if mapped is not exc:
            raise mapped from exc
        raise
