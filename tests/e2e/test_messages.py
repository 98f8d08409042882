"""`/v1/messages` end to end: the official `anthropic` SDK -> the proxy -> mock chat providers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import anthropic
import pytest

from chain429.testing import Reply, Stream, chunk, completion, usage_chunk
from tests.e2e.conftest import PROXY_KEY, Proxy, too_many, two_entries

pytestmark = pytest.mark.asyncio

WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def client(p: Proxy, key: str = PROXY_KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=p.url, api_key=key, max_retries=0)


TEXTS = ("Sunny in Paris.", "From b.")  # what a and b answer


async def test_a_message_is_translated_to_chat_and_back(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    async with client(p) as sdk:
        raw = await sdk.messages.with_raw_response.create(
            model="default",
            max_tokens=100,
            system="Be brief.",
            messages=ASK,
            temperature=0.2,
            stop_sequences=["END"],
            metadata={"user_id": "u-7"},
        )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "default"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Sunny in Paris."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert raw.headers["x-429chain-provider"] == "a"
    sent = a.requests[-1].json
    assert a.requests[-1].path == "/v1/chat/completions"
    assert sent["model"] == "m1"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    assert sent["max_tokens"] == 100 and sent["stop"] == ["END"] and sent["user"] == "u-7"


async def test_a_tool_call_its_result_and_the_final_answer(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    a.script(
        Reply(
            body=completion(
                None, tool_calls=[tool_call("call_1", "get_weather", '{"city":"Paris"}')]
            )
        ),
        Reply(body=completion("It is sunny.", usage=(40, 5))),
    )
    async with client(p) as sdk:
        first = await sdk.messages.create(
            model="default", max_tokens=100, messages=ASK, tools=[WEATHER_TOOL]
        )
        assert first.stop_reason == "tool_use"
        use = first.content[-1]
        assert use.type == "tool_use" and use.name == "get_weather"
        assert use.input == {"city": "Paris"} and use.id == "call_1"
        final = await sdk.messages.create(
            model="default",
            max_tokens=100,
            tools=[WEATHER_TOOL],
            messages=[
                *ASK,
                {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "22C"}],
                },
            ],
        )
    assert final.content[0].text == "It is sunny."  # type: ignore[union-attr]
    assert final.usage.input_tokens == 40 and final.usage.output_tokens == 5
    sent = a.requests[-1].json
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool"]
    assert sent["messages"][1]["tool_calls"][0]["id"] == "call_1"
    assert sent["messages"][2]["tool_call_id"] == "call_1"
    assert "22C" in sent["messages"][2]["content"]


def tool_stream() -> Stream:
    """Text, then a tool call whose arguments come in pieces, then usage."""
    return Stream(
        [
            chunk(role="assistant", content=""),
            chunk("Let me "),
            chunk("check."),
            chunk(tool_calls=[{"index": 0, **tool_call("call_9", "get_weather", "")}]),
            chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"ci'}}]),
            chunk(tool_calls=[{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]),
            chunk(finish_reason="tool_calls"),
            usage_chunk(30, 12),
        ]
    )


async def test_a_stream_with_text_and_tool_arguments(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    a.script(tool_stream())
    types = []
    async with (
        client(p) as sdk,
        sdk.messages.stream(
            model="default", max_tokens=100, messages=ASK, tools=[WEATHER_TOOL]
        ) as stream,
    ):
        async for event in stream:
            types.append(event.type)
        message = await stream.get_final_message()
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "Let me check."  # type: ignore[union-attr]
    assert message.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == 12
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert "input_json" in types  # the SDK's event for input_json_delta
    assert a.requests[-1].json["stream_options"] == {"include_usage": True}


async def test_thinking_blocks_only_when_asked(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    reasoning = Stream(
        [chunk(reasoning_content="Hmm, Paris."), chunk("Sunny."), chunk(finish_reason="stop")]
    )
    a.script(reasoning, reasoning)
    async with client(p) as sdk:
        thought = await sdk.messages.create(
            model="default",
            max_tokens=2000,
            messages=ASK,
            stream=True,
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
        blocks = [e.content_block.type async for e in thought if e.type == "content_block_start"]
        plain = await sdk.messages.create(
            model="default", max_tokens=100, messages=ASK, stream=True
        )
        plain_blocks = [
            e.content_block.type async for e in plain if e.type == "content_block_start"
        ]
    assert blocks == ["thinking", "text"]
    assert plain_blocks == ["text"]


async def test_the_sync_client_streams_and_not(mocks, proxy) -> None:
    _, _, p = await two_entries(mocks, proxy, texts=TEXTS)

    def talk() -> tuple[str, str]:
        with anthropic.Anthropic(base_url=p.url, api_key=PROXY_KEY, max_retries=0) as sdk:
            whole = sdk.messages.create(model="default", max_tokens=50, messages=ASK)
            with sdk.messages.stream(model="default", max_tokens=50, messages=ASK) as stream:
                streamed = "".join(stream.text_stream)
        return whole.content[0].text, streamed  # type: ignore[union-attr]

    assert await asyncio.to_thread(talk) == ("Sunny in Paris.", "Sunny in Paris.")


async def test_the_sync_client_streams_a_tool_call_its_result_and_the_answer(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    a.script(tool_stream(), Stream([chunk("It is "), chunk("22C."), chunk(finish_reason="stop")]))

    def agent_turns() -> str:
        with anthropic.Anthropic(base_url=p.url, api_key=PROXY_KEY, max_retries=0) as sdk:
            ask: Any = dict(model="default", max_tokens=100, tools=[WEATHER_TOOL])
            with sdk.messages.stream(messages=ASK, **ask) as stream:
                first = stream.get_final_message()
            use = first.content[-1]
            assert use.type == "tool_use" and use.input == {"city": "Paris"}
            result: Any = {"type": "tool_result", "tool_use_id": use.id, "content": "22C"}
            history: Any = [
                *ASK,
                {"role": "assistant", "content": first.content},
                {"role": "user", "content": [result]},
            ]
            with sdk.messages.stream(messages=history, **ask) as stream:
                return "".join(stream.text_stream)

    assert await asyncio.to_thread(agent_turns) == "It is 22C."
    sent = a.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_429_on_the_first_entry_falls_through(mocks, proxy, stream: bool) -> None:
    a, b, p = await two_entries(mocks, proxy, texts=TEXTS)
    a.script(too_many("30"))
    async with client(p) as sdk:
        if stream:
            async with sdk.messages.stream(model="default", max_tokens=50, messages=ASK) as s:
                text = "".join([t async for t in s.text_stream])
        else:
            message = await sdk.messages.create(model="default", max_tokens=50, messages=ASK)
            text = message.content[0].text  # type: ignore[union-attr]
    assert text == "From b."
    assert a.calls == 1 and b.calls == 1


async def test_all_exhausted_is_an_anthropic_rate_limit_error_with_retry_after(
    mocks, proxy
) -> None:
    a, b, p = await two_entries(mocks, proxy, texts=TEXTS)
    a.script(too_many("30"))
    b.script(too_many("30"))
    async with client(p) as sdk:
        with pytest.raises(anthropic.RateLimitError) as caught:
            await sdk.messages.create(model="default", max_tokens=50, messages=ASK)
    assert caught.value.status_code == 429
    assert int(caught.value.response.headers["retry-after"]) > 0
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"


async def test_errors_use_anthropics_envelope(mocks, proxy) -> None:
    _, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    async with client(p, "sk-wrong") as sdk:
        with pytest.raises(anthropic.AuthenticationError) as denied:
            await sdk.messages.create(model="default", max_tokens=50, messages=ASK)
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    async with aiohttp.ClientSession(headers={"x-api-key": PROXY_KEY}) as http:
        for body in (b"{not json", json.dumps({"model": "default", "messages": ASK}).encode()):
            async with http.post(f"{p.url}/v1/messages", data=body) as response:
                assert response.status == 400
                error = await response.json()
            assert error["type"] == "error"
            assert error["error"]["type"] == "invalid_request_error"
            assert error["error"]["message"]
        async with http.get(f"{p.url}/v1/messages") as response:
            assert response.status == 405
            assert (await response.json())["type"] == "error"


async def test_bearer_auth_and_anthropic_headers_are_accepted(mocks, proxy) -> None:
    _, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    headers = {
        "Authorization": f"Bearer {PROXY_KEY}",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "interleaved-thinking-2025-05-14",
    }
    body = {"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": ASK}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{p.url}/v1/messages", json=body, headers=headers) as response,
    ):
        assert response.status == 200
        message = await response.json()
    # An Anthropic model name that names no chain goes to the default chain, as on chat.
    assert message["model"] == "claude-sonnet-4-5"
    assert response.headers["X-429chain-Chain"] == "default"


async def test_count_tokens_estimates_without_an_upstream_call(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    async with client(p) as sdk:
        short = await sdk.messages.count_tokens(model="default", messages=ASK)
        long = await sdk.messages.count_tokens(
            model="default",
            system="x" * 4000,
            messages=ASK,
            tools=[WEATHER_TOOL],
        )
    assert 0 < short.input_tokens < long.input_tokens
    assert 1000 <= long.input_tokens <= 1200  # about 4 bytes a token, as the tracker counts
    assert a.calls == 0


async def test_the_request_log_records_the_endpoint(mocks, proxy) -> None:
    _, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    async with client(p) as sdk:
        await sdk.messages.create(model="default", max_tokens=50, messages=ASK)
    rows = await p.logged()
    assert rows[0]["endpoint"] == "/v1/messages"
    assert rows[0]["provider_id"] == "a" and rows[0]["outcome"] == "success"
    assert rows[0]["prompt_tokens"] > 0 and rows[0]["tokens_estimated"] is False


async def test_a_body_too_deep_to_forward_is_a_400_not_a_500(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    deep: Any = {}
    for _ in range(300):  # orjson reads 1024 levels but writes only 254
        deep = {"a": deep}
    tools = [{"name": "t", "input_schema": deep}]
    async with aiohttp.ClientSession(headers={"x-api-key": PROXY_KEY}) as http:
        for path, body in (
            (
                "/v1/messages",
                {"model": "default", "max_tokens": 5, "messages": ASK, "tools": tools},
            ),
            ("/v1/messages/count_tokens", {"model": "default", "messages": ASK, "tools": tools}),
        ):
            async with http.post(f"{p.url}{path}", data=json.dumps(body)) as response:
                assert response.status == 400, path
                error = await response.json()
            assert error["error"]["type"] == "invalid_request_error"
    assert a.calls == 0
