"""The relay of Anthropic event streams from native entries: commit, relay, end, usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson
import pytest

from chain429.engine.messages_relay import MessagesRelay
from chain429.engine.walk import Caps, Served, Timeouts, Walker
from chain429.errors import ProxyError
from chain429.quota.tracker import MemoryTracker
from tests.unit.engine.fakes import DONE, FakeClock, FakeResponse, FakeUpstream, chain, chunk, entry
from tests.unit.engine.test_native import ask, native_entry

KEY = "n/claude-x"


def event(payload: dict[str, Any], name: str | None = None) -> bytes:
    kind = (name or payload["type"]).encode()
    return b"event: " + kind + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


START = event(
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 30},
        },
    }
)
PING = event({"type": "ping"})
BLOCK = event({"type": "content_block_start", "index": 0, "content_block": {"type": "text"}})


def delta(text: str) -> bytes:
    payload = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}}
    payload["delta"]["text"] = text
    return event(payload)


BLOCK_STOP = event({"type": "content_block_stop", "index": 0})
END = event(
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}
)
STOP = event({"type": "message_stop"})
WHOLE = [START, BLOCK, PING, delta("Hel"), delta("lo"), BLOCK_STOP, END, STOP]


def error(kind: str, message: str = "it broke") -> bytes:
    return event({"type": "error", "error": {"type": kind, "message": message}})


@pytest.fixture
def walker(tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock) -> Walker:
    return Walker(tracker, upstream, Timeouts(), caps=Caps(), clock=clock)


async def drain(served: Served) -> bytes:
    assert served.stream is not None
    async with aclosing(served.stream.events()) as events:
        return b"".join([part async for part in events])


def events_of(raw: bytes) -> list[dict[str, Any]]:
    lines = [line for line in raw.split(b"\n") if line.startswith(b"data: ")]
    return [orjson.loads(line[6:]) for line in lines]


async def test_a_whole_stream_is_relayed_byte_for_byte_and_settles_with_its_usage(
    walker: Walker, upstream: FakeUpstream, tracker: MemoryTracker
) -> None:
    native = native_entry()
    upstream.script(KEY, FakeResponse(chunks=WHOLE))
    served = await walker.serve(chain(native), ask(stream=True))
    assert isinstance(served.stream, MessagesRelay)
    assert await drain(served) == b"".join(WHOLE)
    assert served.stream.outcome is not None and served.stream.outcome.kind == "success"
    assert served.stream.usage == {"prompt_tokens": 42, "completion_tokens": 5, "total_tokens": 47}
    assert tracker.state(native).failures == 0


async def test_events_split_anywhere_are_judged_whole(
    walker: Walker, upstream: FakeUpstream
) -> None:
    raw = b"".join(WHOLE)
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    upstream.script(KEY, FakeResponse(chunks=pieces))
    served = await walker.serve(chain(native_entry()), ask(stream=True))
    out = await drain(served)
    assert [e["type"] for e in events_of(out)] == [e["type"] for e in events_of(raw)]
    assert served.stream is not None and served.stream.usage is not None
    assert served.stream.usage["completion_tokens"] == 5
    assert served.stream.outcome is not None and served.stream.outcome.kind == "success"


async def test_nothing_is_committed_before_message_start(
    walker: Walker, upstream: FakeUpstream
) -> None:
    """Pings and comments prove nothing; what came before message_start is not relayed."""
    upstream.script(KEY, FakeResponse(chunks=[b": keepalive\n\n", PING, *WHOLE]))
    served = await walker.serve(chain(native_entry()), ask(stream=True))
    out = await drain(served)
    assert out.startswith(START)


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [("overloaded_error", "upstream_error"), ("rate_limit_error", "rate_limited")],
)
async def test_an_error_before_message_start_falls_through(
    walker: Walker, upstream: FakeUpstream, kind: str, outcome: str
) -> None:
    upstream.script(KEY, FakeResponse(chunks=[PING, error(kind)]))
    upstream.script("a/m", FakeResponse(chunks=[chunk("ok", "stop"), DONE]))
    served = await walker.serve(chain(native_entry(), entry("a")), ask(stream=True))
    assert served.entry.key == "a/m" and not served.native
    assert served.attempts[0].kind == outcome
    assert b"ok" in await drain(served)


async def test_an_invalid_request_error_before_message_start_is_the_clients(
    walker: Walker, upstream: FakeUpstream
) -> None:
    upstream.script(KEY, FakeResponse(chunks=[error("invalid_request_error", "bad tools")]))
    with pytest.raises(ProxyError, match="bad tools"):
        await walker.serve(chain(native_entry(), entry("a")), ask(stream=True))
    assert upstream.called() == [KEY]


async def test_something_else_before_message_start_is_malformed(
    walker: Walker, upstream: FakeUpstream
) -> None:
    upstream.script(KEY, FakeResponse(chunks=[BLOCK, *WHOLE]))
    upstream.script("a/m", FakeResponse(chunks=[chunk("ok", "stop"), DONE]))
    served = await walker.serve(chain(native_entry(), entry("a")), ask(stream=True))
    assert served.attempts[0].kind == "malformed"
    await drain(served)


async def test_an_error_after_the_commit_is_passed_on_and_ends_the_stream(
    walker: Walker, upstream: FakeUpstream, tracker: MemoryTracker
) -> None:
    native = native_entry()
    broken = error("overloaded_error", "Overloaded")
    upstream.script(KEY, FakeResponse(chunks=[START, BLOCK, delta("Hel"), broken, delta("lo")]))
    served = await walker.serve(chain(native, entry("a")), ask(stream=True))
    out = await drain(served)
    assert out == START + BLOCK + delta("Hel") + broken  # the upstream's own words, then the end
    assert served.stream is not None and served.stream.outcome is not None
    assert served.stream.outcome.kind == "upstream_error"
    assert tracker.state(native).failures == 1
    assert upstream.called() == [KEY]  # committed: no fall-through


async def test_an_end_without_message_stop_is_a_failure_in_anthropics_words(
    walker: Walker, upstream: FakeUpstream, tracker: MemoryTracker
) -> None:
    native = native_entry()
    upstream.script(KEY, FakeResponse(chunks=[START, BLOCK, delta("Hel")]))
    served = await walker.serve(chain(native), ask(stream=True))
    out = await drain(served)
    assert out.startswith(START + BLOCK + delta("Hel"))
    last = out[len(START + BLOCK + delta("Hel")) :]
    assert last.startswith(b"event: error\ndata: ")
    body = events_of(last)[0]
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    assert "without message_stop" in body["error"]["message"]
    assert served.stream is not None and served.stream.outcome is not None
    assert served.stream.outcome.kind == "malformed"
    assert tracker.state(native).failures == 1


async def test_garbage_after_the_commit_is_not_relayed(
    walker: Walker, upstream: FakeUpstream
) -> None:
    junk = b"data: <html>502 Bad Gateway</html>\n\n"
    upstream.script(KEY, FakeResponse(chunks=[START, junk, STOP]))
    served = await walker.serve(chain(native_entry()), ask(stream=True))
    out = await drain(served)
    assert b"<html>" not in out and out.startswith(START)
    assert [e["type"] for e in events_of(out)] == ["message_start", "error"]


async def test_an_event_over_the_byte_cap_ends_the_stream(
    tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    walker = Walker(tracker, upstream, caps=Caps(event_bytes=1000), clock=clock)
    upstream.script(KEY, FakeResponse(chunks=[START, b"data: {" + b"y" * 600, b"y" * 600]))
    served = await walker.serve(chain(native_entry()), ask(stream=True))
    out = await drain(served)
    assert b"yyyy" not in out
    assert events_of(out)[-1]["error"]["message"].endswith("passed 1000 bytes")


async def test_a_stalled_stream_times_out_with_an_anthropic_error(
    tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    walker = Walker(tracker, upstream, Timeouts(idle_s=0.01), clock=clock)

    async def stall() -> AsyncIterator[bytes]:
        yield START
        await asyncio.sleep(10)

    response = FakeResponse(chunks=[])
    response.chunks_iter = stall  # type: ignore[method-assign]
    upstream.script(KEY, response)
    served = await walker.serve(chain(native_entry()), ask(stream=True))
    error_event = events_of(await drain(served))[-1]
    assert error_event["error"]["type"] == "timeout_error"
    assert "stalled" in error_event["error"]["message"]


async def test_its_own_errors_are_anthropic_events(walker: Walker, upstream: FakeUpstream) -> None:
    upstream.script(KEY, FakeResponse(chunks=WHOLE))
    served = await walker.serve(chain(native_entry()), ask(stream=True))
    assert served.stream is not None
    shutdown = served.stream.error_event(ProxyError(503, "shutting down", type="server_error"))
    assert shutdown.startswith(b"event: error\n")
    assert events_of(shutdown)[0]["error"] == {
        "type": "overloaded_error",
        "message": "shutting down",
    }
    await served.stream.close()
