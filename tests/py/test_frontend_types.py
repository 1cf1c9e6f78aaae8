"""The frontend contract as artifacts: the committed supabase/types/database.types.ts is
what the generator makes of the migrated schema, every RPC result in it is a precise type,
and examples/frontend type-checks against it with `tsc --strict`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from pyworker.settings import ROOT
from pyworker.typegen import TYPES_FILE, generate
from tests.py.dbtools import TestDatabase

EXAMPLE = ROOT / "examples" / "frontend"
TSC = ROOT / "node_modules" / ".bin" / "tsc"
RPCS = [
    "get_credits",
    "perform_action",
    "get_history",
    "get_analysis",
    "save_reply",
    "get_saved_replies",
    "delete_saved_reply",
    "admin_get_metrics",
    "admin_list_users",
    "admin_adjust_credits",
    "export_my_data",
]
# Fields that are JSON documents by design (their schema is in examples/frontend/README.md).
FREE_FORM = {
    "analysis_detail": {"input", "result", "usage"},
    "admin_metrics_totals": {"actions_by_type", "revenue_cents"},
}


def _entries(block: str, indent: int) -> dict[str, str]:
    """`name: …` entries of a generated block at one indentation, with their text."""
    entries: dict[str, str] = {}
    name = None
    for line in block.splitlines():
        match = re.match(rf"^ {{{indent}}}(\w+):(.*)$", line)
        if match:
            name = match.group(1)
            entries[name] = match.group(2)
        elif name is not None:
            entries[name] += "\n" + line
    return entries


def _section(text: str, name: str) -> str:
    """The body of `    <name>: {` … `    }` in the public schema's types."""
    return text.split(f"\n    {name}: {{\n", 1)[1].split("\n    }\n", 1)[0]


def test_committed_types_are_what_the_generator_makes_of_the_migrated_schema(
    db: TestDatabase,
) -> None:
    assert TYPES_FILE.exists(), "missing: run scripts/gen-types.sh"
    assert generate(db.owner_dsn) == TYPES_FILE.read_text(), (
        f"{TYPES_FILE.relative_to(ROOT)} is stale: run scripts/gen-types.sh and commit it"
    )


def test_every_rpc_result_is_a_precise_type() -> None:
    text = TYPES_FILE.read_text()
    functions = _entries(_section(text, "Functions"), 6)
    composites = {
        name: _entries(body, 8)
        for name, body in _entries(_section(text, "CompositeTypes"), 6).items()
    }
    assert set(RPCS) <= set(functions), "an RPC is missing from the generated types"
    for rpc in RPCS:
        returns = functions[rpc].split("Returns:", 1)[1].split("SetofOptions:", 1)[0]
        assert "Json" not in returns and "unknown" not in returns, f"{rpc} returns {returns}"
        for composite in re.findall(r'\["CompositeTypes"\]\["(\w+)"\]', returns):
            fields = composites[composite]
            for field, type_text in fields.items():
                if "Json" in type_text or "unknown" in type_text:
                    assert field in FREE_FORM.get(composite, set()), (
                        f"{rpc}: {composite}.{field} is {type_text.strip()}"
                    )
            for nested in re.findall(r'\["CompositeTypes"\]\["(\w+)"\]', "".join(fields.values())):
                for field, type_text in composites[nested].items():
                    assert "Json" not in type_text or field in FREE_FORM.get(nested, set()), (
                        f"{rpc}: {nested}.{field} is {type_text.strip()}"
                    )


def _tsc(project: Path) -> subprocess.CompletedProcess[str]:
    assert TSC.exists(), "node_modules is missing: run scripts/install.sh (npm ci)"
    return subprocess.run(
        [str(TSC), "--noEmit", "--strict", "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_example_client_type_checks_strictly_against_the_generated_types() -> None:
    done = _tsc(EXAMPLE / "tsconfig.json")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("code", "complaint"),
    [
        (
            "const c = (await s.rpc('get_credits').single()).data; if (c) c.credits_left",
            "Property 'credits_left' does not exist",
        ),
        (
            "const r = (await s.rpc('perform_action', {action_type: 'short_chat', input: {}})"
            ".single()).data; const x: string | undefined = r?.replayed",
            "Type 'boolean | undefined' is not assignable",
        ),
        (
            "const h = (await s.rpc('get_history')).data; const x: string = h!.next_cursor",
            "Type 'string | null' is not assignable to type 'string'",
        ),
        (
            "await s.rpc('get_analysis', { id: 'x' })",
            "'id' does not exist in type '{ analysis_id: string; }'",
        ),
    ],
)
def test_a_wrong_use_of_an_rpc_result_does_not_compile(
    tmp_path: Path, code: str, complaint: str
) -> None:
    client = EXAMPLE / "src" / "client"
    (tmp_path / "probe.ts").write_text(
        f"import type {{ Client }} from {json.dumps(str(client))}\n"
        f"export async function probe(s: Client) {{ {code} }}\n"
    )
    (tmp_path / "tsconfig.json").write_text(
        json.dumps({"extends": str(EXAMPLE / "tsconfig.json"), "include": ["probe.ts"]})
    )
    done = _tsc(tmp_path / "tsconfig.json")
    assert done.returncode != 0 and complaint in done.stdout, done.stdout + done.stderr
