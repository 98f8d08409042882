"""OpenAI chat streams -> Anthropic Messages event streams.

The expected event lists follow Anthropic's published streaming reference: `message_start`,
`ping`, then for each content block `content_block_start`, its deltas and
`content_block_stop` (indexes 0, 1, ...), then `message_delta` and `message_stop`. Every
event is also validated with the SDK's own `RawMessageStreamEvent` union, and a few streams
are read by the SDK's client itself to prove the message it assembles.
"""

from __future__ import annotations

import random
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from anthropic.types import RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter

from chain429.dialects.anthropic import AnthropicStream
from chain429.providers.sse import SSEParser

STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
DONE = b"data: [DONE]\n\n"

MESSAGE_START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    },
}
PING = {"type": "ping"}
OPENING = [MESSAGE_START, PING]


# -- building OpenAI chunks -------------------------------------------------------------------


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> bytes:
    data = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "llama-3.3-70b",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(data) + b"\n\n"


def text(content: str) -> bytes:
    return chunk({"content": content})


def reasoning(content: str, field: str = "reasoning_content") -> bytes:
    return chunk({field: content})


def call(
    index: int | None,
    arguments: str = "",
    *,
    call_id: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    fragment: dict[str, Any] = {"function": {"arguments": arguments}}
    if index is not None:
        fragment["index"] = index
    if call_id is not None:
        fragment["id"] = call_id
        fragment["type"] = "function"
    if name is not None:
        fragment["function"]["name"] = name
    return fragment


def calls(*fragments: dict[str, Any]) -> bytes:
    return chunk({"tool_calls": list(fragments)})


def usage(prompt: int, completion: int) -> bytes:
    data = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "llama-3.3-70b",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    return b"data: " + orjson.dumps(data) + b"\n\n"


def relay_error(
    code: str, message: str = "The upstream stream failed after it started: x"
) -> bytes:
    body = {"error": {"message": message, "type": "upstream_error", "code": code, "param": None}}
    return b"data: " + orjson.dumps(body) + b"\n\n"


# -- expected Anthropic events ------------------------------------------------------------------


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def text_start(index: int) -> dict[str, Any]:
    return block_start(index, {"type": "text", "text": ""})


def thinking_start(index: int) -> dict[str, Any]:
    return block_start(index, {"type": "thinking", "thinking": "", "signature": ""})


def tool_start(index: int, call_id: str, name: str) -> dict[str, Any]:
    return block_start(index, {"type": "tool_use", "id": call_id, "name": name, "input": {}})


def delta(index: int, kind: str, **fields: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}


def text_delta(index: int, value: str) -> dict[str, Any]:
    return delta(index, "text_delta", text=value)


def thinking_delta(index: int, value: str) -> dict[str, Any]:
    return delta(index, "thinking_delta", thinking=value)


def json_delta(index: int, value: str) -> dict[str, Any]:
    return delta(index, "input_json_delta", partial_json=value)


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def closing(reason: str, output_tokens: int = 0, input_tokens: int | None = None) -> list[Any]:
    counts: dict[str, int] = {}
    if input_tokens is not None:
        counts["input_tokens"] = input_tokens
    counts["output_tokens"] = output_tokens
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": counts,
        },
        {"type": "message_stop"},
    ]


# -- running a stream ---------------------------------------------------------------------------


def new_stream(*, thinking: bool = False) -> AnthropicStream:
    return AnthropicStream(
        model="claude-sonnet-4-5", message_id="msg_1", thinking=thinking, input_tokens=10
    )


def raw(*chunks: bytes, thinking: bool = False, end: bool = True) -> bytes:
    stream = new_stream(thinking=thinking)
    out = stream.begin()
    for piece in chunks:
        out += stream.feed(piece)
    if end:
        out += stream.end()
    return out


