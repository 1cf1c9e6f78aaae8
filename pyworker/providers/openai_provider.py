"""OpenAI (or any OpenAI-compatible server) through the official SDK.

Structured output with a JSON schema, validated again with pydantic; screenshots
go in as an image part (data URL). The SDK's own retries are off: the queue
retries with backoff (and honours Retry-After) without holding a worker slot.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import openai
from pydantic import ValidationError

from pyworker.prompts import load_prompt
from pyworker.providers.base import (
    AnalysisRequest,
    AnalysisResult,
    ProviderError,
    ProviderOutput,
    Usage,
    result_json_schema,
)

RESULT_SCHEMA: dict[str, Any] = result_json_schema()
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "flirt_analysis", "strict": True, "schema": RESULT_SCHEMA},
}


def _context_text(context: Any) -> str:
    if not isinstance(context, dict):
        return ""
    parts = [f"{k}: {context[k]}" for k in ("goal", "tone") if isinstance(context.get(k), str)]
    return ("User's wishes:\n" + "\n".join(parts) + "\n\n") if parts else ""


def build_messages(request: AnalysisRequest, system_prompt: str) -> list[dict[str, Any]]:
    """The chat messages for one analysis (text chat, or a screenshot as an image part)."""
    context = _context_text(request.input.get("context"))
    if request.image is not None:
        data = base64.b64encode(request.image).decode()
        user: Any = [
            {"type": "text", "text": context + "Analyse the chat in this screenshot."},
            {
                "type": "image_url",
                "image_url": {"url": f"data:{request.image_mime};base64,{data}", "detail": "auto"},
            },
        ]
    else:
        user = context + "Conversation:\n<<<\n" + str(request.input.get("chat", "")) + "\n>>>"
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": user}]


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def classify(exc: openai.OpenAIError) -> ProviderError:
    """Timeouts, connection errors, 408/409/429 and 5xx are retryable; other errors are not."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("timeout", "the AI provider timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("connection_error", "cannot reach the AI provider", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            return ProviderError(
                "rate_limited",
                "429 from the AI provider",
                retryable=True,
                retry_after=_retry_after(exc),
            )
        if status >= 500 or status in (408, 409):
            return ProviderError("provider_unavailable", f"HTTP {status}", retryable=True)
        return ProviderError("provider_rejected", f"HTTP {status}", retryable=False)
    return ProviderError("provider_error", type(exc).__name__, retryable=False)


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None,
        timeout_seconds: float,
        max_output_tokens: int = 1000,
    ) -> None:
        self.model = model
        self.max_output_tokens = max_output_tokens
        self.prompt = load_prompt()
        self.client = openai.AsyncOpenAI(
            # a local OpenAI-compatible server may need no key
            api_key=api_key or "unused",
            base_url=base_url or None,
            timeout=timeout_seconds,
            max_retries=0,
        )

    async def analyze(self, request: AnalysisRequest) -> ProviderOutput:
        try:
            response = await self.client.chat.completions.create(  # type: ignore[call-overload]
                model=self.model,
                messages=build_messages(request, self.prompt.text),
                response_format=RESPONSE_FORMAT,
                # bounds the cost of one call (max_tokens is deprecated, and refused by
                # reasoning models)
                max_completion_tokens=self.max_output_tokens,
            )
        except openai.OpenAIError as exc:
            raise classify(exc) from exc
        if not response.choices:
            raise ProviderError("invalid_output", "no choices in the response", retryable=True)
        choice = response.choices[0]
        message = choice.message
        if getattr(message, "refusal", None):
            raise ProviderError("refused", "the model refused to answer", retryable=False)
        if choice.finish_reason == "length":
            # the same input would be cut off again: asking again only costs another long answer
            raise ProviderError(
                "output_too_long",
                f"the answer was cut off at {self.max_output_tokens} tokens",
                retryable=False,
            )
        try:
            result = AnalysisResult.model_validate(json.loads(message.content or ""))
        except (ValueError, ValidationError) as exc:
            # never log or store the content: it may quote the chat
            raise ProviderError(
                "invalid_output", "the answer does not match the schema", retryable=True
            ) from exc
        usage = response.usage
        return ProviderOutput(
            result=result,
            model=response.model or self.model,
            usage=Usage(
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                total_tokens=usage.total_tokens if usage else 0,
            ),
            prompt_version=self.prompt.version,
        )

    async def aclose(self) -> None:
        await self.client.close()
