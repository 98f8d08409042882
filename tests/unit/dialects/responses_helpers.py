"""Shared by the Responses dialect tests: chat chunks in, our events out, checked by the SDK."""

from __future__ import annotations

from typing import Any

import orjson
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from chain429.dialects.responses import ResponsesStream
from chain429.providers.sse import SSEParser

EVENT = TypeAdapter[Any](ResponseStreamEvent)
RESPONSE_ID = "resp_0123abcd"
CREATED_AT = 1_700_000_000
DONE = b"data: [DONE]\n\n"


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    """One OpenAI chat.completion.chunk event."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "upstream-model",
        "choices": choices,
        **extra,
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def text(piece: str, finish: str | None = None, **extra: Any) -> bytes:
    return chunk({"content": piece}, finish, **extra)


def call_start(index: int, call_id: str, name: str, arguments: str = "") -> bytes:
    function = {"name": name, "arguments": arguments}
    return chunk(
        {"tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]}
    )


def call_args(index: int, arguments: str) -> bytes:
    return chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})


def usage(prompt: int, completion: int, **extra: Any) -> bytes:
    return chunk(
        None,
        usage={
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            **extra,
        },
    )


def relay_error(message: str) -> bytes:
    """What our relay sends when the upstream fails after the stream started."""
    body = {"error": {"message": message, "type": "upstream_error", "code": "timeout"}}
    return b"data: " + orjson.dumps(body) + b"\n\n"


def new_stream(**request: Any) -> ResponsesStream:
    body = {"model": "my-chain", "input": "hi", "stream": True, **request}
    return ResponsesStream(body, response_id=RESPONSE_ID, created_at=CREATED_AT)


def run(stream: ResponsesStream, *feeds: bytes, end: bool = True) -> bytes:
    out = stream.begin()
    for raw in feeds:
        out += stream.feed(raw)
    if end:
        out += stream.end()
    return out


def events(raw: bytes) -> list[dict[str, Any]]:
    """Parse our SSE bytes, checking the framing, the numbering and every event's schema."""
    parsed = []
    for event in SSEParser().feed(raw):
        assert event.data is not None
        data = orjson.loads(event.data)
        assert event.event == data["type"]  # the `event:` line names the data's type
        EVENT.validate_python(data)
        parsed.append(data)
    assert [e["sequence_number"] for e in parsed] == list(range(len(parsed)))
    for data in parsed:
        if "response" in data:
            Response.model_validate(data["response"])
    return parsed


def kinds(parsed: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in parsed]
