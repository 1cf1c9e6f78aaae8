"""The SQL the Python side sends, by name: `pyworker/queries.sql`, read once at import.

Each statement follows a `-- name --` line (procrastinate's layout); other comment
lines are dropped. `Q["claim"]` is a LiteralString, so psycopg's typing accepts it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import LiteralString, cast

QUERIES_FILE = Path(__file__).with_name("queries.sql")
_NAME = re.compile(r"^-- ([a-z_]+) --$")


def parse(text: str) -> dict[str, LiteralString]:
    """Named statements of a queries file; a name given twice is an error."""
    queries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if match := _NAME.match(line):
            name = match.group(1)
            if name in queries:
                raise ValueError(f"{QUERIES_FILE.name}: query {name!r} is defined twice")
            current = queries[name] = []
        elif current is not None and line.strip() and not line.lstrip().startswith("--"):
            current.append(line)
    return {name: cast(LiteralString, "\n".join(lines)) for name, lines in queries.items()}


Q: dict[str, LiteralString] = parse(QUERIES_FILE.read_text())
