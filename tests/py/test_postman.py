"""The Postman collection (docs/postman): built from docs/openapi.json, it is the committed
file; it calls every RPC a user may call; and its HTTP API folder runs green with newman
against `flirt-admin api run` and the local Stripe fake."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from pyworker.settings import ROOT, load_config
from tests.py.dbtools import TestDatabase, balances
from tests.py.fakes.billing_env import WEBHOOK_SECRET, token
from tests.py.test_api_uvicorn import Served, served  # noqa: F401  (the API subprocess)

POSTMAN = ROOT / "docs" / "postman"
COLLECTION = POSTMAN / "flirt-studio.postman_collection.json"
NEWMAN = POSTMAN / "node_modules" / "newman" / "bin" / "newman.js"
INSTALL_HINT = "npm packages missing: run `bash scripts/install.sh`"


def _collection() -> dict[str, Any]:
    return json.loads(COLLECTION.read_text())  # type: ignore[no-any-return]


def _count_requests(item: dict[str, Any]) -> int:
    return sum(_count_requests(i) for i in item["item"]) if "item" in item else 1


def _folder(name_prefix: str) -> dict[str, Any]:
    (folder,) = [f for f in _collection()["item"] if f["name"].startswith(name_prefix)]
    return folder  # type: ignore[no-any-return]


def test_collection_is_what_the_build_makes_from_the_committed_openapi(tmp_path: Path) -> None:
    assert NEWMAN.exists(), INSTALL_HINT
    out = tmp_path / "collection.json"
    subprocess.run(["node", "build.js", "--out", str(out)], cwd=POSTMAN, check=True, timeout=120)
    assert out.read_text() == COLLECTION.read_text(), (
        "docs/postman/flirt-studio.postman_collection.json is stale: run `npm run build`"
        " in docs/postman"
    )


def test_rpc_folder_calls_every_rpc_a_user_may_call_with_its_parameter_names(
    db: TestDatabase,
) -> None:
    rows = db.fetchall(
        "select p.proname, coalesce(p.proargnames, '{}') as args from pg_proc p"
        " where p.pronamespace = 'public'::regnamespace"
        " and has_function_privilege('authenticated', p.oid, 'execute')"
    )
    functions = {r["proname"]: set(r["args"]) for r in rows}
    calls = [
        (item["request"]["url"]["path"][-1], json.loads(item["request"]["body"]["raw"]))
        for item in _folder("PostgREST")["item"]
        if item["request"]["url"]["path"][:3] == ["rest", "v1", "rpc"]
    ]
    assert {fn for fn, _ in calls} == set(functions)
    for fn, body in calls:
        assert set(body) <= functions[fn], (fn, body)
    for item in _folder("PostgREST")["item"]:
        headers = {h["key"]: h["value"] for h in item["request"]["header"]}
        assert headers["apikey"] == "{{SUPABASE_ANON_KEY}}"
        assert headers["Authorization"] == "Bearer {{ACCESS_TOKEN}}"


def test_http_api_folder_runs_green_with_newman_against_the_served_api(
    served: Served,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert NEWMAN.exists(), INSTALL_HINT
    db = served.db
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    report = tmp_path / "newman.json"
    variables = {
        "API_URL": served.url,
        "ACCESS_TOKEN": token(user),
        "USER_ID": str(user),
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    command = [
        "node",
        str(NEWMAN),
        "run",
        str(COLLECTION),
        "--folder",
        "HTTP API",
        "--reporters",
        "cli,json",
        "--reporter-json-export",
        str(report),
        "--color",
        "off",
        "--timeout-request",
        "30000",
    ]
    for key, value in variables.items():
        command += ["--env-var", f"{key}={value}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]

    stats = json.loads(report.read_text())["run"]["stats"]
    requests = _count_requests(_folder("HTTP API"))
    assert requests >= 12  # every route, an unauthenticated call, a missing pack, 3 webhooks
    assert stats["requests"] == {"total": requests, "pending": 0, "failed": 0}
    assert stats["assertions"]["failed"] == 0
    assert stats["assertions"]["total"] >= requests
    # the signed sample payment was credited once, although it was delivered twice
    pack = load_config().packs["small"]
    assert balances(db, user)["purchased_credits"] == before + pack.credits + pack.bonus_credits
    assert served.fake.violations == []
