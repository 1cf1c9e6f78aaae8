"""AI providers: the deterministic mock and the OpenAI SDK against a local fake server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from pyworker.providers import AnalysisRequest, AnalysisResult, ProviderError, make_provider
from pyworker.providers.mock import MockProvider
from pyworker.providers.openai_provider import OpenAIProvider
from pyworker.settings import Secrets, load_config
from tests.py.fakes.openai_fake import FakeOpenAI, serve_openai

CHAT = {"chat": "them: coffee sometime?\nme: I'd love that", "context": {"goal": "date"}}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def request(action: str = "short_chat", **kw: Any) -> AnalysisRequest:
    return AnalysisRequest(analysis_id="a1", action_type=action, input=kw.pop("input", CHAT), **kw)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serve_openai(FakeOpenAI(model="gpt-test")) as server:
        yield server


def openai_provider(fake: FakeOpenAI, timeout: float = 5.0) -> OpenAIProvider:
    return OpenAIProvider(
        model="gpt-test", api_key="sk-test", base_url=fake.base_url, timeout_seconds=timeout
    )


def test_mock_gives_the_same_valid_result_for_the_same_input() -> None:
    mock = MockProvider()
    first = run(mock.analyze(request()))
    again = run(mock.analyze(request(attempt=2)))
    other = run(mock.analyze(request(input={"chat": "something else entirely"})))
    assert first.result == again.result
    assert first.result.model_dump() != other.result.model_dump()
    assert AnalysisResult.model_validate(first.result.model_dump()) == first.result
    assert len(first.result.suggestions) == 3 and 0 <= first.result.interest_level <= 10
    assert first.prompt_version == "analysis_v1"


def test_mock_failure_rate_fails_as_retryable_and_never_invents_a_result() -> None:
    with pytest.raises(ProviderError) as info:
        run(MockProvider(failure_rate=1.0).analyze(request()))
    assert info.value.retryable


def test_config_chooses_the_provider() -> None:
    cfg = load_config()
    assert make_provider(cfg, Secrets()).name == "mock"
    cfg = cfg.model_copy(update={"ai": cfg.ai.model_copy(update={"provider": "openai"})})
    provider = make_provider(cfg, Secrets(openai_base_url="http://127.0.0.1:9/v1"))
    assert provider.name == "openai"
    run(provider.aclose())


def test_openai_sends_model_and_json_schema_and_records_usage(fake: FakeOpenAI) -> None:
    provider = openai_provider(fake)
    out = run(provider.analyze(request()))
    assert fake.violations == []
    body = fake.requests[0]
    assert body["model"] == "gpt-test"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert "coffee sometime" in body["messages"][-1]["content"]
    assert out.result.interest_level == 8 and out.model == "gpt-test"
    assert out.usage.prompt_tokens == 321 and out.usage.completion_tokens == 123
    assert out.prompt_version == "analysis_v1"


def test_openai_sends_the_screenshot_as_an_image_part(fake: FakeOpenAI) -> None:
    provider = openai_provider(fake)
    req = request("image_analysis", input={"image_path": "u/shot.png"}, image=PNG)
    run(provider.analyze(req))
    assert fake.violations == []
    parts = fake.requests[0]["messages"][-1]["content"]
    image = next(p for p in parts if p["type"] == "image_url")
    assert image["image_url"]["url"].startswith("data:image/png;base64,")


def test_openai_429_is_retryable_with_retry_after(fake: FakeOpenAI) -> None:
    fake.script = ["429:7"]
    with pytest.raises(ProviderError) as info:
        run(openai_provider(fake).analyze(request()))
    assert info.value.retryable and info.value.retry_after == 7
    assert len(fake.requests) == 1  # the queue retries, not the SDK


@pytest.mark.parametrize("behaviour", ["500", "503"])
def test_openai_server_errors_are_retryable(fake: FakeOpenAI, behaviour: str) -> None:
    fake.script = [behaviour]
    with pytest.raises(ProviderError) as info:
        run(openai_provider(fake).analyze(request()))
    assert info.value.retryable and info.value.code == "provider_unavailable"


def test_openai_timeout_is_retryable(fake: FakeOpenAI) -> None:
    fake.script = ["slow:2"]
    with pytest.raises(ProviderError) as info:
        run(openai_provider(fake, timeout=0.3).analyze(request()))
    assert info.value.retryable and info.value.code == "timeout"


def test_openai_rejected_request_is_permanent() -> None:
    with (
        serve_openai(FakeOpenAI(model="another-model")) as fake,
        pytest.raises(ProviderError) as info,
    ):
        run(openai_provider(fake).analyze(request()))
    assert not info.value.retryable and info.value.code == "provider_rejected"


@pytest.mark.parametrize("behaviour", ["invalid", "notjson"])
def test_openai_output_outside_the_schema_is_an_error_not_a_result(
    fake: FakeOpenAI, behaviour: str
) -> None:
    fake.script = [behaviour]
    with pytest.raises(ProviderError) as info:
        run(openai_provider(fake).analyze(request()))
    assert info.value.code == "invalid_output" and info.value.retryable
    assert "coffee" not in str(info.value)  # errors are stored: never chat text


def test_openai_caps_the_answer_and_a_cut_off_answer_is_permanent(fake: FakeOpenAI) -> None:
    provider = OpenAIProvider(
        model="gpt-test",
        api_key="sk-test",
        base_url=fake.base_url,
        timeout_seconds=5,
        max_output_tokens=50,
    )
    fake.script = ["length"]
    with pytest.raises(ProviderError) as info:
        run(provider.analyze(request()))
    assert (info.value.code, info.value.retryable) == ("output_too_long", False)
    assert fake.requests[0]["max_completion_tokens"] == 50
    # the configured cap reaches the provider
    assert load_config().ai.max_output_tokens > 0


def test_openai_connection_refused_is_retryable() -> None:
    provider = OpenAIProvider(
        model="m", api_key="k", base_url="http://127.0.0.1:9/v1", timeout_seconds=2
    )
    with pytest.raises(ProviderError) as info:
        run(provider.analyze(request()))
    assert info.value.retryable and info.value.code == "connection_error"


def test_result_model_rejects_out_of_range_interest_and_missing_suggestions() -> None:
    good = run(MockProvider().analyze(request())).result.model_dump()
    for broken in (
        {**good, "interest_level": 11},
        {**good, "suggestions": good["suggestions"][:2]},
        {**good, "extra": 1},
    ):
        with pytest.raises(ValueError):
            AnalysisResult.model_validate(broken)
