"""The mock provider's native `/v1/messages`, checked by the official anthropic SDK itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest

from chain429.quota.headers import parse_rate_limit_headers
from chain429.testing import Budget, MockProvider, Reply
from chain429.testing.anthropic import anthropic_error

KEY = "sk-ant-mock"
ASK: Any = [{"role": "user", "content": "Say hello, please."}]


@pytest.fixture
async def mp() -> AsyncIterator[MockProvider]:
    provider = MockProvider(api_key=KEY, header_dialect="anthropic", limits=Budget(rpm=2))
    async with provider:
        yield provider


def sdk(mp: MockProvider, key: str = KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=mp.url.removesuffix("/v1"), api_key=key, max_retries=0)


async def test_the_sdk_reads_its_messages_and_streams(mp: MockProvider) -> None:
    async with sdk(mp) as client:
        whole = await client.messages.create(model="claude-x", max_tokens=50, messages=ASK)
        async with client.messages.stream(model="claude-x", max_tokens=50, messages=ASK) as s:
            streamed = "".join([t async for t in s.text_stream])
            final = await s.get_final_message()
    assert whole.content[0].text == mp.reply_text == streamed  # type: ignore[union-attr]
    assert whole.model == "claude-x" and whole.usage.input_tokens > 0
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    assert mp.requests[-1].path == "/v1/messages"


async def test_it_wants_its_key_in_x_api_key_and_an_anthropic_version(mp: MockProvider) -> None:
    async with sdk(mp, "sk-wrong") as client:
        with pytest.raises(anthropic.AuthenticationError):
            await client.messages.create(model="claude-x", max_tokens=5, messages=ASK)
    body = {"model": "claude-x", "max_tokens": 5, "messages": ASK}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{mp.url}/messages", json=body, headers={"x-api-key": KEY}) as response,
    ):
        assert response.status == 400
        assert (await response.json())["error"]["message"].startswith("anthropic-version")


async def test_a_spent_budget_is_an_anthropic_429_with_its_headers(mp: MockProvider) -> None:
    async with sdk(mp) as client:
        first = await client.messages.with_raw_response.create(
            model="claude-x", max_tokens=5, messages=ASK
        )
        await client.messages.create(model="claude-x", max_tokens=5, messages=ASK)
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(model="claude-x", max_tokens=5, messages=ASK)
    assert first.headers["anthropic-ratelimit-requests-remaining"] == "1"
    refused = caught.value.response.headers
    assert int(refused["retry-after"]) > 0
    assert refused["anthropic-ratelimit-requests-remaining"] == "0"
    snapshot = parse_rate_limit_headers("anthropic", refused, 0.0)
    assert snapshot is not None and snapshot.windows[0].exhausted
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


async def test_scripted_errors_use_anthropics_envelope(mp: MockProvider) -> None:
    mp.script(Reply(529), Reply(400, anthropic_error(400, "max_tokens: Field required")))
    async with sdk(mp) as client:
        with pytest.raises(anthropic.APIStatusError) as overloaded:
            await client.messages.create(model="claude-x", max_tokens=5, messages=ASK)
        with pytest.raises(anthropic.BadRequestError, match="Field required"):
            await client.messages.create(model="claude-x", max_tokens=5, messages=ASK)
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
