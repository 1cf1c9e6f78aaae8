"""The named queries: every name the code uses is defined once in pyworker/queries.sql."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyworker.queries import QUERIES_FILE, Q, parse

ROOT = Path(__file__).resolve().parents[2]
USED = re.compile(r'\bQ\["([a-z_]+)"\]')


def names_used() -> set[str]:
    files = [*ROOT.joinpath("pyworker").rglob("*.py"), *ROOT.joinpath("cli").rglob("*.py")]
    return {name for f in files for name in USED.findall(f.read_text())}


def test_every_query_the_code_sends_is_defined_and_every_defined_one_is_used() -> None:
    assert names_used() - set(Q) == set()
    assert set(Q) - names_used() == set()


def test_a_query_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'claim' is defined twice"):
        parse("-- claim --\nselect 1\n-- claim --\nselect 2\n")


def test_comments_are_dropped_and_statements_kept_whole() -> None:
    queries = parse(QUERIES_FILE.read_text())
    assert queries["apply_events"].startswith("with batch as materialized (")
    assert all(q.strip() and "\n--" not in q for q in queries.values())