def parse(out: bytes) -> list[dict[str, Any]]:
    """The events' data, each checked against its `event:` name and the SDK's types."""
    parser = SSEParser()
    events = parser.feed(out)
    assert parser.buffered == 0, "output ends mid-event"
    datas = []
    for event in events:
        assert event.data is not None
        data = orjson.loads(event.data)
        assert event.event == data["type"]
        if data["type"] == "error":
            ErrorResponse.model_validate(data)
        elif data["type"] != "ping":
            STREAM_EVENT.validate_python(data)
        datas.append(data)
    return datas


def run(*chunks: bytes, thinking: bool = False) -> list[dict[str, Any]]:
    return parse(raw(*chunks, thinking=thinking))


def assert_well_formed(events: list[dict[str, Any]]) -> None:
    """Anthropic's ordering rules: one block open at a time, indexes in order, one ending."""
    assert events[:2] == OPENING
    open_index: int | None = None
    next_index = 0
    for event in events[2:-2]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None
            assert event["index"] == next_index
            open_index, next_index = next_index, next_index + 1
        elif kind == "content_block_delta":
            assert event["index"] == open_index
        else:
            assert kind == "content_block_stop"
            assert event["index"] == open_index
            open_index = None
    assert open_index is None
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]


# -- golden streams -----------------------------------------------------------------------------


PLAIN = [
    chunk({"role": "assistant", "content": ""}),
    text("Hello"),
    text(", world"),
    chunk(finish="stop"),
    usage(12, 3),
    DONE,
]


def test_plain_text() -> None:
    assert run(*PLAIN) == [
        *OPENING,
        text_start(0),
        text_delta(0, "Hello"),
        text_delta(0, ", world"),
        block_stop(0),
        *closing("end_turn", output_tokens=3, input_tokens=12),
    ]


def test_usage_chunk_is_kept_for_the_log() -> None:
    stream = new_stream()
    stream.begin()
    stream.feed(b"".join(PLAIN))
    assert stream.usage == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def test_without_usage_output_tokens_are_zero() -> None:
    events = run(text("Hi"), chunk(finish="stop"), DONE)
    assert events[-2:] == closing("end_turn")


def test_text_then_a_tool_call_then_text() -> None:
    events = run(
        text("Let me check."),
        calls(call(0, call_id="call_1", name="get_weather")),
        calls(call(0, '{"city":')),
        calls(call(0, ' "Oslo"}')),
        text("Done."),
        chunk(finish="tool_calls"),
        usage(20, 9),
        DONE,
    )
    assert events == [
        *OPENING,
        text_start(0),
        text_delta(0, "Let me check."),
        block_stop(0),
        tool_start(1, "call_1", "get_weather"),
        json_delta(1, '{"city":'),
        json_delta(1, ' "Oslo"}'),
        block_stop(1),
        text_start(2),
        text_delta(2, "Done."),
        block_stop(2),
        *closing("tool_use", output_tokens=9, input_tokens=20),
    ]


def test_two_sequential_tool_calls() -> None:
    events = run(
        calls(call(0, "", call_id="call_a", name="read")),
        calls(call(0, '{"path": ')),
        calls(call(0, '"a.txt"}')),
        calls(call(1, '{"path": "b.txt"}', call_id="call_b", name="read")),
        chunk(finish="tool_calls"),
        DONE,
    )
    assert events == [
        *OPENING,
        tool_start(0, "call_a", "read"),
        json_delta(0, '{"path": '),
        json_delta(0, '"a.txt"}'),
        block_stop(0),
        tool_start(1, "call_b", "read"),
        json_delta(1, '{"path": "b.txt"}'),
        block_stop(1),
        *closing("tool_use"),
    ]


def test_whole_calls_in_one_delta_are_two_blocks() -> None:
    events = run(
        calls(
            call(0, '{"a": 1}', call_id="c1", name="f"),
            call(1, '{"b": 2}', call_id="c2", name="g"),
        ),
        chunk(finish="tool_calls"),
        DONE,
    )
    assert events[2:-2] == [
        tool_start(0, "c1", "f"),
        json_delta(0, '{"a": 1}'),
        block_stop(0),
        tool_start(1, "c2", "g"),
        json_delta(1, '{"b": 2}'),
        block_stop(1),
    ]


