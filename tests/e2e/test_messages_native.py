"""`/v1/messages` with entries that speak Messages natively: the anthropic SDK -> the proxy ->
an Anthropic-native mock (untranslated) or an OpenAI chat mock (translated), in one walk."""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from chain429.testing import Budget, Reply, Stream, error_body
from chain429.testing.anthropic import anthropic_error, message_events
from chain429.testing.mock_provider import MockProvider
from tests.e2e.conftest import PROXY_KEY, Proxy, make_config

pytestmark = pytest.mark.asyncio

NATIVE = {"type": "anthropic-compatible"}
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
# What only Anthropic understands: cached system blocks, a server tool, thinking.
REQUEST: Any = {
    "model": "default",
    "max_tokens": 2000,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
    "tools": [WEATHER_TOOL, {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
    "tool_choice": {"type": "auto"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}


def client(p: Proxy) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=p.url, api_key=PROXY_KEY, max_retries=0)


async def native_mock(mocks: Any, **kw: Any) -> MockProvider:
    kw.setdefault("api_key", "sk-upstream-native-secret")
    return await mocks(header_dialect="anthropic", reply_text="Native sunshine.", **kw)


async def chain_of(
    mocks: Any, proxy: Any, order: list[str], **native_kw: Any
) -> tuple[MockProvider, MockProvider, Proxy]:
    """A chain of the native mock (`native/claude-x`) and a chat mock (`chat/m2`) in `order`."""
    native = await native_mock(mocks, **native_kw)
    chat = await mocks(reply_text="Chat sunshine.")
    entries = {"native": "native/claude-x", "chat": "chat/m2"}
    config = make_config(
        {"native": native, "chat": chat},
        {"default": [entries[name] for name in order]},
        provider_extra={"native": NATIVE},
    )
    return native, chat, await proxy(config)


def anthropic_429() -> Reply:
    body = anthropic_error(429, "This request would exceed the rate limit for your organization.")
    return Reply(429, body, {"retry-after": "30"})


async def test_a_native_entry_gets_the_clients_body_untranslated(mocks, proxy) -> None:
    native, chat, p = await chain_of(mocks, proxy, ["native", "chat"])
    async with client(p) as sdk:
        raw = await sdk.messages.with_raw_response.create(**REQUEST)
    message = raw.parse()
    sent = native.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.json == {**REQUEST, "model": "claude-x"}  # as the client sent it, bar the model
    assert sent.headers["x-api-key"] == "sk-upstream-native-secret"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    # The upstream's own answer, passed through: its id and model, not ones we made up.
    assert message.id == "msg_mock" and message.model == "claude-x"
    assert message.content[0].text == "Native sunshine."  # type: ignore[union-attr]
    assert raw.headers["x-429chain-provider"] == "native"
    assert raw.headers["x-429chain-attempts"] == "1"
    assert chat.calls == 0


async def test_a_native_stream_is_relayed_as_the_upstream_sent_it(mocks, proxy) -> None:
    native, _, p = await chain_of(mocks, proxy, ["native", "chat"])
    types = []
    async with client(p) as sdk, sdk.messages.stream(**REQUEST) as stream:
        async for event in stream:
            types.append(event.type)
        message = await stream.get_final_message()
    sent = native.requests[-1].json
    assert sent == {**REQUEST, "model": "claude-x", "stream": True}  # no stream_options
    assert message.id == "msg_mock"
    assert message.content[0].text == "Native sunshine."  # type: ignore[union-attr]
    assert message.usage.output_tokens == 4
    assert types[0] == "message_start" and types[-1] == "message_stop"


async def test_the_native_stream_bytes_reach_the_client_unchanged(mocks, proxy) -> None:
    native, _, p = await chain_of(mocks, proxy, ["native", "chat"])
    events = message_events("Hi there.", "claude-x", (12, 3))
    native.script(Stream(events))
    body = {**REQUEST, "stream": True}
    headers = {"x-api-key": PROXY_KEY}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{p.url}/v1/messages", json=body, headers=headers) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        received = await response.read()
    upstream = b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + _json(e) + b"\n\n" for e in events
    )
    assert received == upstream


@pytest.mark.parametrize("stream", [False, True])
async def test_a_native_429_falls_through_to_a_translated_chat_entry(
    mocks, proxy, stream: bool
) -> None:
    native, chat, p = await chain_of(mocks, proxy, ["native", "chat"])
    native.script(anthropic_429())
    async with client(p) as sdk:
        if stream:
            async with sdk.messages.stream(**REQUEST) as s:
                text = "".join([t async for t in s.text_stream])
        else:
            message = await sdk.messages.create(**REQUEST)
            text = message.content[-1].text  # type: ignore[union-attr]
    assert text == "Chat sunshine."
    assert native.calls == 1 and chat.calls == 1
    sent = chat.requests[-1]
    assert sent.path == "/v1/chat/completions"  # translated for the chat entry
    assert sent.json["model"] == "m2"
    assert sent.json["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [t["function"]["name"] for t in sent.json["tools"]] == ["get_weather"]
    assert "thinking" not in sent.json and "system" not in sent.json
    # The 429 cools the native entry: the next request skips it without a call.
    async with client(p) as sdk:
        raw = await sdk.messages.with_raw_response.create(**REQUEST)
    assert raw.headers["x-429chain-skipped"] == "1"
    assert native.calls == 1


async def test_a_chat_429_falls_through_to_the_native_entry(mocks, proxy) -> None:
    native, chat, p = await chain_of(mocks, proxy, ["chat", "native"])
    chat.script(Reply(429, error_body(429, "Rate limit exceeded"), {"retry-after": "30"}))
    async with client(p) as sdk:
        message = await sdk.messages.create(**REQUEST)
    assert message.content[0].text == "Native sunshine."  # type: ignore[union-attr]
    assert chat.calls == 1 and native.calls == 1
    assert native.requests[-1].json == {**REQUEST, "model": "claude-x"}


async def test_a_native_529_falls_through_like_a_503(mocks, proxy) -> None:
    native, chat, p = await chain_of(mocks, proxy, ["native", "chat"])
    native.script(Reply(529, anthropic_error(529, "Overloaded")))
    async with client(p) as sdk:
        message = await sdk.messages.create(**REQUEST)
    assert message.content[-1].text == "Chat sunshine."  # type: ignore[union-attr]
    assert native.calls == 1 and chat.calls == 1


async def test_a_native_400_is_the_clients_error_in_anthropics_envelope(mocks, proxy) -> None:
    native, chat, p = await chain_of(mocks, proxy, ["native", "chat"])
    native.script(Reply(400, anthropic_error(400, "messages.0.content: Field required")))
    async with client(p) as sdk:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.messages.create(**REQUEST)
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == "messages.0.content: Field required"
    assert chat.calls == 0


async def test_a_native_error_event_before_message_start_falls_through(mocks, proxy) -> None:
    native, chat, p = await chain_of(mocks, proxy, ["native", "chat"])
    overloaded = anthropic_error(529, "Overloaded")
    native.script(Stream([b"event: error\ndata: " + _json(overloaded) + b"\n\n"]))
    async with client(p) as sdk, sdk.messages.stream(**REQUEST) as s:
        text = "".join([t async for t in s.text_stream])
    assert text == "Chat sunshine."
    assert native.calls == 1 and chat.calls == 1


async def test_a_native_error_event_after_message_start_reaches_the_client(mocks, proxy) -> None:
    native, chat, p = await chain_of(mocks, proxy, ["native", "chat"])
    events: list[Any] = message_events("One two three.", "claude-x")[:4]
    events.append(anthropic_error(529, "Overloaded mid-stream"))  # framed as `event: error`
    native.script(Stream(events))
    async with client(p) as sdk:
        with pytest.raises(anthropic.APIStatusError, match="Overloaded mid-stream"):
            await read_stream(sdk)
    assert chat.calls == 0  # committed: no fall-through after the client saw events


async def test_a_plain_chat_request_skips_the_messages_only_entry(mocks, proxy) -> None:
    native, chat, p = await chain_of(mocks, proxy, ["native", "chat"])
    raw = await p.client().chat.completions.with_raw_response.create(
        model="default", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().choices[0].message.content == "Chat sunshine."
    assert raw.headers["x-429chain-skipped"] == "1"
    assert native.calls == 0 and chat.calls == 1


async def test_anthropic_rate_limit_headers_teach_the_tracker(mocks, proxy) -> None:
    _, _, p = await chain_of(mocks, proxy, ["native", "chat"], limits=Budget(rpm=50, tpm=8000))
    async with client(p) as sdk:
        await sdk.messages.create(**REQUEST)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{p.url}/v1/ratelimits", headers=p.auth) as response,
    ):
        report = {r["entry"]: r for r in (await response.json())["ratelimits"]}
    learned = report["native/claude-x"]["learned"]
    assert learned["requests/minute"]["remaining"] == 49
    assert learned["requests/minute"]["limit"] == 50
    assert learned["tokens/minute"]["limit"] == 8000
    assert learned["tokens/minute"]["remaining"] < 8000


async def test_the_request_log_has_the_native_usage(mocks, proxy) -> None:
    native, _, p = await chain_of(mocks, proxy, ["native", "chat"])
    native.script(Stream(message_events("Hi.", "claude-x", (40, 7))))
    async with client(p) as sdk, sdk.messages.stream(**REQUEST) as s:
        await s.get_final_message()
    rows = await p.logged()
    assert rows[0]["endpoint"] == "/v1/messages" and rows[0]["provider_id"] == "native"
    assert rows[0]["outcome"] == "success"
    assert rows[0]["prompt_tokens"] == 40 and rows[0]["completion_tokens"] == 7
    assert rows[0]["tokens_estimated"] is False


async def read_stream(sdk: anthropic.AsyncAnthropic) -> None:
    async with sdk.messages.stream(**REQUEST) as stream:
        async for _ in stream:
            pass


def _json(value: Any) -> bytes:
    return orjson.dumps(value)
