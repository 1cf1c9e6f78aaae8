"""Deterministic provider with no network: the same input always gives the same result.

Optional simulated latency and failure rate (`[ai.mock]`) serve tests and
benchmarks. A simulated failure is decided by a hash of (analysis, attempt),
so a run is reproducible too.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json

from pyworker.prompts import load_prompt
from pyworker.providers.base import (
    AnalysisRequest,
    AnalysisResult,
    ProviderError,
    ProviderOutput,
    Suggestion,
    Usage,
)

_TONES = ["playful", "warm", "flirty", "polite", "curious", "reserved"]
_FLAGS = ["replies are getting shorter", "avoids direct questions", "changes plans often"]
_REPLIES = [
    (
        "playful",
        "Okay, you win this round. Rematch over coffee this week?",
        "Keeps the banter going and moves toward a date.",
    ),
    (
        "sincere",
        "I really enjoy talking with you. What made you smile today?",
        "Shows genuine interest and invites them to open up.",
    ),
    (
        "bold",
        "Let's skip the small talk: drinks on Thursday?",
        "Clear and confident; matches their energy.",
    ),
    (
        "curious",
        "Wait, tell me more about that. How did it start?",
        "Asks about something they care about.",
    ),
    ("light", "Ha, that's the best thing I've read all day.", "Low pressure and positive."),
]


def _digest(request: AnalysisRequest, text: str) -> bytes:
    h = hashlib.sha256(request.action_type.encode())
    h.update(text.encode())
    if request.image is not None:
        h.update(request.image)
    return h.digest()


def _should_fail(request: AnalysisRequest, rate: float) -> bool:
    if rate <= 0:
        return False
    key = f"{request.analysis_id}:{request.attempt}".encode()
    value = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
    return value < rate


def _input_text(request: AnalysisRequest) -> str:
    return json.dumps(request.input, sort_keys=True, separators=(",", ":"))


def mock_result(request: AnalysisRequest, text: str | None = None) -> AnalysisResult:
    d = _digest(request, text if text is not None else _input_text(request))
    return _result(
        d[0] % 11, d[1] % len(_TONES), d[2] % len(_REPLIES), d[3] % 3, d[4] % len(_FLAGS)
    )


# A few thousand distinct results at most: built once each (results are never mutated).
@functools.lru_cache(maxsize=4096)
def _result(interest: int, tone: int, start: int, n_flags: int, flag_seed: int) -> AnalysisResult:
    picks = [_REPLIES[(start + i) % len(_REPLIES)] for i in range(3)]
    return AnalysisResult(
        summary=(
            "The conversation is friendly and both sides are engaged; "
            "a light question keeps it going."
        ),
        interest_level=interest,
        tone=_TONES[tone],
        red_flags=[_FLAGS[(flag_seed + i) % len(_FLAGS)] for i in range(n_flags)],
        suggestions=[Suggestion(reply=r, style=s, rationale=why) for s, r, why in picks],
    )


class MockProvider:
    name = "mock"

    def __init__(
        self, latency_ms: int = 0, failure_rate: float = 0.0, model: str = "mock-1"
    ) -> None:
        self.latency = latency_ms / 1000
        self.failure_rate = failure_rate
        self.model = model
        self.prompt = load_prompt()

    async def analyze(self, request: AnalysisRequest) -> ProviderOutput:
        if self.latency:
            await asyncio.sleep(self.latency)
        if _should_fail(request, self.failure_rate):
            raise ProviderError("mock_failure", "simulated provider failure", retryable=True)
        text = _input_text(request)
        result = mock_result(request, text)
        size = len(text) // 4
        return ProviderOutput(
            result=result,
            model=self.model,
            usage=Usage.model_construct(
                prompt_tokens=size, completion_tokens=120, total_tokens=size + 120
            ),
            prompt_version=self.prompt.version,
        )

    async def aclose(self) -> None:
        return None
