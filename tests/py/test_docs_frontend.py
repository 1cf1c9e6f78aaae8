"""docs/frontend.md says what the code does: its TypeScript is quoted from the example
client (which tsc type-checks), the RPCs it calls exist with those parameters and are
called with `.single()` exactly when they return a table, its HTTP paths are routes of
the API, and its error table gives each code the HTTP status the SQL or the API answers
with and the retry/show rule of examples/frontend/src/errors.ts. No database needed."""

from __future__ import annotations

import json
import re

from pyworker.settings import ROOT
from pyworker.typegen import TYPES_FILE

GUIDE = ROOT / "docs" / "frontend.md"
SRC = ROOT / "examples" / "frontend" / "src"
CUT = "// …"
SNAKE = re.compile(r"^[a-z][a-z_]*$")
# Codes that no browser-facing call can get: worker and webhook functions, the CLI's
# `analyses retry`, /metrics, /readyz.
NOT_FOR_CLIENTS = {
    "analysis_not_failed",
    "input_purged",
    "invalid_result",
    "unknown_price",
    "invalid_event",
    "event_not_found",
    "not_found",
    "database_unavailable",
}
API_FILES = ["app.py", "auth.py", "billing.py", "deps.py", "limits.py"]


def _guide() -> str:
    return GUIDE.read_text()


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, flags=re.M | re.S)


def _functions() -> dict[str, tuple[set[str], set[str], bool]]:
    """RPC → (argument names, required ones, returns a table) from the generated types."""
    text = TYPES_FILE.read_text()
    section = text.split("\n    Functions: {\n", 1)[1].split("\n    Enums: {\n", 1)[0]
    functions = {}
    for name, body in re.findall(r"^      (\w+): \{\n(.*?)^      \}$", section, re.M | re.S):
        args_text = body.split("Returns:", 1)[0]
        args = dict(re.findall(r"(\w+)(\??):", args_text.split("Args:", 1)[1]))
        returns = body.split("Returns:", 1)[1].split("SetofOptions:", 1)[0].strip()
        required = {a for a, optional in args.items() if not optional}
        functions[name] = (set(args) - {"PropertyKey"}, required, returns.endswith("}[]"))
    return functions


def _calls(text: str) -> list[tuple[str, str, str]]:
    """Every `rpc('name', …)` in the guide: (name, argument text, what follows the call)."""
    calls = []
    for match in re.finditer(r"rpc\('(\w+)'", text):
        depth, i = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        calls.append((match.group(1), text[match.end() : i - 1], text[i:].lstrip()))
    return calls