ARGUMENTS = (
    '{"query": "weather in Zürich — 明日", "units": ["metric", "kelvin"], "deep": {"x": [1, null]}}'
)


def tool_stream() -> list[bytes]:
    pieces = [ARGUMENTS[i : i + 3] for i in range(0, len(ARGUMENTS), 3)]
    return [
        chunk({"role": "assistant", "content": None}),
        text("Searching"),
        calls(call(0, "", call_id="call_q", name="search")),
        *(calls(call(0, piece)) for piece in pieces),
        chunk(finish="tool_calls"),
        usage(40, 25),
        DONE,
    ]


def test_arguments_split_across_many_chunks() -> None:
    events = run(*tool_stream())
    assert_well_formed(events)
    fragments = [
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    ]
    assert len(fragments) > 20
    assert "".join(fragments) == ARGUMENTS


@pytest.mark.parametrize("step", [1, 2, 5, 7, 13, 64])
def test_feed_splits_at_any_byte_offset(step: int) -> None:
    whole = b"".join(tool_stream())
    stream = new_stream()
    out = stream.begin()
    for start in range(0, len(whole), step):
        out += stream.feed(whole[start : start + step])
    out += stream.end()
    assert parse(out) == run(*tool_stream())


def test_feed_splits_at_random_offsets_and_crlf() -> None:
    whole = b"".join(tool_stream()).replace(b"\n", b"\r\n")
    rng = random.Random(429)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(whole)), 40))
        pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
        assert parse(raw(*pieces)) == run(*tool_stream())


def test_several_events_in_one_feed() -> None:
    assert parse(raw(b"".join(PLAIN))) == run(*PLAIN)


THINKING = [
    reasoning("The user greets me."),
    reasoning(" Reply kindly."),
    text("Hello!"),
    chunk(finish="stop"),
    DONE,
]


def test_thinking_asked() -> None:
    assert run(*THINKING, thinking=True) == [
        *OPENING,
        thinking_start(0),
        thinking_delta(0, "The user greets me."),
        thinking_delta(0, " Reply kindly."),
        delta(0, "signature_delta", signature=""),
        block_stop(0),
        text_start(1),
        text_delta(1, "Hello!"),
        block_stop(1),
        *closing("end_turn"),
    ]


def test_thinking_not_asked_drops_reasoning() -> None:
    assert run(*THINKING) == [
        *OPENING,
        text_start(0),
        text_delta(0, "Hello!"),
        block_stop(0),
        *closing("end_turn"),
    ]


def test_openrouter_reasoning_field() -> None:
    events = run(reasoning("hmm", field="reasoning"), text("ok"), DONE, thinking=True)
    assert events[2:4] == [thinking_start(0), thinking_delta(0, "hmm")]


def test_thinking_before_a_tool_call_gets_its_signature() -> None:
    events = run(
        reasoning("I need a tool."),
        calls(call(0, "{}", call_id="c", name="ls")),
        chunk(finish="tool_calls"),
        DONE,
        thinking=True,
    )
    assert events[2:-2] == [
        thinking_start(0),
        thinking_delta(0, "I need a tool."),
        delta(0, "signature_delta", signature=""),
        block_stop(0),
        tool_start(1, "c", "ls"),
        json_delta(1, "{}"),
        block_stop(1),
    ]


@pytest.mark.parametrize(
    ("finish", "reason"),
    [("length", "max_tokens"), ("content_filter", "refusal"), (None, "end_turn")],
)
def test_finish_reasons(finish: str | None, reason: str) -> None:
    assert run(text("x"), chunk(finish=finish), DONE)[-2]["delta"]["stop_reason"] == reason


def test_tool_calls_with_finish_stop_say_tool_use() -> None:
    events = run(calls(call(0, "{}", call_id="c", name="ls")), chunk(finish="stop"), DONE)
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


# -- errors and endings -----------------------------------------------------------------------


