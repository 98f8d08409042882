"""The openai SDK's own Responses client reads our bytes: its stream accumulation rebuilds the
final Response, and it parses from_chat's object (no sockets: a mock transport of httpx2, the
HTTP client this SDK is built on)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import openai
import orjson
import pytest

from chain429.dialects.responses import from_chat
from tests.unit.dialects.responses_helpers import (
    CREATED_AT,
    DONE,
    RESPONSE_ID,
    call_args,
    call_start,
    chunk,
    new_stream,
    run,
    text,
    usage,
)

TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False}
]


@pytest.fixture
def reply() -> Iterator[tuple[list[bytes], openai.OpenAI]]:
    """A client whose every request is answered with the body put in the list."""
    body: list[bytes] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        streaming = body[0].startswith(b"event:")
        kind = "text/event-stream" if streaming else "application/json"
        return httpx2.Response(200, content=body[0], headers={"content-type": kind})

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        client = openai.OpenAI(
            api_key="k", base_url="http://proxy.test/v1", http_client=http, max_retries=0
        )
        yield body, client


def test_sdk_stream_accumulates_our_events(reply: tuple[list[bytes], openai.OpenAI]) -> None:
    body, client = reply
    body.append(
        run(
            new_stream(tools=TOOLS),
            text("Checking "),
            text("now."),
            call_start(0, "call_A", "get_weather"),
            call_args(0, '{"city":'),
            call_args(0, '"Paris"}'),
            chunk({}, "tool_calls"),
            usage(12, 8),
            DONE,
        )
    )
    deltas = []
    with client.responses.stream(model="my-chain", input="hi", tools=TOOLS) as stream:  # type: ignore[arg-type]
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.snapshot)
        final = stream.get_final_response()
    assert deltas == ["Checking ", "Checking now."]
    assert final.id == RESPONSE_ID
    assert final.status == "completed"
    assert final.output_text == "Checking now."
    call = final.output[1]
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == (
        "call_A",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert final.usage is not None
    assert final.usage.total_tokens == 20


def test_sdk_iterates_a_failed_stream(reply: tuple[list[bytes], openai.OpenAI]) -> None:
    body, client = reply
    body.append(run(new_stream(), text("par"), end=True))
    seen = [e.type for e in client.responses.create(model="my-chain", input="hi", stream=True)]
    assert seen[-1] == "response.failed"


def test_sdk_parses_from_chat(reply: tuple[list[bytes], openai.OpenAI]) -> None:
    body, client = reply
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "upstream",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
    }
    request = {"model": "my-chain", "input": "hi"}
    response = from_chat(answer, request, response_id=RESPONSE_ID, created_at=CREATED_AT)
    body.append(orjson.dumps(response))
    got = client.responses.create(model="my-chain", input="hi")
    assert got.output_text == "Hello there."
    assert got.status == "completed"
    assert got.model == "my-chain"
