"""Streams through the proxy: commit after the first valid event, relay as chunks arrive."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from chain429.providers.sse import SSEParser
from chain429.testing import Hang, Pause, Reply, Stream, chunk, error_body, usage_chunk
from tests.e2e.conftest import two_entries

pytestmark = pytest.mark.asyncio

MESSAGES: Any = [{"role": "user", "content": "hi"}]


async def collect(p: Any, **kw: Any) -> tuple[str, list[Any]]:
    stream = await p.client().chat.completions.create(
        model="default", messages=MESSAGES, stream=True, **kw
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


async def raw_stream(p: Any, body: dict[str, Any] | None = None) -> tuple[Any, bytes]:
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{p.url}/v1/chat/completions",
            json=body or {"model": "default", "messages": MESSAGES, "stream": True},
            headers=p.auth,
        )
        return response, await response.read()


def content_stream(*parts: str, **kw: Any) -> Stream:
    events: list[Any] = [chunk(role="assistant", content="")]
    events += [chunk(content=part) for part in parts]
    events.append(chunk(finish_reason="stop"))
    return Stream(events, **kw)


async def test_stream_headers_and_content(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(content_stream("Hel", "lo"))
    response, body = await raw_stream(p)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["X-429chain-Provider"] == "a"
    assert body.endswith(b"data: [DONE]\n\n")
    text, _ = await collect(p)
    assert text  # the default mock stream


async def test_chunks_are_relayed_as_they_arrive(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(content_stream("one", "two", "three", "four", interval=0.3))
    stream = await p.client().chat.completions.create(
        model="default", messages=MESSAGES, stream=True
    )
    upstream_busy = []  # at each arrival: is the upstream still sending? (order, not timing)
    async for part in stream:
        if part.choices and part.choices[0].delta.content:
            upstream_busy.append(a.in_flight == 1)
    assert len(upstream_busy) == 4
    # A buffering relay would deliver "one" only after the upstream finished (0.9 s later).
    assert upstream_busy[0], upstream_busy


@pytest.mark.parametrize(
    "failure",
    [
        Stream(
            [
                b": OPENROUTER PROCESSING\n\n",
                {
                    "id": "gen-1",
                    "object": "chat.completion.chunk",
                    "error": {"code": 429, "message": "Rate limit exceeded"},
                    "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
                },
            ],
            done=False,
        ),
        Stream([b"data: <html>502 Bad Gateway</html>\n\n"], done=False),
        Stream([], done=False),
        Stream([], done=True),
        Stream([chunk(content="late")], delay_first=2.0),
        Stream(reset_after=0),
        Reply(429, error_body(429, "slow down"), {"retry-after": "5"}),
        Hang(),
    ],
    ids=[
        "200-then-error",
        "garbage",
        "closed-before-any-chunk",
        "done-before-any-chunk",
        "stall-past-first-byte",
        "reset-before-any-chunk",
        "429",
        "hang",
    ],
)
async def test_failures_before_the_first_event_fall_over_unseen(mocks, proxy, failure) -> None:
    a, b, p = await two_entries(mocks, proxy, first_byte_timeout_ms=500)
    a.script(failure)
    b.script(content_stream("from", " b"))
    response, body = await raw_stream(p)
    assert response.status == 200
    assert response.headers["X-429chain-Provider"] == "b"
    assert response.headers["X-429chain-Attempts"] == "2"
    assert b"error" not in body
    events = SSEParser().feed(body)
    assert [e.data for e in events][-1] == "[DONE]"
    assert "from" in body.decode()


async def test_sse_framing_quirks_are_parsed(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(
        Stream(
            [
                b": OPENROUTER PROCESSING\r\n\r\n",
                b"event: message\r\nid: 7\r\nretry: 1000\r\n"
                b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",\r\n'
                b'data: "choices":[{"index":0,"delta":{"content":"multi"},"finish_reason":null}]}'
                b"\r\n\r\n",
                chunk(content="-line"),
                chunk(finish_reason="stop"),
            ],
            line_ending="\r\n",
        )
    )
    text, _ = await collect(p)
    assert text == "multi-line"


async def test_mid_stream_reset_ends_with_an_error_event(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(content_stream("partial", "more", reset_after=2))
    stream = await p.client().chat.completions.create(
        model="default", messages=MESSAGES, stream=True
    )
    seen: list[Any] = []

    async def consume() -> None:
        async for part in stream:
            seen.append(part)

    with pytest.raises(openai.APIError) as caught:
        await consume()
    assert "failed after it started" in str(caught.value)
    assert seen  # the client got the first chunks before the error
    entry = p.state.routes.chains["default"].entries[0]
    assert p.state.tracker.state(entry).failures == 1  # counted against the entry


async def test_mid_stream_stall_past_idle_timeout_ends_with_an_error_event(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy, stream_idle_timeout_ms=300)
    a.script(Stream([chunk(role="assistant", content="hi"), Pause(60), chunk(content="late")]))
    started = time.monotonic()
    _, body = await raw_stream(p)
    assert time.monotonic() - started < 10  # cut after 0.3 s idle, not the 60 s pause
    assert b"stream stalled" in body
    assert b"[DONE]" not in body


async def test_eof_without_done_or_finish_is_an_error_not_a_silent_truncation(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(Stream([chunk(role="assistant", content="cut"), chunk(content=" off")], done=False))
    _, body = await raw_stream(p)
    assert b"ended without [DONE]" in body
    assert b"[DONE]\n\n" not in body.replace(b"without [DONE]", b"")


async def test_eof_after_finish_reason_is_a_clean_end(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(Stream([chunk(content="ok"), chunk(finish_reason="stop")], done=False))
    _, body = await raw_stream(p)
    assert body.endswith(b"data: [DONE]\n\n")
    assert b"error" not in body


async def test_in_band_error_after_commit_is_passed_on(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(
        Stream(
            [
                chunk(content="so far"),
                {
                    "error": {"code": 502, "message": "provider died"},
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "error"}],
                },
            ],
            done=False,
        )
    )
    with pytest.raises(openai.APIError):
        await collect(p)


async def test_usage_is_requested_upstream_and_stripped_unless_asked(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    _, chunks = await collect(p)
    assert a.requests[-1].json["stream_options"] == {"include_usage": True}
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    _, chunks = await collect(p, stream_options={"include_usage": True})
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0


async def test_stream_options_rejected_is_retried_without_and_remembered(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(
        Reply(
            422,
            {
                "object": "error",
                "message": {
                    "detail": [
                        {
                            "type": "extra_forbidden",
                            "loc": ["body", "stream_options", "include_usage"],
                            "msg": "Extra inputs are not permitted",
                        }
                    ]
                },
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
        ),
    )
    text, _ = await collect(p)
    assert text
    assert "stream_options" in a.requests[0].json
    assert "stream_options" not in a.requests[1].json
    await collect(p)
    assert "stream_options" not in a.requests[2].json
    assert a.calls == 3


async def test_all_exhausted_stream_gets_the_same_429_as_non_stream(mocks, proxy) -> None:
    a, b, p = await two_entries(mocks, proxy)
    a.script(Reply(429, error_body(429, "slow"), {"retry-after": "9"}))
    b.script(Reply(429, error_body(429, "slow"), {"retry-after": "20"}))
    with pytest.raises(openai.RateLimitError) as caught:
        await collect(p)
    assert caught.value.response.headers["retry-after"] in ("9", "10")
    assert caught.value.code == "all_providers_exhausted"


async def test_tool_call_deltas_reach_the_sdk(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    a.script(
        Stream(
            [
                chunk(role="assistant", tool_calls=[call]),
                chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city":'}}]),
                chunk(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}]),
                chunk(finish_reason="tool_calls"),
            ]
        )
    )
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    _, chunks = await collect(p, tools=tools)
    assert a.requests[-1].json["tools"] == tools
    args = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    )
    assert args == '{"city":"Paris"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_normalize_responses_applies_to_stream_deltas(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy, normalize_responses=True)
    a.script(
        Stream(
            [
                chunk(role="assistant", reasoning_content="thinking"),
                chunk(reasoning_content=" more"),
                chunk(finish_reason="stop"),
            ]
        )
    )
    text, _ = await collect(p)
    assert text == "thinking more"


async def test_client_disconnect_mid_stream_cancels_upstream(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(Stream([chunk(role="assistant", content="x")] + [Pause(0.1), chunk(content="y")] * 50))
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{p.url}/v1/chat/completions",
            json={"model": "default", "messages": MESSAGES, "stream": True},
            headers=p.auth,
        )
        await response.content.readany()
        response.close()
    for _ in range(500):  # up to 10 s; a moment when idle
        if a.in_flight == 0:
            break
        await asyncio.sleep(0.02)
    assert a.in_flight == 0
    entry = p.state.routes.chains["default"].entries[0]
    assert p.state.tracker.state(entry).in_flight == 0
    assert p.state.tracker.state(entry).failures == 0  # the client left: not the entry's fault


async def test_usage_only_chunk_is_kept_when_asked(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(Stream([chunk(content="x"), chunk(finish_reason="stop"), usage_chunk(3, 4)]))
    _, chunks = await collect(p, stream_options={"include_usage": True})
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 7


async def test_lf_multi_line_data_in_one_chunk_stays_one_event(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(
        Stream(
            [
                chunk(role="assistant", content=""),
                b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",\n'
                b'data: "choices":[{"index":0,"delta":{"content":"two"},"finish_reason":null}]}'
                b"\n\n",
                b": keepalive\n\n",
                b"event: message\ndata: " + orjson.dumps(chunk(content=" lines")) + b"\n\n",
                chunk(finish_reason="stop"),
            ]
        )
    )
    text, _ = await collect(p)
    assert text == "two lines"
