"""The provider interface: what every AI provider takes, returns and raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class Suggestion(BaseModel):
    """One suggested reply with its style and a one-line reason."""

    model_config = ConfigDict(extra="forbid")

    reply: str = Field(min_length=1, max_length=2000)
    style: str = Field(min_length=1, max_length=100)
    rationale: str = Field(min_length=1, max_length=500)


class AnalysisResult(BaseModel):
    """The stored `analyses.result` (DESIGN §6); complete_analysis checks the same shape."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1, max_length=4000)
    interest_level: StrictInt = Field(ge=0, le=10)
    tone: str = Field(min_length=1, max_length=100)
    red_flags: list[str] = Field(max_length=20)
    suggestions: list[Suggestion] = Field(min_length=3, max_length=3)


# Keywords OpenAI's strict structured output refuses; the model still enforces them (and
# complete_analysis the shape) when the answer is validated.
_NOT_IN_STRICT_MODE = frozenset({"minLength", "maxLength", "title", "description"})


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                {p: _strict(v) for p, v in v.items()}
                if k in ("properties", "$defs")
                else _strict(v)
            )
            for k, v in node.items()
            if k not in _NOT_IN_STRICT_MODE
        }
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def result_json_schema() -> dict[str, Any]:
    """The JSON schema of a result, derived from AnalysisResult (structured-output form:
    every property required, no other property, no string-length keywords)."""
    schema: dict[str, Any] = _strict(AnalysisResult.model_json_schema())
    return schema


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class AnalysisRequest:
    """What a provider needs for one analysis. `image` is set for image_analysis."""

    analysis_id: str
    action_type: str
    input: dict[str, Any]
    attempt: int = 1
    image: bytes | None = field(default=None, repr=False)
    image_mime: str = "image/png"


@dataclass(frozen=True)
class ProviderOutput:
    result: AnalysisResult
    model: str
    usage: Usage
    prompt_version: str


class ProviderError(Exception):
    """A provider call failed. `retryable`: a later attempt may succeed (timeouts, 429, 5xx).

    The message is stored in `analyses.error`: it must never contain chat text.
    """

    def __init__(
        self, code: str, message: str, *, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class Provider(Protocol):
    """An AI provider: one async call per analysis."""

    name: str

    async def analyze(self, request: AnalysisRequest) -> ProviderOutput: ...

    async def aclose(self) -> None: ...
