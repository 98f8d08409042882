"""Entries that speak Anthropic Messages natively: the MESSAGES operation, the per-entry choice
of body, and walks that mix native and chat entries (fake clock, fake upstream)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest

from chain429.dialects import anthropic
from chain429.engine.operations import CHAT, MESSAGES
from chain429.engine.request import ClientRequest, native_request, parse_request
from chain429.engine.walk import Caps, Timeouts, Walker, WalkFailed
from chain429.errors import ProxyError
from chain429.quota.tracker import MemoryTracker
from tests.unit.engine.fakes import FakeClock, FakeResponse, FakeUpstream, chain, entry

BODY: dict[str, Any] = {
    "model": "c",
    "max_tokens": 100,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": "hi"}],
    "thinking": {"type": "enabled", "budget_tokens": 50},
}


def native_entry(provider: str = "n") -> Any:
    return entry(provider, "claude-x", "anthropic-compatible")


def ask(stream: bool = False) -> ClientRequest:
    """A /v1/messages request as the HTTP layer makes it: chat, with the native beside it."""
    body = {**BODY, "stream": True} if stream else BODY
    chat = parse_request(orjson.dumps(anthropic.to_chat(body)), CHAT)
    chat.native = native_request(chat, MESSAGES, body)
    return chat


def message(text: str = "hello") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 9, "output_tokens": 3, "cache_read_input_tokens": 20},
    }


@pytest.fixture
def walker(tracker: MemoryTracker, upstream: FakeUpstream, clock: FakeClock) -> Walker:
    return Walker(tracker, upstream, Timeouts(), caps=Caps(), clock=clock)


# -- the operation ------------------------------------------------------------------------------


def test_messages_accepts_only_an_anthropic_message() -> None:
    assert MESSAGES.accepts(message())
    assert not MESSAGES.accepts({"type": "error", "content": []})
    assert not MESSAGES.accepts({"choices": [{"message": {}}]})
    assert not CHAT.accepts(message())
    assert (MESSAGES.name, MESSAGES.path, MESSAGES.api) == ("messages", "/messages", "anthropic")


def test_messages_usage_reads_in_openais_shape_cached_tokens_included() -> None:
    assert MESSAGES.usage(message()) == {
        "prompt_tokens": 29,
        "completion_tokens": 3,
        "total_tokens": 32,
    }
    assert MESSAGES.usage({"content": []}) is None
    assert CHAT.usage({"usage": {"total_tokens": 4}}) == {"total_tokens": 4}


def test_messages_requires_max_tokens() -> None:
    with pytest.raises(ProxyError, match="max_tokens"):
        MESSAGES.check({"messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(ProxyError, match="messages"):
        MESSAGES.check({"max_tokens": 5, "messages": []})


# -- which body an entry gets -------------------------------------------------------------------


def test_each_entry_gets_the_request_in_the_api_it_speaks() -> None:
    request = ask()
    native, chat = native_entry(), entry("a")
    plain = entry("e")
    embeddings_only = replace(plain, preset=replace(plain.preset, operations=("embeddings",)))
    assert request.for_entry(native) is request.native
    assert request.for_entry(chat) is request
    assert request.for_entry(embeddings_only) is None
    chat_only = parse_request(orjson.dumps({"model": "c", "messages": BODY["messages"]}))
    assert chat_only.for_entry(native) is None  # a chat request never reaches it
    assert chat_only.for_entry(chat) is chat_only


def test_the_native_request_reserves_what_its_chat_translation_would() -> None:
    request = ask()
    assert request.native is not None
    assert request.native.body is not request.body and request.native.body["thinking"]
    native = native_entry()
    assert request.native.tokens_for(native) == request.tokens_for(native)
    assert request.native.max_tokens == 100


# -- walks --------------------------------------------------------------------------------------


async def test_a_native_entry_gets_the_body_as_the_client_sent_it(
    walker: Walker, upstream: FakeUpstream
) -> None:
    upstream.script("n/claude-x", FakeResponse(body=message()))
    served = await walker.serve(chain(native_entry(), entry("a")), ask())
    call = upstream.calls[0]
    assert call.url == "http://n.test/v1/messages"
    assert call.body == {**BODY, "model": "claude-x"}
    assert served.native and served.stream is None
    assert orjson.loads(served.body) == message()  # passed on as the upstream answered
    assert served.usage == {"prompt_tokens": 29, "completion_tokens": 3, "total_tokens": 32}


async def test_a_native_stream_request_gets_no_stream_options(
    walker: Walker, upstream: FakeUpstream
) -> None:
    start = {"type": "message_start", "message": {**message(), "content": []}}
    stream = [anthropic_event(start), anthropic_event({"type": "message_stop"})]
    upstream.script("n/claude-x", FakeResponse(chunks=stream))
    served = await walker.serve(chain(native_entry()), ask(stream=True))
    assert upstream.calls[0].body == {**BODY, "model": "claude-x", "stream": True}
    assert served.native and served.stream is not None
    await served.stream.close()


async def test_a_native_429_falls_through_to_a_chat_entry_that_gets_chat(
    walker: Walker, upstream: FakeUpstream, tracker: MemoryTracker
) -> None:
    native = native_entry()
    refusal = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    upstream.script("n/claude-x", FakeResponse(429, refusal, {"retry-after": "20"}))
    served = await walker.serve(chain(native, entry("a")), ask())
    assert [a.kind for a in served.attempts] == ["rate_limited", "success"]
    assert upstream.calls[1].url == "http://a.test/v1/chat/completions"
    assert upstream.calls[1].body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert not served.native
    assert tracker.blocked(native) is not None


async def test_a_chat_429_falls_through_to_the_native_entry(
    walker: Walker, upstream: FakeUpstream
) -> None:
    upstream.script("a/m", FakeResponse(429, {"error": {"message": "slow down"}}))
    upstream.script("n/claude-x", FakeResponse(body=message()))
    served = await walker.serve(chain(entry("a"), native_entry()), ask())
    assert served.native and served.entry.key == "n/claude-x"
    assert upstream.calls[1].body == {**BODY, "model": "claude-x"}


async def test_an_anthropic_error_at_200_is_classified_as_its_type(
    walker: Walker, upstream: FakeUpstream
) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    upstream.script("n/claude-x", FakeResponse(body=overloaded))
    served = await walker.serve(chain(native_entry(), entry("a")), ask())
    assert served.attempts[0].kind == "upstream_error"
    assert served.attempts[0].status == 529


async def test_a_chat_request_skips_a_messages_only_entry(
    walker: Walker, upstream: FakeUpstream
) -> None:
    request = parse_request(orjson.dumps({"model": "c", "messages": BODY["messages"]}))
    served = await walker.serve(chain(native_entry(), entry("a")), request)
    assert served.attempts[0].skipped and served.attempts[0].kind == "unsupported"
    assert served.attempts[0].reason == "n does not serve chat"
    assert upstream.called() == ["a/m"]


async def test_an_entry_that_speaks_neither_is_skipped_and_says_so(walker: Walker) -> None:
    plain = entry("e")
    embeddings_only = replace(plain, preset=replace(plain.preset, operations=("embeddings",)))
    with pytest.raises(WalkFailed) as failed:
        await walker.serve(chain(embeddings_only), ask())
    assert failed.value.attempts[0].reason == "e does not serve chat or messages"


def anthropic_event(payload: dict[str, Any]) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
