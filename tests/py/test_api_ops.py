"""The API's operational surface: metrics behind a token or on a loopback port, docs that
can be switched off, and webhook secrets that can be rotated without downtime."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from pyworker.api.app import create_app
from pyworker.settings import ROOT, Config, load_config
from tests.py.conftest import _free_port
from tests.py.dbtools import TestDatabase, balances
from tests.py.fakes import stripe_events as ev
from tests.py.fakes.billing_env import fake_stripe_fixture, secrets_for  # noqa: F401
from tests.py.fakes.stripe_fake import FakeStripe

CFG = load_config()
PRODUCTION = ROOT / "deploy" / "config.production.toml"
METRICS_TOKEN = "metrics-token-for-tests"
URL = "/api/webhook/stripe"


def _client(db: TestDatabase, fake: FakeStripe, cfg: Config = CFG, **secrets: str) -> TestClient:
    base = secrets_for(db, fake.url).model_copy(update=secrets)
    return TestClient(create_app(cfg, base, pool_size=2))


def _with_docs(enabled: bool) -> Config:
    return CFG.model_copy(update={"api": CFG.api.model_copy(update={"docs": enabled})})


# -- /metrics ------------------------------------------------------------------


def test_metrics_are_not_served_on_the_api_port_without_a_metrics_token(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    with _client(db, fake_stripe) as client:
        response = client.get("/metrics")
    assert response.status_code == 404
    assert "flirt_webhook" not in response.text


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {METRICS_TOKEN}", METRICS_TOKEN, "Bearer "],
)
def test_metrics_refuse_a_missing_or_wrong_bearer_token(
    db: TestDatabase, fake_stripe: FakeStripe, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    with _client(db, fake_stripe, metrics_token=METRICS_TOKEN) as client:
        response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert "flirt_webhook" not in response.text


def test_metrics_answer_the_bearer_of_the_metrics_token(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    with _client(db, fake_stripe, metrics_token=METRICS_TOKEN) as client:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert "flirt_webhook_events_total" in response.text
    assert "flirt_billing_requests_total" in response.text


def test_metrics_port_serves_metrics_on_loopback_while_the_app_runs(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    port = _free_port()
    app = create_app(CFG, secrets_for(db, fake_stripe.url), pool_size=2, metrics_port=port)
    with TestClient(app) as client:
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert "flirt_webhook_events_total" in scraped.text
        # the public port still does not serve them
        assert client.get("/metrics").status_code == 404
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_metrics_are_left_out_of_the_openapi_document(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    with _client(db, fake_stripe, metrics_token=METRICS_TOKEN) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "/metrics" not in paths
    assert "/api/webhook/stripe" in paths


# -- docs ------------------------------------------------------------------------


def test_docs_and_openapi_are_served_when_enabled(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    with _client(db, fake_stripe, _with_docs(True)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 200, path


def test_docs_and_openapi_are_gone_when_disabled(db: TestDatabase, fake_stripe: FakeStripe) -> None:
    with _client(db, fake_stripe, _with_docs(False)) as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
        # the API itself still answers
        assert client.get("/healthz").json() == {"status": "ok"}


def test_production_example_config_is_valid_and_closes_the_docs() -> None:
    cfg = load_config(PRODUCTION)
    assert cfg.api.docs is False
    assert cfg.api.host == "127.0.0.1"  # only the reverse proxy faces the internet
    assert not any("localhost" in origin for origin in cfg.api.cors_origins)
    assert cfg.stripe.success_url.startswith("https://")


def test_production_example_config_has_every_section_of_the_development_config() -> None:
    import tomllib

    dev = tomllib.loads((ROOT / "config.toml").read_text())
    prod = tomllib.loads(PRODUCTION.read_text())
    assert set(dev) - {"dev"} == set(prod)
    for section in ("signup", "reset", "limits", "worker", "ai", "stripe", "api", "retention"):
        assert set(dev[section]) == set(prod[section]), section


# -- webhook secret rotation ------------------------------------------------------


def test_both_webhook_secrets_are_accepted_while_one_is_rotated(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    old, new = "whsec_old_secret", "whsec_new_secret"
    user = db.create_user()
    before = balances(db, user)["purchased_credits"]
    with _client(db, fake_stripe, stripe_webhook_secret=f"{old}, {new}") as client:
        for secret in (old, new):
            evt = ev.event("payment_intent.succeeded", ev.payment_intent(str(user), "small", 499))
            body, headers = ev.signed(evt, secret)
            response = client.post(URL, content=body, headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "processed"
        evt = ev.event("payment_intent.succeeded", ev.payment_intent(str(user), "small", 499))
        body, headers = ev.signed(evt, "whsec_someone_else")
        refused = client.post(URL, content=body, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_signature"
    assert balances(db, user)["purchased_credits"] == before + 2 * CFG.packs["small"].credits
    stored = db.fetchone("select 1 as found from stripe_webhook_events where id = %s", [evt["id"]])
    assert stored is None


def test_a_blank_webhook_secret_list_refuses_deliveries(
    db: TestDatabase, fake_stripe: FakeStripe
) -> None:
    evt = ev.event("payment_intent.succeeded", ev.payment_intent("x", "small", 499))
    body, headers = ev.signed(evt, "")
    with _client(db, fake_stripe, stripe_webhook_secret=" , ") as client:
        response = client.post(URL, content=body, headers=headers)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "webhooks_not_configured"


def test_api_run_refuses_a_metrics_port_shared_by_several_processes() -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["api", "run", "--workers", "2", "--metrics-port", "9999"])
    assert result.exit_code == 1
    assert "--metrics-port serves one process" in result.output
