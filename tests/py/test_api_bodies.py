"""Request bodies are bounded on every route, while they are read, before anything else.

`[api] max_body_bytes` bounds the user routes (and every other route but the
webhook), `[api] max_webhook_bytes` Stripe's deliveries. A larger body is a 413
before its token or signature is looked at, and a huge one costs the API process
no memory: checked on the API as deployed (`flirt-admin api run`, uvicorn).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pyworker import devstack
from pyworker.settings import load_config
from tests.py.conftest import TEMPLATE, _free_port
from tests.py.fakes import stripe_events as ev
from tests.py.fakes.billing_env import (  # noqa: F401
    JWT_SECRET,
    WEBHOOK_SECRET,
    auth,
    client_fixture,
    fake_stripe_fixture,
)
from tests.py.fakes.stripe_fake import FakeStripe

CFG = load_config()
MIB = 1024 * 1024


def _pack_body(size: int) -> bytes:
    """A JSON body of `size` bytes that the route would parse if it read it all."""
    padding = size - len(b'{"pack_id": ""}')
    return b'{"pack_id": "' + b"a" * padding + b'"}'


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_user_body_is_413_before_authentication(
    client: TestClient, fake_stripe: FakeStripe, chunked: bool
) -> None:
    body = _pack_body(CFG.api.max_body_bytes + 1)
    content = iter([body[:1000], body[1000:]]) if chunked else body
    response = client.post(
        "/api/user/buy_pack", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert str(CFG.api.max_body_bytes) in error["message"]
    assert fake_stripe.calls == []


def test_user_body_within_the_limit_reaches_the_route(
    client: TestClient, fake_stripe: FakeStripe
) -> None:
    body = b'{"pack_id": "nope"}' + b" " * (CFG.api.max_body_bytes - 19)
    assert len(body) == CFG.api.max_body_bytes
    response = client.post(
        "/api/user/buy_pack",
        content=body,
        headers={**auth(uuid.uuid4()), "Content-Type": "application/json"},
    )
    assert response.status_code != 413, response.text


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_webhook_body_is_413_before_the_signature_is_checked(
    client: TestClient, chunked: bool
) -> None:
    evt = ev.event("payment_intent.succeeded", ev.payment_intent(None, "small", 499))
    evt["data"]["object"]["description"] = "x" * CFG.api.max_webhook_bytes
    body, headers = ev.signed(evt, "whsec_not_the_endpoints")
    content = iter([body[:1000], body[1000:]]) if chunked else body
    response = client.post("/api/webhook/stripe", content=content, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"


# -- the API as deployed ------------------------------------------------------------------


@pytest.fixture(name="api_process", scope="module")
def api_process_fixture(
    cluster: devstack.Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    """`flirt-admin api run` in its own process: (base URL, pid)."""
    name = f"bodies_{os.getpid()}"
    cluster.create_database(name, template=TEMPLATE)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{cluster.port}/{name}",
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        "SUPABASE_URL": "",
        "SUPABASE_JWKS_URL": "",
        "STRIPE_SECRET_KEY": "sk_test_fake",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": "http://127.0.0.1:9",
    }
    log = tmp_path_factory.mktemp("api_bodies") / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        cluster.drop_database(name)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"api exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"api not ready: {log.read_text()[-2000:]}")


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _post_raw(url: str, path: str, size: int, chunked: bool) -> int:
    """POST a `size`-byte JSON body over a raw socket (the server may answer early)."""
    host, port = url.removeprefix("http://").split(":")
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    piece = b"a" * MIB
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            sent = 0
            first = b'{"pack_id": "'
            while sent < size:
                data = (first + piece)[: min(MIB, size - sent)] if sent == 0 else piece
                data = data[: size - sent]
                sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                sent += len(data)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: the answer is still readable
        answer = sock.recv(65536).decode(errors="replace")
    return int(answer.split(" ", 2)[1])


@pytest.mark.parametrize("chunked", [False, True])
def test_96_mib_unauthenticated_body_does_not_grow_the_api_memory(
    api_process: tuple[str, int], chunked: bool
) -> None:
    url, pid = api_process
    # warm up: the first requests of each kind load what they need
    for _ in range(3):
        _post_raw(url, "/api/user/buy_pack", CFG.api.max_body_bytes + 1, chunked)
        assert httpx.post(f"{url}/api/user/buy_pack", json={"pack_id": "small"}).status_code == 401
    before = _peak_rss(pid)
    status = _post_raw(url, "/api/user/buy_pack", 96 * MIB, chunked)
    grown = _peak_rss(pid) - before
    assert grown < 4 * MIB, f"the API's peak memory grew by {grown / MIB:.1f} MiB"
    assert status == 413
    assert httpx.get(f"{url}/healthz").status_code == 200