def test_relay_error_event() -> None:
    stream = new_stream()
    out = stream.begin()
    out += stream.feed(text("Partial") + relay_error("connection_error", "it broke"))
    assert parse(out) == [
        *OPENING,
        text_start(0),
        text_delta(0, "Partial"),
        {"type": "error", "error": {"type": "api_error", "message": "it broke"}},
    ]
    assert stream.feed(text("more") + DONE) == b""
    assert stream.end() == b""


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("rate_limited", "rate_limit_error"),
        ("quota_exhausted", "rate_limit_error"),
        ("timeout", "overloaded_error"),
        ("malformed", "api_error"),
        ("upstream_error", "api_error"),
    ],
)
def test_relay_error_codes(code: str, kind: str) -> None:
    assert run(relay_error(code))[-1]["error"]["type"] == kind


def test_events_after_the_error_in_the_same_feed_are_ignored() -> None:
    events = run(relay_error("timeout") + text("late") + DONE)
    assert [e["type"] for e in events] == ["message_start", "ping", "error"]


def test_end_without_done_after_a_finish_closes_normally() -> None:
    assert run(text("Hi"), chunk(finish="stop")) == [
        *OPENING,
        text_start(0),
        text_delta(0, "Hi"),
        block_stop(0),
        *closing("end_turn"),
    ]


def test_end_without_done_or_finish_is_an_error() -> None:
    assert run(text("Hi")) == [
        *OPENING,
        text_start(0),
        text_delta(0, "Hi"),
        {
            "type": "error",
            "error": {"type": "api_error", "message": "The upstream stream ended early."},
        },
    ]


def test_end_reads_a_last_event_without_its_blank_line() -> None:
    events = parse(raw(text("Hi"), b"data: [DONE]\n"))
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]


def test_malformed_event_is_an_error() -> None:
    assert run(b"data: {not json\n\n")[-1]["type"] == "error"


def test_after_message_stop_everything_is_empty() -> None:
    stream = new_stream()
    stream.begin()
    assert stream.feed(b"".join(PLAIN)).endswith(b'data: {"type":"message_stop"}\n\n')
    assert stream.feed(text("again")) == b""
    assert stream.end() == b""
    assert stream.end() == b""


def test_begin_is_sent_once_even_if_feed_comes_first() -> None:
    stream = new_stream()
    out = stream.feed(text("Hi"))
    assert stream.begin() == b""
    out += stream.feed(DONE)
    assert parse(out)[:2] == OPENING


def test_keepalive_comments_are_ignored() -> None:
    assert run(b": keepalive\n\n", *PLAIN) == run(*PLAIN)


# -- tool call edge cases -----------------------------------------------------------------------


def test_interleaved_calls_are_held_back_until_the_open_one_completes() -> None:
    events = run(
        calls(call(0, '{"a": ', call_id="c1", name="f")),
        calls(call(1, '{"b": ', call_id="c2", name="g")),
        calls(call(0, "1}")),
        calls(call(1, "2}")),
        chunk(finish="tool_calls"),
        DONE,
    )
    assert events[2:-2] == [
        tool_start(0, "c1", "f"),
        json_delta(0, '{"a": '),
        json_delta(0, "1}"),
        block_stop(0),
        tool_start(1, "c2", "g"),
        json_delta(1, '{"b": '),
        json_delta(1, "2}"),
        block_stop(1),
    ]


def test_a_call_held_back_until_the_end_is_sent_whole() -> None:
    events = run(
        calls(call(0, "", call_id="c1", name="f")),  # no arguments yet: maybe more to come
        calls(call(1, '{"b": 2}', call_id="c2", name="g")),
        chunk(finish="tool_calls"),
        DONE,
    )
    assert events[2:-2] == [
        tool_start(0, "c1", "f"),
        block_stop(0),
        tool_start(1, "c2", "g"),
        json_delta(1, '{"b": 2}'),
        block_stop(1),
    ]


