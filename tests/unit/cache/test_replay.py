"""A stream folds into a whole answer, and an answer unfolds into a stream like a real one."""

from __future__ import annotations

import orjson

from chain429.cache.replay import DONE, assemble, synthesize
from chain429.testing import chunk, usage_chunk


def sse(*bodies: object) -> bytes:
    return b"".join(b"data: " + orjson.dumps(b) + b"\n\n" for b in bodies) + DONE


def test_a_chat_stream_assembles_text_tool_calls_and_usage_and_replays_the_same() -> None:
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
    more = {"index": 0, "function": {"arguments": '{"a":1}'}}
    stream = sse(
        chunk(role="assistant", content=""),
        chunk("Hello"),
        chunk(" world"),
        chunk(tool_calls=[call]),
        chunk(tool_calls=[more]),
        chunk(finish_reason="tool_calls"),
    )
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    answer = assemble("chat", stream, usage)
    assert answer is not None
    message = answer["choices"][0]["message"]
    assert answer["object"] == "chat.completion"
    assert message["content"] == "Hello world"
    assert message["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    assert answer["usage"] == usage
    replayed = synthesize("chat", answer, include_usage=True)
    assert replayed[-1] == DONE
    assert len(replayed) > 4  # chunked, not one blob
    again = assemble("chat", b"".join(replayed), usage)
    assert again == answer
    assert b'"usage"' in replayed[-2]
    assert all(b'"usage"' not in part for part in synthesize("chat", answer, False))


def test_a_legacy_completion_stream_round_trips() -> None:
    head = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m"}
    stream = sse(
        head | {"choices": [{"index": 0, "text": "One", "finish_reason": None}]},
        head | {"choices": [{"index": 0, "text": " two", "finish_reason": "stop"}]},
        usage_chunk(1, 2),
    )
    answer = assemble("completions", stream, None)
    assert answer is not None and answer["choices"][0]["text"] == "One two"
    assert (
        assemble("completions", b"".join(synthesize("completions", answer, False)), None) == answer
    )


def test_garbage_does_not_assemble() -> None:
    assert assemble("chat", b"data: {nope\n\n", None) is None
    assert assemble("chat", DONE, None) is None
