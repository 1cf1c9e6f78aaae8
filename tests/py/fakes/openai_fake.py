"""A local fake of the OpenAI chat completions endpoint.

It runs on 127.0.0.1 and ASSERTS what it is sent: the model, a JSON-schema
`response_format` with the analysis schema, the system prompt, and for
screenshots an `image_url` part holding a data URL. A request that breaks the
contract is answered 400 and recorded in `violations`. Answers have the real
API's shape (id, object, created, model, choices, usage), and errors its error
body; `script` lets a test choose what each next request gets:

- "ok": a valid analysis;  "invalid": content that does not match the schema;
- "500" / "503": a server error;  "429:<seconds>": rate limited with Retry-After;
- "slow:<seconds>": a valid answer after a delay (for client timeouts);
- "length": an answer cut off at the request's `max_completion_tokens`.
When the script is empty, `default` is used.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VALID_RESULT = {
    "summary": "They are engaged and playful; the timing is right to suggest meeting.",
    "interest_level": 8,
    "tone": "playful",
    "red_flags": [],
    "suggestions": [
        {"reply": "Coffee on Saturday?", "style": "bold", "rationale": "Clear next step."},
        {"reply": "You had me at rain.", "style": "playful", "rationale": "Keeps the banter."},
        {"reply": "Tell me more!", "style": "curious", "rationale": "Invites them to share."},
    ],
}
INVALID_RESULT = {"summary": "ok", "interest_level": 42, "tone": "x", "suggestions": []}


@dataclass
class FakeOpenAI:
    model: str = "gpt-test"
    default: str = "ok"
    script: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_behaviour(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def check(self, body: dict[str, Any]) -> list[str]:
        """What is wrong with a request (empty when it follows the contract)."""
        problems = []
        if body.get("model") != self.model:
            problems.append(f"model {body.get('model')!r} != {self.model!r}")
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        if fmt.get("type") != "json_schema":
            problems.append("response_format.type is not json_schema")
        elif set(schema.get("required", [])) != set(VALID_RESULT):
            problems.append(f"schema requires {schema.get('required')}")
        messages = body.get("messages") or []
        if not messages or messages[0].get("role") != "system":
            problems.append("no system prompt")
        user = messages[-1].get("content") if messages else None
        if isinstance(user, list):
            images = [p for p in user if p.get("type") == "image_url"]
            url = images[0]["image_url"]["url"] if images else ""
            if not url.startswith("data:image/") or ";base64," not in url:
                problems.append("image part missing or not a base64 data URL")
            else:
                base64.b64decode(url.split(",", 1)[1], validate=True)
        elif not isinstance(user, str) or not user:
            problems.append("user message has no content")
        return problems


def _completion(fake: FakeOpenAI, content: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake{len(fake.requests)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": fake.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 321, "completion_tokens": 123, "total_tokens": 444},
        "system_fingerprint": "fp_fake",
    }


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(
            self, status: int, message: str, kind: str, headers: dict[str, str] | None = None
        ) -> None:
            self._send(
                status,
                {"error": {"message": message, "type": kind, "param": None, "code": None}},
                headers,
            )

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with fake.lock:
                fake.requests.append(body)
                fake.times.append(time.monotonic())
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(404, f"unknown path {self.path}", "invalid_request_error")
                return
            if not self.headers.get("Authorization", "").startswith("Bearer "):
                self._error(401, "missing API key", "invalid_request_error")
                return
            problems = fake.check(body)
            if problems:
                fake.violations.extend(problems)
                self._error(400, "; ".join(problems), "invalid_request_error")
                return
            behaviour = fake.next_behaviour()
            kind, _, arg = behaviour.partition(":")
            if kind == "429":
                self._error(429, "Rate limit reached", "requests", {"Retry-After": arg or "1"})
            elif kind in ("500", "502", "503"):
                self._error(int(kind), "The server had an error", "server_error")
            elif kind == "invalid":
                self._send(200, _completion(fake, json.dumps(INVALID_RESULT)))
            elif kind == "length":
                cut = json.dumps(VALID_RESULT)[: int(body.get("max_completion_tokens") or 10**6)]
                self._send(200, _completion(fake, cut, "length"))
            elif kind == "notjson":
                self._send(200, _completion(fake, "Sure! Here is my analysis: they like you."))
            else:
                if kind == "slow":
                    time.sleep(float(arg))
                self._send(200, _completion(fake, json.dumps(VALID_RESULT)))

    return Handler


@contextmanager
def serve_openai(fake: FakeOpenAI | None = None) -> Iterator[FakeOpenAI]:
    """Run the fake on a free loopback port; `fake.base_url` is OPENAI_BASE_URL."""
    fake = fake or FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
