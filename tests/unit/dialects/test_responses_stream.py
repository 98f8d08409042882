"""ResponsesStream against golden event sequences written from OpenAI's Responses streaming
reference; every event is also validated with the SDK's own types (see responses_helpers)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from chain429.dialects.responses_stream import ResponsesStream
from tests.unit.dialects.responses_helpers import (
    CREATED_AT,
    DONE,
    RESPONSE_ID,
    call_args,
    call_start,
    chunk,
    events,
    kinds,
    new_stream,
    relay_error,
    run,
    text,
    usage,
)

MSG = "msg_0123abcd_0"

BASE: dict[str, Any] = {
    "id": RESPONSE_ID,
    "object": "response",
    "created_at": CREATED_AT,
    "status": "in_progress",
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "max_output_tokens": None,
    "model": "my-chain",
    "output": [],
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "store": True,
    "temperature": None,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": None,
    "truncation": "disabled",
    "usage": None,
    "user": None,
    "metadata": {},
}


def text_item(status: str, text: str | None) -> dict[str, Any]:
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": []}]
    return {"id": MSG, "type": "message", "status": status, "role": "assistant", "content": content}


def test_text_only_golden() -> None:
    stream = new_stream()
    raw = run(
        stream,
        chunk({"role": "assistant", "content": ""}),  # OpenAI's opening chunk: no event for it
        text("Hel"),
        text("lo!"),
        text("", "stop"),
        usage(5, 2),
        DONE,
    )
    where = {"item_id": MSG, "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "Hello!", "annotations": []}
    usage_out = {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 7,
    }
    final = {**BASE, "status": "completed", "output": [text_item("completed", "Hello!")]}
    final["usage"] = usage_out
    expected = [
        {"type": "response.created", "response": BASE},
        {"type": "response.in_progress", "response": BASE},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": text_item("in_progress", None),
        },
        {"type": "response.content_part.added", **where, "part": {**part, "text": ""}},
        {"type": "response.output_text.delta", **where, "delta": "Hel", "logprobs": []},
        {"type": "response.output_text.delta", **where, "delta": "lo!", "logprobs": []},
        {"type": "response.output_text.done", **where, "text": "Hello!", "logprobs": []},
        {"type": "response.content_part.done", **where, "part": part},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": text_item("completed", "Hello!"),
        },
        {"type": "response.completed", "response": final},
    ]
    got = events(raw)
    assert [{k: v for k, v in e.items() if k != "sequence_number"} for e in got] == expected
    assert stream.response == final
    assert stream.usage == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def test_each_delta_is_sent_when_it_arrives() -> None:
    stream = new_stream()
    stream.begin()
    first = events_of(stream.feed(text("Hel")))
    assert kinds(first)[-1] == "response.output_text.delta"
    assert first[-1]["delta"] == "Hel"
    second = stream.feed(text("lo"))
    assert b'"delta":"lo"' in second
    assert b"response.output_text.done" not in second


def events_of(raw: bytes) -> list[dict[str, Any]]:
    """Events of one feed (their numbering does not start at 0)."""
    return [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]


def test_text_then_tool_call_golden() -> None:
    stream = new_stream(tools=[{"type": "function", "name": "get_weather", "parameters": {}}])
    raw = run(
        stream,
        text("Let me check."),
        call_start(0, "call_A", "get_weather"),
        call_args(0, '{"city":'),
        call_args(0, '"Paris"}'),
        chunk({}, "tool_calls"),
        usage(9, 4),
        DONE,
    )
    got = events(raw)
    assert kinds(got) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    fc = "fc_0123abcd_1"
    assert got[8]["item"] == {
        "id": fc,
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": "call_A",
        "name": "get_weather",
    }
    assert got[8]["output_index"] == 1
    assert [e["delta"] for e in got[9:11]] == ['{"city":', '"Paris"}']
    assert all(e["item_id"] == fc and e["output_index"] == 1 for e in got[9:12])
    assert got[11]["arguments"] == '{"city":"Paris"}'
    assert got[11]["name"] == "get_weather"
    call_done = {**got[8]["item"], "status": "completed", "arguments": '{"city":"Paris"}'}
    assert got[12]["item"] == call_done
    final = got[13]["response"]
    assert final["status"] == "completed"
    assert final["output"] == [text_item("completed", "Let me check."), call_done]
    assert final["tools"] == [
        {"type": "function", "name": "get_weather", "parameters": {}, "strict": None}
    ]
    assert stream.response == final


def test_two_tool_calls_are_two_items_one_after_the_other() -> None:
    raw = run(
        new_stream(),
        call_start(0, "call_A", "a", '{"x":1}'),
        call_start(1, "call_B", "b"),
        call_args(1, '{"y":2}'),
        chunk({}, "tool_calls"),
        DONE,
    )
    got = events(raw)
    assert kinds(got)[2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    output = got[-1]["response"]["output"]
    assert [(o["call_id"], o["name"], o["arguments"], o["id"]) for o in output] == [
        ("call_A", "a", '{"x":1}', "fc_0123abcd_0"),
        ("call_B", "b", '{"y":2}', "fc_0123abcd_1"),
    ]
    assert [e["output_index"] for e in got if e["type"].startswith("response.function")] == [
        0,
        0,
        1,
        1,
    ]


def test_tool_calls_without_an_index_are_told_apart_by_their_id() -> None:
    def start(call_id: str, name: str, arguments: str) -> bytes:
        function = {"name": name, "arguments": arguments}
        return chunk({"tool_calls": [{"id": call_id, "type": "function", "function": function}]})

    more = chunk({"tool_calls": [{"function": {"arguments": "}"}}]})
    raw = run(
        new_stream(), start("c1", "a", "{"), more, start("c2", "b", "{}"), chunk({}, "stop"), DONE
    )
    output = events(raw)[-1]["response"]["output"]
    assert [(o["call_id"], o["arguments"]) for o in output] == [("c1", "{}"), ("c2", "{}")]


def test_calls_that_all_say_index_0_are_told_apart_by_their_id() -> None:
    raw = run(
        new_stream(),
        call_start(0, "c1", "a", '{"x":1}'),
        call_start(0, "c2", "b", '{"y":2}'),
        chunk({}, "tool_calls"),
        DONE,
    )
    output = events(raw)[-1]["response"]["output"]
    assert [(o["call_id"], o["arguments"]) for o in output] == [
        ("c1", '{"x":1}'),
        ("c2", '{"y":2}'),
    ]


def test_an_id_repeated_on_every_fragment_is_one_call() -> None:
    raw = run(new_stream(), call_start(0, "c1", "a", "{"), call_start(0, "c1", "", "}"), DONE)
    output = events(raw)[-1]["response"]["output"]
    assert [(o["call_id"], o["name"], o["arguments"]) for o in output] == [("c1", "a", "{}")]


def test_a_fragment_for_a_closed_call_fails_loudly() -> None:
    stream = new_stream()
    raw = run(stream, call_start(0, "c1", "a"), call_start(1, "c2", "b"), call_args(0, "{}"), DONE)
    got = events(raw)
    assert got[-1]["type"] == "response.failed"
    assert "interleaved" in got[-1]["response"]["error"]["message"]
    assert stream.response is None


SPLIT_FEEDS = [
    call_start(0, "call_Z", "lookup"),
    *[call_args(0, piece) for piece in ['{"q', '":"', "é ", "naïve", '"', ',"n":', "3}"]],
    chunk({}, "tool_calls"),
    usage(10, 7),
    DONE,
]


@pytest.mark.parametrize("seed", range(20))
def test_bytes_split_at_odd_offsets_give_the_same_events(seed: int) -> None:
    whole = run(new_stream(), *SPLIT_FEEDS)
    blob = b"".join(SPLIT_FEEDS)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(blob)), 25))
    pieces = [blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=True)]
    split = run(new_stream(), *pieces)
    assert split == whole
    got = events(split)
    assert len([e for e in got if e["type"] == "response.function_call_arguments.delta"]) == 7
    final = got[-1]["response"]
    assert orjson.loads(final["output"][0]["arguments"]) == {"q": "é naïve", "n": 3}


def test_a_utf8_character_split_across_feeds() -> None:
    blob = text("naïve") + chunk({}, "stop") + DONE
    cut = blob.index("ï".encode()) + 1
    got = events(run(new_stream(), blob[:cut], blob[cut:]))
    assert got[-1]["response"]["output"][0]["content"][0]["text"] == "naïve"


def test_length_finish_is_incomplete() -> None:
    stream = new_stream(max_output_tokens=3)
    got = events(run(stream, text("one two three", "length"), usage(4, 3), DONE))
    assert kinds(got)[-2:] == ["response.output_item.done", "response.incomplete"]
    final = got[-1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["max_output_tokens"] == 3
    assert got[-2]["item"]["status"] == "incomplete"
    assert final["output"][0]["status"] == "incomplete"
    assert stream.response == final


def test_content_filter_is_incomplete() -> None:
    got = events(run(new_stream(), text("I", "content_filter"), DONE))
    assert got[-1]["type"] == "response.incomplete"
    assert got[-1]["response"]["incomplete_details"] == {"reason": "content_filter"}


def test_relay_error_fails_the_response_and_silences_the_rest() -> None:
    stream = new_stream()
    message = "The upstream stream failed after it started: stream stalled for 60s"
    raw = run(stream, text("partial"), relay_error(message), end=False)
    got = events(raw)
    assert kinds(got)[-2:] == ["response.output_text.delta", "response.failed"]
    failed = got[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": message}
    # what was said so far, marked as cut short
    assert failed["output"] == [
        {**text_item("incomplete", "partial")},
    ]
    assert stream.response is None
    assert stream.feed(text("more")) == b""
    assert stream.feed(DONE) == b""
    assert stream.end() == b""


def capped(max_bytes: int) -> ResponsesStream:
    body = {"model": "my-chain", "input": "hi", "stream": True}
    return ResponsesStream(
        body, response_id=RESPONSE_ID, created_at=CREATED_AT, max_bytes=max_bytes
    )


def test_text_past_the_cap_fails_the_response_and_keeps_no_more() -> None:
    """Three 30-character pieces (32 bytes as JSON) fit in 100 bytes; the fourth does not."""
    stream = capped(100)
    pieces = [c * 30 for c in "abcd"]
    got = events(run(stream, *(text(p) for p in pieces), text("e" * 30), DONE))
    assert kinds(got).count("response.output_text.delta") == 3
    assert kinds(got)[-1] == "response.failed"
    failed = got[-1]["response"]
    assert failed["error"]["message"] == stream.too_large
    assert "100-byte cap" in failed["error"]["message"]
    assert failed["output"] == [text_item("incomplete", "".join(pieces[:3]))]
    assert stream.response is None  # nothing to store


def test_tool_arguments_past_the_cap_fail_the_response() -> None:
    stream = capped(100)
    got = events(
        run(stream, call_start(0, "call_1", "f"), *(call_args(0, "x" * 40) for _ in range(3)))
    )
    assert kinds(got).count("response.function_call_arguments.delta") == 2
    assert got[-1]["type"] == "response.failed"
    assert got[-1]["response"]["output"][0]["arguments"] == "x" * 80
    assert stream.too_large is not None and stream.response is None


def test_an_answer_up_to_the_cap_completes() -> None:
    stream = capped(96)
    got = events(run(stream, *(text(c * 30) for c in "abc"), text("", "stop"), DONE))
    assert got[-1]["type"] == "response.completed"
    assert stream.too_large is None and stream.response is not None


def test_end_without_a_finish_fails() -> None:
    stream = new_stream()
    got = events(run(stream, text("cut"), end=True))
    assert got[-1]["type"] == "response.failed"
    assert got[-1]["response"]["error"]["message"] == "the upstream stream ended early"
    assert stream.response is None
    assert stream.end() == b""


def test_end_after_a_finish_without_done_completes() -> None:
    stream = new_stream()
    got = events(run(stream, text("ok", "stop"), usage(1, 1)))
    assert got[-1]["type"] == "response.completed"
    assert stream.response is not None
    assert stream.response["usage"]["total_tokens"] == 2
    assert stream.end() == b""  # idempotent


def test_end_flushes_an_event_missing_its_blank_line() -> None:
    stream = new_stream()
    got = events(run(stream, text("ok", "stop"), b"data: [DONE]\n"))
    assert got[-1]["type"] == "response.completed"


def test_done_closes_and_later_bytes_are_ignored() -> None:
    stream = new_stream()
    raw = run(stream, text("a", "stop"), DONE, text("late"), end=False)
    assert events(raw)[-1]["type"] == "response.completed"
    assert stream.feed(text("later")) == b""


def test_usage_details_and_the_last_usage_wins() -> None:
    stream = new_stream()
    details = {
        "prompt_tokens_details": {"cached_tokens": 6},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    raw = run(stream, text("a", "stop", usage={"prompt_tokens": 1}), usage(10, 5, **details), DONE)
    final = events(raw)[-1]["response"]
    assert final["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 6, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 15,
    }
    assert stream.usage is not None
    assert stream.usage["prompt_tokens"] == 10


def test_groq_usage_is_read_from_x_groq() -> None:
    stream = new_stream()
    groq = {"usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
    run(stream, text("a", "stop", x_groq=groq), DONE)
    assert stream.usage == groq["usage"]


def test_no_usage_means_null_usage() -> None:
    stream = new_stream()
    got = events(run(stream, text("a", "stop"), DONE))
    assert got[-1]["response"]["usage"] is None
    assert stream.usage is None


def test_reasoning_is_dropped() -> None:
    got = events(run(new_stream(), chunk({"reasoning_content": "hmm"}), text("yes", "stop"), DONE))
    assert [o["type"] for o in got[-1]["response"]["output"]] == ["message"]
    assert b"hmm" not in orjson.dumps(got)


def test_refusal_streams_as_a_refusal_part() -> None:
    got = events(run(new_stream(), chunk({"refusal": "I can't"}), chunk({}, "stop"), DONE))
    assert kinds(got)[2:] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.refusal.delta",
        "response.refusal.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert got[-1]["response"]["output"][0]["content"] == [
        {"type": "refusal", "refusal": "I can't"}
    ]


def test_an_empty_answer_completes_with_no_output() -> None:
    got = events(run(new_stream(), chunk({"role": "assistant"}, "stop"), DONE))
    assert kinds(got) == ["response.created", "response.in_progress", "response.completed"]
    assert got[-1]["response"]["output"] == []


def test_malformed_data_fails() -> None:
    got = events(run(new_stream(), b"data: {nope\n\n", end=False))
    assert got[-1]["type"] == "response.failed"


def test_keepalive_comments_produce_nothing() -> None:
    stream = new_stream()
    stream.begin()
    assert stream.feed(b": keepalive\n\n") == b""


def test_begin_is_sent_once_even_if_feed_comes_first() -> None:
    stream = new_stream()
    got = events(stream.feed(text("a", "stop") + DONE))
    assert kinds(got)[:2] == ["response.created", "response.in_progress"]
    assert stream.begin() == b""


def test_odd_chunk_shapes_are_skipped_not_crashed_on() -> None:
    odd = [
        b'data: {"choices":[null]}\n\n',
        b'data: {"choices":[{"delta":"text?"}]}\n\n',
        b'data: {"choices":[{"delta":{"tool_calls":[null, 3]}}]}\n\n',
    ]
    got = events(run(new_stream(), *odd, text("ok", "stop"), DONE))
    assert got[-1]["type"] == "response.completed"
    assert got[-1]["response"]["output"][0]["content"][0]["text"] == "ok"