def _top_level_keys(args: str) -> tuple[set[str], bool]:
    """Keys of the object literal in `args` and whether it spreads anything."""
    if "{" not in args:
        return set(), False
    body = re.sub(r"//[^\n]*", "", args[args.index("{") + 1 : args.rindex("}")])
    parts, depth, current = [], 0, ""
    for char in body:
        depth += {"{": 1, "(": 1, "}": -1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    parts = [p.strip() for p in parts if p.strip()]
    keys = {p.split(":", 1)[0].strip() for p in parts if not p.startswith("...")}
    return keys, any(p.startswith("...") for p in parts)


def _error_rows() -> list[dict[str, str]]:
    text = _guide().split("### The error table", 1)[1]
    table = re.search(r"^\| code \| from \|.*?\n\n", text, re.M | re.S)
    assert table, "the error table is missing"
    rows = []
    for line in table.group(0).strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        code, source, status, retry, show = cells[:5]
        rows.append(
            {
                "codes": " ".join(re.findall(r"`([^`]+)`", code)),
                "from": source,
                "status": status,
                "retry": retry.strip("`"),
                "show": show.strip("`"),
            }
        )
    return rows


def _raised_by_sql() -> dict[str, set[int]]:
    raised: dict[str, set[int]] = {}
    for path in (ROOT / "supabase" / "functions_sql").glob("*.sql"):
        for status, code in re.findall(r"raise_api_error\(\s*(\d{3}),\s*'(\w+)'", path.read_text()):
            raised.setdefault(code, set()).add(int(status))
    return raised


def _raised_by_api() -> dict[str, set[int]]:
    raised: dict[str, set[int]] = {}
    for name in API_FILES:
        text = (ROOT / "pyworker" / "api" / name).read_text()
        found = re.findall(r"(?:ApiError|error_response)\(\s*(\d{3}),\s*\"(\w+)\"", text)
        found += [("401", code) for code in re.findall(r"_unauthorized\(\s*\"(\w+)\"", text)]
        if name == "limits.py":
            found += [("413", code) for code in re.findall(r"\"code\": \"(\w+)\"", text)]
        for status, code in found:
            raised.setdefault(code, set()).add(int(status))
    return raised


def _rules() -> dict[str, tuple[str, str]]:
    text = (SRC / "errors.ts").read_text()
    body = text.split("const RULES", 1)[1].split("\n}\n", 1)[0]
    return {
        code: (retry, show)
        for code, retry, show in re.findall(r"(\w+): rule\('(\w+)', '(\w+)'\)", body)
    }


def test_every_typescript_block_is_quoted_verbatim_from_the_example_client() -> None:
    blocks = _blocks(_guide(), "ts")
    assert blocks
    for block in blocks:
        first, _, body = block.partition("\n")
        match = re.fullmatch(r"// examples/frontend/src/(\w+\.ts)", first)
        assert match, f"a ts block does not name the example file it quotes: {first!r}"
        source = (SRC / match.group(1)).read_text()
        position = 0
        for chunk in body.split(f"\n{CUT}\n"):
            found = source.find(chunk.strip("\n"), position)
            assert found >= 0, f"not in {match.group(1)} (in this order):\n{chunk}"
            position = found


def test_every_module_the_guide_names_is_a_file_of_the_example_client() -> None:
    named = set(re.findall(r"`(\w+\.ts)`", _guide())) - {"database.types.ts"}
    assert named == {p.name for p in SRC.glob("*.ts")}


def test_every_rpc_the_guide_calls_exists_with_these_parameters_and_single_for_tables() -> None:
    functions = _functions()
    calls = _calls(_guide())
    assert {name for name, _, _ in calls} == set(functions), "an RPC is missing from the guide"
    for name, args, after in calls:
        allowed, required, table = functions[name]
        keys, spreads = _top_level_keys(args)
        assert keys <= allowed, f"{name}: {keys - allowed} are not parameters of {name}"
        assert spreads or required <= keys, f"{name}: {required - keys} missing"
        single = after.startswith(".single()")
        assert single == table, (
            f"{name} returns {'a table' if table else 'one value'}: "
            f"call it {'with' if table else 'without'} .single()"
        )


def test_the_rpcs_returning_a_table_are_the_four_the_guide_lists() -> None:
    tables = {name for name, (_, _, table) in _functions().items() if table}
    assert tables == {"get_credits", "perform_action", "delete_saved_reply", "admin_adjust_credits"}
    assert "`get_credits`, `perform_action`, `delete_saved_reply` and\n`admin_adjust_credits`" in (
        _guide()
    )


def test_every_api_path_the_guide_names_is_a_route_of_the_api_or_an_old_endpoint() -> None:
    routes = set(json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"])
    guide = _guide()
    named = set(re.findall(r"(/api/user/\w+)", guide))
    # the old backend's endpoints that are RPCs now: named in the map only
    old = {"/api/user/credits", "/api/user/action", "/api/user/history"}
    for path in old:
        assert re.search(rf"^\| `(GET|POST) {path}` \| `supabase\.rpc\(", guide, re.M), path
    assert named - old == {r for r in routes if r.startswith("/api/user/")}


def test_error_table_gives_each_code_its_raised_status_and_client_rule() -> None:
    sql, api, rules = _raised_by_sql(), _raised_by_api(), _rules()
    documented: set[str] = set()
    for row in _error_rows():
        sources = {s.strip() for s in row["from"].split(",")}
        for code in row["codes"].split():
            if not SNAKE.match(code) or sources <= {"PostgREST", "client"}:
                continue
            documented.add(code)
            assert sources <= {"RPC", "API"}, row
            if "RPC" in sources:
                assert int(row["status"]) in sql.get(code, set()), (
                    f"{code}: the SQL raises {sql.get(code)}, the guide says {row['status']}"
                )
            if "API" in sources:
                # the API answers its own errors and the PTxxx of the SQL it calls
                statuses = api.get(code, set()) | sql.get(code, set())
                assert int(row["status"]) in statuses, (
                    f"{code}: the API answers {statuses}, the guide says {row['status']}"
                )
            assert rules.get(code) == (row["retry"], row["show"]), (
                f"{code}: errors.ts has {rules.get(code)}, the guide {row['retry']}/{row['show']}"
            )
    raised = (set(sql) | set(api)) - NOT_FOR_CLIENTS
    assert raised <= documented, f"raised but not in the error table: {raised - documented}"
    assert set(rules) <= documented, f"in errors.ts but not in the table: {set(rules) - documented}"


def test_payments_not_configured_is_503_wherever_it_is_named() -> None:
    texts = {
        "README.md": (ROOT / "README.md").read_text(),
        "cli/doctor_cmd.py": (ROOT / "cli" / "doctor_cmd.py").read_text(),
        **{f"docs/{p.name}": p.read_text() for p in (ROOT / "docs").glob("*.md")},
    }
    for name, text in texts.items():
        for match in re.finditer(r"payments_not_configured", text):
            nearby = text[max(0, match.start() - 80) : match.end() + 80]
            assert "503" in nearby and "502 `payments" not in nearby, f"{name}: {nearby!r}"
    assert _raised_by_api()["payments_not_configured"] == {503}
    openapi = json.loads((ROOT / "docs" / "openapi.json").read_text())
    for path, operations in openapi["paths"].items():
        if path.startswith("/api/user/"):
            assert "503" in operations["post"]["responses"], path