def test_a_late_fragment_for_a_closed_call_is_dropped() -> None:
    events = run(
        calls(call(0, "{}", call_id="c1", name="f")),
        calls(call(1, "{}", call_id="c2", name="g")),
        calls(call(0, "oops")),
        chunk(finish="tool_calls"),
        DONE,
    )
    assert_well_formed(events)
    assert json_delta(0, "oops") not in events


def test_calls_without_index_are_keyed_by_id() -> None:
    events = run(
        calls(
            call(None, '{"a": 1}', call_id="c1", name="f"),
            call(None, '{"b": 2}', call_id="c2", name="g"),
        ),
        chunk(finish="tool_calls"),
        DONE,
    )
    assert [e["content_block"]["id"] for e in events if e["type"] == "content_block_start"] == [
        "c1",
        "c2",
    ]


def test_calls_without_index_or_id_continue_the_last_one() -> None:
    events = run(
        calls(call(None, '{"a": ', name="f")),
        calls(call(None, "1}")),
        chunk(finish="tool_calls"),
        DONE,
    )
    assert_well_formed(events)
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert len(starts) == 1
    assert starts[0]["content_block"]["id"].startswith("toolu_")


def test_index_reused_with_a_new_id_and_name_is_a_new_call() -> None:
    events = run(
        calls(call(0, '{"a": 1}', call_id="c1", name="f")),
        calls(call(0, '{"b": 2}', call_id="c2", name="g")),
        chunk(finish="tool_calls"),
        DONE,
    )
    assert [e["content_block"]["name"] for e in events if e["type"] == "content_block_start"] == [
        "f",
        "g",
    ]


def test_arguments_sent_as_an_object() -> None:
    fragment = {"index": 0, "id": "c", "function": {"name": "f", "arguments": {"a": 1}}}
    events = run(chunk({"tool_calls": [fragment]}), chunk(finish="tool_calls"), DONE)
    assert json_delta(0, '{"a":1}') in events


def test_random_interleavings_stay_well_formed() -> None:
    rng = random.Random(7)
    for _ in range(200):
        chunks: list[bytes] = []
        started: set[int] = set()
        for _ in range(rng.randint(1, 12)):
            kind = rng.choice(["text", "reason", "call"])
            if kind == "text":
                chunks.append(text(rng.choice(["a", "bc"])))
            elif kind == "reason":
                chunks.append(reasoning("r"))
            else:
                index = rng.randint(0, 2)
                first = index not in started
                started.add(index)
                chunks.append(
                    calls(
                        call(
                            index,
                            rng.choice(["", "{", '"k": 1', "}", "{}"]),
                            call_id=f"c{index}" if first else None,
                            name="f" if first else None,
                        )
                    )
                )
        chunks += [chunk(finish=rng.choice(["stop", "tool_calls", None])), DONE]
        assert_well_formed(run(*chunks, thinking=rng.random() < 0.5))


# -- the SDK reads our stream -------------------------------------------------------------------


def sdk_client(body: bytes) -> anthropic.Anthropic:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    http = httpx.Client(transport=httpx.MockTransport(reply))
    return anthropic.Anthropic(
        api_key="test", base_url="http://proxy", http_client=http, max_retries=0
    )


def sdk_final_message(body: bytes) -> anthropic.types.Message:
    client = sdk_client(body)
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        return stream.get_final_message()


def test_sdk_assembles_the_message() -> None:
    chunks = [reasoning("Plan."), *tool_stream()]
    message = sdk_final_message(raw(*chunks, thinking=True))
    assert message.id == "msg_1"
    assert message.model == "claude-sonnet-4-5"
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 40
    assert message.usage.output_tokens == 25
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    thinking, answer, tool = message.content
    assert thinking.type == "thinking" and thinking.thinking == "Plan."
    assert answer.type == "text" and answer.text == "Searching"
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == ("call_q", "search", orjson.loads(ARGUMENTS))


def test_sdk_raises_on_our_error_event() -> None:
    with pytest.raises(anthropic.APIStatusError, match="rate_limit_error"):
        sdk_final_message(raw(text("Hi"), relay_error("rate_limited")))
