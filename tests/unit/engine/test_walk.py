"""The walk, on a fake clock and a fake upstream: order, skips, outcomes, caps and blame."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import replace

import orjson
import pytest

from chain429.config.schema import RateLimits
from chain429.engine.operations import CHAT, EMBEDDINGS, Operation
from chain429.engine.request import ClientRequest, parse_request
from chain429.engine.walk import Caps, Served, Timeouts, Walker, WalkFailed
from chain429.errors import ProxyError
from chain429.quota.tracker import MemoryTracker
from tests.unit.engine.fakes import (
    DONE,
    FakeClock,
    FakeResponse,
    FakeUpstream,
    chain,
    chunk,
    completion,
    entry,
)


@pytest.fixture
def walker(tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock) -> Walker:
    return Walker(tracker, upstream, Timeouts(), caps=Caps(), clock=clock)


def ask(stream: bool = False, **extra: object) -> ClientRequest:
    body = {"model": "c", "messages": [{"role": "user", "content": "hi"}], **extra}
    if stream:
        body["stream"] = True
    return parse_request(orjson.dumps(body))


async def drain(served: Served) -> bytes:
    assert served.stream is not None
    async with aclosing(served.stream.events()) as events:
        return b"".join([part async for part in events])


async def test_a_429_falls_through_and_the_next_request_skips_the_entry(
    walker: Walker, upstream: FakeUpstream
) -> None:
    a, b = entry("a"), entry("b")
    upstream.script("a/m", FakeResponse(429, {"error": {"message": "slow down"}}))
    served = await walker.serve(chain(a, b), ask())
    assert upstream.called() == ["a/m", "b/m"]
    assert [(x.entry, x.kind) for x in served.attempts] == [
        ("a/m", "rate_limited"),
        ("b/m", "success"),
    ]
    served = await walker.serve(chain(a, b), ask())
    assert upstream.called() == ["a/m", "b/m", "b/m"]  # a is cooling: skipped without a call
    assert served.attempts[0].skipped


async def test_the_cooldown_ends_on_the_clock(
    walker: Walker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    a = entry("a")
    upstream.script("a/m", FakeResponse(429, b"{}", {"retry-after": "30"}))
    with pytest.raises(WalkFailed) as failed:
        await walker.serve(chain(a), ask())
    assert failed.value.status == 429
    assert failed.value.headers["Retry-After"] == "30"
    clock.advance(29)
    with pytest.raises(WalkFailed):
        await walker.serve(chain(a), ask())
    assert upstream.called() == ["a/m"]
    clock.advance(2)
    await walker.serve(chain(a), ask())
    assert upstream.called() == ["a/m", "a/m"]


async def test_a_body_that_cannot_be_encoded_is_a_400_and_charges_no_entry(
    walker: Walker, upstream: FakeUpstream, tracker: MemoryTracker
) -> None:
    """orjson reads 1024 levels but writes 254: such a body once opened every breaker."""
    raw = b'{"messages": [{"role": "user", "content": "hi"}], "x": ' + b"[" * 300 + b"]" * 300
    request = parse_request(raw + b"}")
    a, b = entry("a"), entry("b")
    for _ in range(5):
        with pytest.raises(ProxyError) as refused:
            await walker.serve(chain(a, b), request)
        assert refused.value.status == 400
    assert upstream.calls == []
    assert tracker.blocked(a) is None and tracker.blocked(b) is None
    assert tracker.state(a).failures == 0


async def test_a_fault_of_ours_inside_an_attempt_is_not_the_entrys(
    walker: Walker, upstream: FakeUpstream, tracker: MemoryTracker
) -> None:
    a = entry("a")
    for _ in range(4):
        upstream.script("a/m", FakeResponse(raises=KeyError("a bug of ours")))
        with pytest.raises(KeyError):
            await walker.serve(chain(a), ask())
    state = tracker.state(a)
    assert (state.failures, state.cooldown, state.in_flight) == (0, None, 0)


async def test_an_answer_over_the_cap_is_malformed_and_the_walk_moves_on(
    tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    walker = Walker(tracker, upstream, caps=Caps(body_bytes=1000), clock=clock)
    huge = completion(text="x" * 5000)
    upstream.script("a/m", FakeResponse(body=huge))
    served = await walker.serve(chain(entry("a"), entry("b")), ask())
    assert served.entry.key == "b/m"
    assert served.attempts[0].kind == "malformed"
    assert "cap" in served.attempts[0].reason


async def test_a_long_error_body_is_read_only_up_to_its_cap_and_still_classified(
    tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    walker = Walker(tracker, upstream, caps=Caps(error_bytes=200), clock=clock)
    body = b'{"error": {"message": "Rate limit reached ' + b"." * 10_000 + b'"}}'
    upstream.script("a/m", FakeResponse(429, body, {"retry-after": "5"}))
    served = await walker.serve(chain(entry("a"), entry("b")), ask())
    assert served.attempts[0].kind == "rate_limited"


async def test_redirects_are_upstream_errors(walker: Walker, upstream: FakeUpstream) -> None:
    upstream.script("a/m", FakeResponse(307, b"", {"location": "http://elsewhere.test/"}))
    served = await walker.serve(chain(entry("a"), entry("b")), ask())
    assert (served.attempts[0].kind, served.attempts[0].status) == ("upstream_error", 307)
    assert upstream.called() == ["a/m", "b/m"]


async def test_an_unterminated_event_over_the_cap_fails_before_the_commit(
    tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    walker = Walker(tracker, upstream, caps=Caps(event_bytes=1000), clock=clock)
    endless = [b"data: {" + b'"x": "' + b"y" * 800] * 5  # never ends its line
    upstream.script("a/m", FakeResponse(chunks=endless))
    upstream.script("b/m", FakeResponse(chunks=[chunk("ok", "stop"), DONE]))
    served = await walker.serve(chain(entry("a"), entry("b")), ask(stream=True))
    assert served.entry.key == "b/m"
    assert served.attempts[0].kind == "malformed"
    await drain(served)


async def test_an_unterminated_event_over_the_cap_after_the_commit_ends_with_an_error(
    tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    walker = Walker(tracker, upstream, caps=Caps(event_bytes=1000), clock=clock)
    parts = [chunk("Hel"), b"data: " + b"y" * 600, b"y" * 600, b"y" * 600]
    upstream.script("a/m", FakeResponse(chunks=parts))
    served = await walker.serve(chain(entry("a")), ask(stream=True))
    out = await drain(served)
    assert out.startswith(chunk("Hel"))
    assert b'"code":"malformed"' in out
    assert b"yyyy" not in out


async def test_garbage_after_the_commit_is_not_relayed_before_the_error(
    walker: Walker, upstream: FakeUpstream, tracker: MemoryTracker
) -> None:
    a = entry("a")
    parts = [chunk("Hel"), b"data: <html>502 Bad Gateway</html>\n\n", chunk("lo"), DONE]
    upstream.script("a/m", FakeResponse(chunks=parts))
    served = await walker.serve(chain(a), ask(stream=True))
    out = await drain(served)
    assert b"<html>" not in out
    events = [e for e in out.split(b"\n\n") if e]
    assert events[0] == chunk("Hel").strip()
    assert b'"code":"malformed"' in events[1]
    assert len(events) == 2
    assert served.stream is not None and served.stream.outcome is not None
    assert served.stream.outcome.kind == "malformed"
    assert tracker.state(a).failures == 1


async def test_a_committed_stream_has_a_total_deadline(
    tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """An upstream that trickles forever, never idle long enough for the idle timer."""
    walker = Walker(tracker, upstream, Timeouts(idle_s=60, stream_s=0.05), clock=clock)
    import asyncio

    async def trickle() -> object:
        yield chunk("a")
        while True:
            await asyncio.sleep(0.01)
            yield chunk("b")

    response = FakeResponse(chunks=[])
    response.chunks_iter = trickle  # type: ignore[method-assign]
    upstream.script("a/m", response)
    served = await walker.serve(chain(entry("a")), ask(stream=True))
    out = await drain(served)
    assert b"ran past its 0.05s limit" in out


async def test_an_entry_that_does_not_serve_the_operation_is_skipped(
    walker: Walker, upstream: FakeUpstream
) -> None:
    """A new operation needs no change to the walk: its path, its check, its answer field."""

    def check(body: dict[str, object]) -> None:
        if "input" not in body:
            raise ProxyError(400, "'input' is required.", param="input")

    embeddings = Operation("embeddings", "/embeddings", check, "data", streams=False)
    plain = entry("a")
    a = replace(plain, preset=replace(plain.preset, operations=("chat",)))
    b = entry("b")  # openai-compatible serves embeddings too, by its preset
    upstream.script("b/m", FakeResponse(body={"object": "list", "data": [{"embedding": []}]}))
    request = parse_request(orjson.dumps({"model": "c", "input": "hi"}), embeddings)
    served = await walker.serve(chain(a, b), request)
    assert served.attempts[0].kind == "unsupported"
    assert upstream.calls[0].url == "http://b.test/v1/embeddings"
    with pytest.raises(ProxyError):
        parse_request(orjson.dumps({"model": "c"}), embeddings)


async def test_an_answer_without_the_operations_field_is_malformed(
    walker: Walker, upstream: FakeUpstream
) -> None:
    upstream.script("a/m", FakeResponse(body={"data": []}))
    served = await walker.serve(chain(entry("a"), entry("b")), ask())
    assert served.attempts[0].kind == "malformed"


async def test_stream_latency_is_time_to_first_token(
    walker: Walker, upstream: FakeUpstream, tracker: MemoryTracker, clock: FakeClock
) -> None:
    a = entry("a")
    response = FakeResponse(chunks=[chunk("Hi"), chunk("!", "stop"), DONE])
    response.on_chunk = lambda index: clock.advance(0.2 if index == 0 else 5.0)
    upstream.script("a/m", response)
    served = await walker.serve(chain(a), ask(stream=True))
    await drain(served)
    assert tracker.latency_ms(a) == pytest.approx(200)


async def test_whole_answer_latency_is_smoothed(
    walker: Walker, upstream: FakeUpstream, tracker: MemoryTracker, clock: FakeClock
) -> None:
    a = entry("a")

    class Slow(FakeResponse):
        async def read(self, limit: int, *, truncate: bool = False) -> bytes:
            clock.advance(1.0)
            return await super().read(limit, truncate=truncate)

    upstream.script("a/m", Slow(body=completion()), Slow(body=completion()))
    await walker.serve(chain(a), ask())
    assert tracker.latency_ms(a) == pytest.approx(1000)
    clock.advance(0)
    upstream.script("a/m", FakeResponse(body=completion()))
    await walker.serve(chain(a), ask())
    await walker.serve(chain(a), ask())
    latency = tracker.latency_ms(a)
    assert latency is not None and 0 < latency < 1000


async def test_the_deadline_is_read_from_the_injected_clock(
    tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    walker = Walker(tracker, upstream, Timeouts(deadline_s=10), clock=clock)
    a, b = entry("a"), entry("b")

    class Late(FakeResponse):
        async def read(self, limit: int, *, truncate: bool = False) -> bytes:
            clock.advance(11)
            return await super().read(limit, truncate=truncate)

    upstream.script("a/m", Late(500, b"{}"))
    with pytest.raises(WalkFailed) as failed:
        await walker.serve(chain(a, b), ask())
    assert [(x.entry, x.kind) for x in failed.value.attempts] == [
        ("a/m", "upstream_error"),
        ("b/m", "deadline"),
    ]
    assert upstream.called() == ["a/m"]


async def test_manual_limits_are_reserved_before_sending(
    walker: Walker, upstream: FakeUpstream
) -> None:
    a = entry("a", limits=RateLimits(requests_per_minute=2))
    b = entry("b")
    for _ in range(3):
        await walker.serve(chain(a, b), ask())
    assert upstream.called() == ["a/m", "a/m", "b/m"]


async def test_chat_is_the_default_operation() -> None:
    assert ask().operation is CHAT


async def test_entries_that_cannot_serve_do_not_turn_out_of_quota_into_a_503(
    tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    """The example config lists providers without keys: all *usable* entries rate-limited is a
    429 with Retry-After (so waiting can engage), not a 503."""
    walker = Walker(tracker, upstream, clock=clock)
    keyless = replace(entry("nokey"), disabled="GROQ_API_KEY is not set")
    gone, limited = entry("gone"), entry("limited")
    upstream.script("gone/m", FakeResponse(404, {"error": {"message": "model not found"}}))
    upstream.script("limited/m", FakeResponse(429, b"{}", {"retry-after": "20"}))
    with pytest.raises(WalkFailed) as failed:
        await walker.serve(chain(keyless, gone, limited), ask())
    assert failed.value.status == 429
    assert failed.value.headers["Retry-After"] == "20"
    with pytest.raises(WalkFailed) as only_unusable:
        await walker.serve(chain(keyless), ask())
    assert only_unusable.value.status == 503


async def test_a_keyless_503_starts_with_what_to_do_and_keeps_the_detail(
    tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    walker = Walker(tracker, upstream, clock=clock)
    groq = replace(entry("groq"), disabled="GROQ_API_KEY is not set")
    cerebras = replace(entry("cerebras"), disabled="CEREBRAS_API_KEY is not set")
    with pytest.raises(WalkFailed) as keyless:
        await walker.serve(chain(groq, cerebras, name="default"), ask())
    assert keyless.value.status == 503
    first = (
        "No provider in chain 'default' has a key: export GROQ_API_KEY=... and restart, "
        "or run `429chain demo`. "
    )
    assert keyless.value.message.startswith(first)
    detail = keyless.value.message.removeprefix(first)
    assert "Tried 2: groq/m (skipped: provider disabled: GROQ_API_KEY is not set)" in detail
    assert "CEREBRAS_API_KEY is not set" in detail
    # Some keyless, the rest failed: the count says so, and the detail still names each.
    upstream.script("local/m", FakeResponse(500, b"{}"))
    with pytest.raises(WalkFailed) as mixed:
        await walker.serve(chain(groq, entry("local"), name="default"), ask())
    assert mixed.value.message.startswith(
        "1 of 2 entries in chain 'default' have no key and the others failed: "
        "export GROQ_API_KEY=... and restart, or run `429chain demo`. Tried 2: "
    )
    # A chain with every key set keeps the plain message.
    upstream.script("local/m", FakeResponse(500, b"{}"))
    with pytest.raises(WalkFailed) as keyed:
        await walker.serve(chain(entry("local")), ask())
    assert keyed.value.message.startswith("Tried 1: ")


def test_an_image_counts_by_the_providers_rule_not_by_its_base64() -> None:
    image = "data:image/png;base64," + "A" * 600_000
    body = {
        "model": "c",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            }
        ],
        "max_tokens": 100,
    }
    request = parse_request(orjson.dumps(body))
    assert request.images == 1
    gemini = entry("g", preset="gemini")
    openai = entry("o", preset="openai")
    assert request.tokens_for(gemini) < 500  # 258 for the image, not ~150,000
    assert request.tokens_for(openai) - request.tokens_for(gemini) == 765 - 258


def test_a_request_without_max_tokens_counts_what_the_provider_reserves() -> None:
    request = ask()
    assert request.max_tokens is None
    assert request.tokens_for(entry("c", preset="cerebras")) == request.prompt_tokens + 8192
    assert request.tokens_for(entry("g", preset="groq")) == request.prompt_tokens
    assert ask(max_tokens=50).tokens_for(entry("c", preset="cerebras")) == (
        ask(max_tokens=50).prompt_tokens + 50
    )


def test_embeddings_count_their_input_only_whatever_the_preset_reserves() -> None:
    """No completion budget: neither a preset's reservation for requests without max_tokens
    (Cerebras: 8192) nor a max_tokens the client sent anyway."""
    cerebras = entry("c", preset="cerebras")
    for extra in ({}, {"max_tokens": 500}):
        body = orjson.dumps({"model": "c", "input": "word " * 100, **extra})
        request = parse_request(body, EMBEDDINGS)
        assert request.prompt_tokens == len(body) // 4
        assert request.tokens_for(cerebras) == request.prompt_tokens
