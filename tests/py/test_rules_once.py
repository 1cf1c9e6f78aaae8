"""Rules written once and used everywhere: the same answer wherever a rule is applied.

- an unknown credit pack is a 404 `pack_not_found`, whether a buyer names it or a payment does;
- the analysis result shape is the pydantic model's: the database refuses what it refuses;
- a setting every install has comes from config.toml (app_settings), with no second default.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pyworker.db import SERVICE_ROLE, ApiError, call_json, connect
from pyworker.providers.base import AnalysisResult, result_json_schema
from tests.py.dbtools import TestDatabase, rpc


def service_error(db: TestDatabase, function: str, **params: Any) -> ApiError:
    with connect(db.owner_dsn, role=SERVICE_ROLE, autocommit=True) as conn:
        try:
            call_json(conn, function, **params)
        except ApiError as exc:
            return exc
    raise AssertionError(f"{function} did not raise")


def test_an_unknown_pack_is_404_for_a_buyer_and_for_a_payment(db: TestDatabase) -> None:
    user = db.create_user()
    buying = service_error(db, "private.billing_pack", pack="mystery")
    paid = service_error(
        db,
        "private.grant_purchase",
        target_user=user,
        pack="mystery",
        payment_intent="pi_unknown_pack",
        amount=999,
        currency_code="usd",
    )
    assert (buying.status, buying.code) == (404, "pack_not_found")
    assert (paid.status, paid.code) == (404, "pack_not_found")
    assert db.fetchone("select count(*) as n from payments") == {"n": 0}


# -- the result shape ---------------------------------------------------------------------------

SUGGESTION = {"reply": "Tell me more", "style": "curious", "rationale": "keeps it going"}
VALID: dict[str, Any] = {
    "summary": "Friendly and keen.",
    "interest_level": 7,
    "tone": "warm",
    "red_flags": [],
    "suggestions": [SUGGESTION] * 3,
}
WRONG_TYPE = {"string": 7, "integer": "seven", "array": "none", "object": []}


def broken_results() -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, result) pairs that break one rule of the model's JSON schema each."""
    schema = result_json_schema()
    valid = VALID
    for name, prop in schema["properties"].items():
        missing = copy.deepcopy(valid)
        del missing[name]
        yield name, missing
        wrong = copy.deepcopy(valid)
        wrong[name] = WRONG_TYPE[prop["type"]]
        yield name, wrong
        for bound, step in (("minimum", -1), ("maximum", 1)):
            if bound in prop:
                out = copy.deepcopy(valid)
                out[name] = prop[bound] + step
                yield name, out
        for bound, size in (("minItems", -1), ("maxItems", 1)):
            if bound in prop and "$ref" in prop["items"]:
                out = copy.deepcopy(valid)
                out[name] = [valid[name][0]] * (prop[bound] + size)
                yield name, out
    suggestion = schema["$defs"]["Suggestion"]
    for name in suggestion["required"]:
        out = copy.deepcopy(valid)
        del out["suggestions"][0][name]
        yield "suggestions", out


def result_problem(db: TestDatabase, result: dict[str, Any]) -> str | None:
    row = db.fetchone(
        "select private.analysis_result_problem(%s) as problem", [psycopg.types.json.Jsonb(result)]
    )
    assert row is not None
    return row["problem"]  # type: ignore[no-any-return]


def test_the_database_accepts_a_result_the_model_accepts(db: TestDatabase) -> None:
    valid = VALID
    AnalysisResult.model_validate(valid)
    assert result_problem(db, valid) is None


@pytest.mark.parametrize(("field", "result"), list(broken_results()))
def test_the_database_refuses_what_the_model_refuses_naming_the_field(
    db: TestDatabase, field: str, result: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        AnalysisResult.model_validate(result)
    assert result_problem(db, result) == field


def test_the_structured_output_schema_requires_every_field_of_the_model() -> None:
    schema = result_json_schema()
    assert schema["required"] == list(AnalysisResult.model_fields)
    assert schema["additionalProperties"] is False
    assert "minLength" not in str(schema)  # refused by strict structured output


# -- settings -------------------------------------------------------------------------------


def test_a_missing_setting_is_a_clear_error_not_a_second_default(db: TestDatabase) -> None:
    db.execute("delete from app_settings where key = 'reset_batch_size'")
    with (
        connect(db.owner_dsn, role=SERVICE_ROLE, autocommit=True) as conn,
        pytest.raises(psycopg.Error, match=r"app_settings\.reset_batch_size is not set"),
    ):
        conn.execute("select private.reset_daily(now())")


@pytest.mark.parametrize("key", ["max_pending_analyses", "max_input_bytes", "max_attempts"])
def test_an_action_without_a_setting_names_it_and_charges_nothing(
    db: TestDatabase, key: str
) -> None:
    user = db.create_user()
    db.execute("delete from app_settings where key = %s", [key])
    with (
        db.api_connect() as conn,
        pytest.raises(psycopg.Error, match=rf"app_settings\.{key} is not set"),
    ):
        rpc(conn, user, "perform_action", action_type="short_chat", input={"chat": "hi"})
    assert db.fetchone("select count(*) as n from analyses") == {"n": 0}
    assert db.fetchone("select credits_remaining from users where id = %s", [user]) == {
        "credits_remaining": 150
    }
