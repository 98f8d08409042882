"""`/v1/responses` end to end: the `openai` SDK's Responses client -> the proxy -> mock chat."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import openai
import pytest

from chain429.testing import Pause, Reply, Stream, chunk, completion, usage_chunk
from tests.e2e.conftest import PROXY_KEY, make_config, too_many, two_entries

pytestmark = pytest.mark.asyncio

WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def tool_call(call_id: str, arguments: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }


TEXTS = ("Sunny in Paris.", "From b.")  # what a and b answer


async def test_a_response_is_translated_to_chat_and_back(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    raw = await p.client().responses.with_raw_response.create(
        model="default",
        instructions="Be brief.",
        input="Weather in Paris?",
        max_output_tokens=80,
        temperature=0.1,
    )
    response = raw.parse()
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == "Sunny in Paris."
    assert response.usage is not None and response.usage.output_tokens > 0
    assert raw.headers["x-429chain-provider"] == "a"
    sent = a.requests[-1].json
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    assert sent["max_tokens"] == 80 and sent["model"] == "m1"


async def test_a_tool_call_its_output_and_the_answer_over_previous_response_id(
    mocks, proxy
) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    a.script(
        Reply(body=completion(None, tool_calls=[tool_call("call_1", '{"city":"Paris"}')])),
        Reply(body=completion("It is sunny.")),
    )
    sdk = p.client()
    first = await sdk.responses.create(
        model="default", input="Weather in Paris?", tools=[WEATHER_TOOL]
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather" and calls[0].call_id == "call_1"
    assert calls[0].arguments == '{"city":"Paris"}'
    final = await sdk.responses.create(
        model="default",
        previous_response_id=first.id,
        tools=[WEATHER_TOOL],
        input=[{"type": "function_call_output", "call_id": "call_1", "output": "22C"}],
    )
    assert final.output_text == "It is sunny."
    assert final.previous_response_id == first.id
    sent = a.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[0]["content"] == "Weather in Paris?"
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "22C"}


def tool_stream() -> Stream:
    return Stream(
        [
            chunk(role="assistant", content=""),
            chunk("Let me "),
            chunk("check."),
            chunk(tool_calls=[{"index": 0, **tool_call("call_9", "")}]),
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
    async with p.client().responses.stream(
        model="default", input="Weather in Paris?", tools=[WEATHER_TOOL]
    ) as stream:
        async for event in stream:
            types.append(event.type)
        response = await stream.get_final_response()
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["message", "function_call"]
    assert response.output_text == "Let me check."
    call = response.output[1]
    assert call.type == "function_call" and call.arguments == '{"city": "Paris"}'
    assert response.usage is not None and response.usage.output_tokens == 12
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    for wanted in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ):
        assert wanted in types


async def test_a_streamed_answer_can_be_continued_at_once(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    sdk = p.client()
    stream = await sdk.responses.create(model="default", input="Hi", stream=True)
    completed = [event async for event in stream if event.type == "response.completed"]
    follow = await sdk.responses.create(
        model="default", input="And tomorrow?", previous_response_id=completed[0].response.id
    )
    assert follow.output_text == "Sunny in Paris."
    sent = a.requests[-1].json["messages"]
    assert sent == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Sunny in Paris."},
        {"role": "user", "content": "And tomorrow?"},
    ]


async def test_the_sync_client_streams_and_not(mocks, proxy) -> None:
    _, _, p = await two_entries(mocks, proxy, texts=TEXTS)

    def talk() -> tuple[str, str]:
        with openai.OpenAI(base_url=f"{p.url}/v1", api_key=PROXY_KEY, max_retries=0) as sdk:
            whole = sdk.responses.create(model="default", input="Hi")
            with sdk.responses.stream(model="default", input="Hi") as stream:
                streamed = stream.get_final_response()
        return whole.output_text, streamed.output_text

    assert await asyncio.to_thread(talk) == ("Sunny in Paris.", "Sunny in Paris.")


async def test_the_sync_client_streams_a_tool_call_its_output_and_the_answer(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    a.script(tool_stream(), Stream([chunk("It is "), chunk("22C."), chunk(finish_reason="stop")]))

    def agent_turns() -> str:
        with openai.OpenAI(base_url=f"{p.url}/v1", api_key=PROXY_KEY, max_retries=0) as sdk:
            with sdk.responses.stream(
                model="default", input="Weather in Paris?", tools=[WEATHER_TOOL]
            ) as stream:
                first = stream.get_final_response()
            call = first.output[-1]
            assert call.type == "function_call" and call.name == "get_weather"
            output: Any = {"type": "function_call_output", "call_id": call.call_id, "output": "22C"}
            with sdk.responses.stream(
                model="default", previous_response_id=first.id, input=[output], tools=[WEATHER_TOOL]
            ) as stream:
                return stream.get_final_response().output_text

    assert await asyncio.to_thread(agent_turns) == "It is 22C."
    sent = a.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[2] == {"role": "tool", "tool_call_id": "call_9", "content": "22C"}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_429_on_the_first_entry_falls_through(mocks, proxy, stream: bool) -> None:
    a, b, p = await two_entries(mocks, proxy, texts=TEXTS)
    a.script(too_many("30"))
    sdk = p.client()
    if stream:
        async with sdk.responses.stream(model="default", input="Hi") as s:
            text = (await s.get_final_response()).output_text
    else:
        text = (await sdk.responses.create(model="default", input="Hi")).output_text
    assert text == "From b."
    assert a.calls == 1 and b.calls == 1


async def test_stored_responses_can_be_read_and_deleted(mocks, proxy) -> None:
    _, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    sdk = p.client()
    made = await sdk.responses.create(model="default", input="Hi")
    again = await sdk.responses.retrieve(made.id)
    assert again.id == made.id and again.output_text == made.output_text
    await sdk.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError) as gone:
        await sdk.responses.create(model="default", input="Hi", previous_response_id=made.id)
    assert gone.value.body["param"] == "previous_response_id"  # type: ignore[index]


async def test_store_false_keeps_nothing(mocks, proxy) -> None:
    _, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    sdk = p.client()
    made = await sdk.responses.create(model="default", input="Hi", store=False)
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.create(model="default", input="Hi", previous_response_id=made.id)


async def test_a_stored_response_is_only_for_the_key_that_made_it(mocks, proxy) -> None:
    a, b = await mocks(), await mocks()
    config = make_config({"a": a, "b": b}, {"default": ["a/m1"]})
    config["settings"]["api_keys"] = [PROXY_KEY, "sk-proxy-other-key-0002"]
    p = await proxy(config)
    made = await p.client().responses.create(model="default", input="Hi")
    other = openai.AsyncOpenAI(
        base_url=f"{p.url}/v1", api_key="sk-proxy-other-key-0002", max_retries=0
    )
    p.clients.append(other)
    with pytest.raises(openai.NotFoundError):
        await other.responses.retrieve(made.id)


async def test_a_stored_response_expires(mocks, proxy) -> None:
    now = [1_000_000.0]
    a = await mocks()
    config = make_config({"a": a}, {"default": ["a/m1"]}, {"response_store_ttl_ms": 60_000})
    p = await proxy(config, clock=lambda: now[0])
    sdk = p.client()
    made = await sdk.responses.create(model="default", input="Hi")
    now[0] += 59
    await sdk.responses.retrieve(made.id)
    now[0] += 2
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(made.id)


async def test_bad_input_is_a_clear_400(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    async with aiohttp.ClientSession(headers=p.auth) as http:
        for body in ({"model": "default"}, {"model": "default", "input": 7}):
            async with http.post(f"{p.url}/v1/responses", json=body) as response:
                assert response.status == 400
                error = (await response.json())["error"]
            assert error["param"] and error["message"]
    assert a.calls == 0


async def test_hosted_tools_are_dropped_and_function_tools_kept(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    await p.client().responses.create(
        model="default",
        input="Hi",
        tools=[{"type": "web_search"}, WEATHER_TOOL],  # as Codex CLI sends them
        tool_choice="auto",
    )
    sent = a.requests[-1].json
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]


async def test_the_request_log_records_the_endpoint(mocks, proxy) -> None:
    _, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    await p.client().responses.create(model="default", input="Hi")
    rows = await p.logged()
    assert rows[0]["endpoint"] == "/v1/responses" and rows[0]["outcome"] == "success"


async def test_a_stream_past_max_response_bytes_ends_failed_and_is_not_kept(mocks, proxy) -> None:
    """What the Response keeps is capped: past max_response_bytes the stream ends with
    response.failed at once (the upstream's pause of a minute is never waited for), the
    Response is not stored, and the log says the stream failed."""
    a = await mocks()
    a.script(Stream([chunk(role="assistant", content="x"), *[chunk("y" * 1000)] * 50, Pause(60)]))
    config = make_config({"a": a}, {"default": ["a/m1"]}, {"max_response_bytes": 20_000})
    p = await proxy(config)
    sdk = p.client()

    async def read() -> list[Any]:
        stream = await sdk.responses.create(model="default", input="Hi", stream=True)
        return [event async for event in stream]

    got = await asyncio.wait_for(read(), 30)
    assert got[-1].type == "response.failed"
    assert "20000-byte cap" in got[-1].response.error.message
    deltas = "".join(e.delta for e in got if e.type == "response.output_text.delta")
    assert 10_000 < len(deltas) <= 20_000  # all it kept, and it went out as it came
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(got[-1].response.id)
    rows = await p.logged()
    assert rows[0]["outcome"] == "stream_failed"


async def test_a_body_too_deep_to_forward_is_a_400_not_a_500(mocks, proxy) -> None:
    a, _, p = await two_entries(mocks, proxy, texts=TEXTS)
    deep: Any = {}
    for _ in range(300):  # orjson reads 1024 levels but writes only 254
        deep = {"a": deep}
    tools = [{"type": "function", "name": "t", "parameters": deep}]
    body = json.dumps({"model": "default", "input": "Hi", "tools": tools})
    async with (
        aiohttp.ClientSession(headers=p.auth) as http,
        http.post(f"{p.url}/v1/responses", data=body) as response,
    ):
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["code"] == "invalid_json"
    assert a.calls == 0
