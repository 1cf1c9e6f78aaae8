"""AI providers: `mock` (deterministic, no network) and `openai` (any compatible server)."""

from __future__ import annotations

from pyworker.providers.base import (
    AnalysisRequest,
    AnalysisResult,
    Provider,
    ProviderError,
    ProviderOutput,
    Suggestion,
    Usage,
)
from pyworker.settings import Config, Secrets

__all__ = [
    "AnalysisRequest",
    "AnalysisResult",
    "Provider",
    "ProviderError",
    "ProviderOutput",
    "Suggestion",
    "Usage",
    "make_provider",
]


def make_provider(cfg: Config, secrets: Secrets) -> Provider:
    """The provider named by `[ai] provider`."""
    if cfg.ai.provider == "openai":
        from pyworker.providers.openai_provider import OpenAIProvider

        return OpenAIProvider(
            model=cfg.ai.model,
            api_key=secrets.openai_api_key,
            base_url=secrets.openai_base_url,
            timeout_seconds=cfg.ai.timeout_seconds,
            max_output_tokens=cfg.ai.max_output_tokens,
        )
    from pyworker.providers.mock import MockProvider

    return MockProvider(latency_ms=cfg.ai.mock.latency_ms, failure_rate=cfg.ai.mock.failure_rate)
