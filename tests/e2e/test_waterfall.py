"""The waterfall, end to end: the openai SDK -> the proxy -> mock providers on loopback."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import openai
import pytest

from chain429.testing import Hang, Reply, error_body
from tests.e2e.conftest import make_config, too_many, two_entries

pytestmark = pytest.mark.asyncio

MESSAGES: Any = [{"role": "user", "content": "hi"}]


async def test_first_entry_serves_and_the_body_is_forwarded_unchanged(mocks, proxy) -> None:
    a, b, p = await two_entries(mocks, proxy)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    raw = await p.client().chat.completions.with_raw_response.create(
        model="default",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            }
        ],
        temperature=0.3,
        max_tokens=50,
        top_p=0.9,
        stop=["\n"],
        seed=7,
        tools=tools,
        tool_choice="auto",
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        user="u1",
        extra_body={"some_future_field": {"nested": [1, 2]}},
    )
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-429chain-provider"] == "a"
    assert raw.headers["x-429chain-model"] == "m1"
    assert raw.headers["x-429chain-chain"] == "default"
    assert raw.headers["x-429chain-attempts"] == "1"
    assert raw.headers["x-429chain-skipped"] == "0"
    sent = a.requests[0]
    assert sent.json["model"] == "m1"
    assert sent.headers["authorization"] == "Bearer sk-upstream-a-secret"
    for field in (
        "temperature",
        "max_tokens",
        "top_p",
        "stop",
        "seed",
        "tools",
        "tool_choice",
        "response_format",
        "user",
        "some_future_field",
    ):
        assert field in sent.json, field
    assert sent.json["some_future_field"] == {"nested": [1, 2]}
    assert sent.json["messages"][0]["content"][1]["type"] == "image_url"
    assert b.calls == 0


async def test_429_falls_through_and_the_entry_is_then_skipped_without_a_call(mocks, proxy) -> None:
    a, b, p = await two_entries(mocks, proxy)
    a.script(too_many("30"))
    client = p.client()
    first = await client.chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES
    )
    assert first.headers["x-429chain-provider"] == "b"
    assert first.headers["x-429chain-attempts"] == "2"
    second = await client.chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES
    )
    assert second.headers["x-429chain-provider"] == "b"
    assert second.headers["x-429chain-attempts"] == "1"
    assert second.headers["x-429chain-skipped"] == "1"
    assert a.calls == 1 and b.calls == 2


async def test_cooldown_length_comes_from_retry_after(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(too_many("2"))  # 2 s: no 429 cools for less (the floor)
    client = p.client()
    await client.chat.completions.create(model="default", messages=MESSAGES)
    await client.chat.completions.create(model="default", messages=MESSAGES)
    assert a.calls == 1
    await asyncio.sleep(2.1)
    raw = await client.chat.completions.with_raw_response.create(model="default", messages=MESSAGES)
    assert raw.headers["x-429chain-provider"] == "a"


async def test_cooldown_length_comes_from_the_body_when_no_header(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(
        too_many(
            message="Rate limit reached on requests per minute (RPM). Please try again in 90.5s."
        )
    )
    client = p.client()
    await client.chat.completions.create(model="default", messages=MESSAGES)
    ratelimit = p.state.tracker.blocked(p.state.routes.chains["default"].entries[0])
    assert ratelimit is not None and ratelimit.free_at is not None
    assert 80 < ratelimit.free_at - time.time() <= 90.5  # not the 60 s default


async def test_auth_failure_cools_every_entry_of_that_provider(mocks, proxy) -> None:
    a, b = await mocks(), await mocks()
    config = make_config({"a": a, "b": b}, {"default": ["a/m1", "a/m2", "b/m3"]})
    p = await proxy(config)
    a.script(
        Reply(401, error_body(401, "Invalid API Key", "invalid_request_error", "invalid_api_key"))
    )
    raw = await p.client().chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES
    )
    assert raw.headers["x-429chain-provider"] == "b"
    assert raw.headers["x-429chain-skipped"] == "1"  # a/m2 was never called
    assert a.calls == 1


async def test_model_not_found_cools_the_entry(mocks, proxy) -> None:
    a, b, p = await two_entries(mocks, proxy)
    a.script(
        Reply(
            404,
            error_body(
                404, "The model `m1` does not exist", "invalid_request_error", "model_not_found"
            ),
        )
    )
    client = p.client()
    await client.chat.completions.create(model="default", messages=MESSAGES)
    await client.chat.completions.create(model="default", messages=MESSAGES)
    assert a.calls == 1 and b.calls == 2


async def test_context_length_falls_through_without_cooldown(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(
        Reply(
            400,
            error_body(
                400,
                "This model's maximum context length is 8192 tokens",
                "invalid_request_error",
                "context_length_exceeded",
            ),
        )
    )
    client = p.client()
    first = await client.chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES
    )
    assert first.headers["x-429chain-provider"] == "b"
    second = await client.chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES
    )
    assert second.headers["x-429chain-provider"] == "a"


async def test_a_bad_request_is_returned_at_once_not_sprayed(mocks, proxy) -> None:
    a, b, p = await two_entries(mocks, proxy)
    a.script(
        Reply(
            400,
            error_body(
                400,
                "temperature must be <= 2",
                "invalid_request_error",
                "invalid_value",
                "temperature",
            ),
        )
    )
    with pytest.raises(openai.BadRequestError) as caught:
        await p.client().chat.completions.create(model="default", messages=MESSAGES, temperature=9)
    assert caught.value.status_code == 400
    assert "temperature must be <= 2" in str(caught.value)
    assert caught.value.body["param"] == "temperature"  # type: ignore[index]
    assert b.calls == 0
    # ...and it is not the entry's fault: the next request goes to `a` again.
    raw = await p.client().chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES
    )
    assert raw.headers["x-429chain-provider"] == "a"


@pytest.mark.parametrize(
    "failure",
    [
        Reply(500, "oops"),
        Reply(502, "bad gateway"),
        Reply(503, "down"),
        Reply(408, "timeout"),
        Reply(200, "this is not json"),
        Reply(200, {"id": "x", "object": "chat.completion"}),
    ],
    ids=["500", "502", "503", "408", "garbage-200", "no-choices-200"],
)
async def test_server_errors_and_malformed_bodies_fall_through(mocks, proxy, failure) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(failure)
    raw = await p.client().chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES
    )
    assert raw.headers["x-429chain-provider"] == "b"


async def test_repeated_failures_open_the_breaker(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy, breaker_threshold=2)
    a.script(Reply(500, "x"), Reply(500, "y"))
    client = p.client()
    for _ in range(4):
        await client.chat.completions.create(model="default", messages=MESSAGES)
    assert a.calls == 2  # after two failures the breaker keeps it out
    blocked = p.state.tracker.blocked(p.state.routes.chains["default"].entries[0])
    assert blocked is not None and blocked.kind == "breaker"


async def test_timeout_falls_through(mocks, proxy) -> None:
    a, b = await mocks(), await mocks()
    config = make_config(
        {"a": a, "b": b}, {"default": ["a/m1", "b/m2"]}, provider_extra={"a": {"timeout_ms": 300}}
    )
    p = await proxy(config)
    a.script(Hang())
    started = time.monotonic()
    raw = await p.client().chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES
    )
    assert raw.headers["x-429chain-provider"] == "b"
    assert time.monotonic() - started < 5  # 0.3 s timeout; the default would be 60 s


async def test_connection_refused_falls_through(mocks, proxy, unused_tcp_port: int) -> None:
    b = await mocks()
    dead = f"http://127.0.0.1:{unused_tcp_port}/v1"
    p = await proxy(make_config({"a": dead, "b": b}, {"default": ["a/m1", "b/m2"]}))
    raw = await p.client().chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES
    )
    assert raw.headers["x-429chain-provider"] == "b"


async def test_all_rate_limited_gives_429_with_retry_after_naming_every_entry(mocks, proxy) -> None:
    a, b = await mocks(), await mocks()
    c = await mocks()
    p = await proxy(make_config({"a": a, "b": b, "c": c}, {"default": ["a/m1", "b/m2", "c/m3"]}))
    a.script(too_many("42"))
    b.script(too_many("7"))
    c.script(too_many("300"))
    client = p.client()
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="default", messages=MESSAGES)
    err = caught.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] in ("7", "8")
    assert err.code == "all_providers_exhausted"
    message = err.body["message"]  # type: ignore[index]
    assert message.startswith("Tried 3: ")
    for key in ("a/m1", "b/m2", "c/m3"):
        assert key in message
    # Now every entry is cooling: skipped without a call, and still a 429.
    with pytest.raises(openai.RateLimitError) as again:
        await client.chat.completions.create(model="default", messages=MESSAGES)
    assert "skipped: cooling down" in again.value.body["message"]  # type: ignore[index]
    assert a.calls == b.calls == c.calls == 1


async def test_mixed_failures_give_503(mocks, proxy) -> None:
    a, b, p = await two_entries(mocks, proxy)
    a.script(too_many("10"))
    b.script(Reply(500, "boom"))
    with pytest.raises(openai.InternalServerError) as caught:
        await p.client().chat.completions.create(model="default", messages=MESSAGES)
    assert caught.value.status_code == 503
    assert caught.value.code == "all_providers_exhausted"
    assert "a/m1 (429" in caught.value.body["message"]  # type: ignore[index]
    assert "b/m2 (500" in caught.value.body["message"]  # type: ignore[index]


async def test_the_deadline_bounds_the_whole_walk(mocks, proxy) -> None:
    a, b, p = await two_entries(mocks, proxy, deadline_ms=500)
    a.script(Hang())
    b.script(Hang())
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        await p.client().chat.completions.create(model="default", messages=MESSAGES)
    assert time.monotonic() - started < 5  # a 0.5 s deadline; the default is 300 s
    assert "timeout" in caught.value.body["message"]  # type: ignore[index]


async def test_normalize_responses_copies_reasoning_into_content(mocks, proxy) -> None:
    from chain429.testing import completion

    a, _b, p = await two_entries(mocks, proxy, normalize_responses=True)
    body = completion(content="", reasoning_content="thought it through")
    a.script(Reply(200, body))
    result = await p.client().chat.completions.create(model="default", messages=MESSAGES)
    assert result.choices[0].message.content == "thought it through"


async def test_concurrent_slow_success_does_not_clear_a_429_cooldown(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy)
    a.script(Reply(200, None, delay=0.5), too_many("60"))
    client = p.client()
    slow = asyncio.create_task(client.chat.completions.create(model="default", messages=MESSAGES))
    await asyncio.sleep(0.1)
    await client.chat.completions.create(model="default", messages=MESSAGES)  # the 429
    await slow
    assert p.state.tracker.blocked(p.state.routes.chains["default"].entries[0]) is not None


async def test_client_disconnect_cancels_the_upstream_call(mocks, proxy) -> None:
    a, b, p = await two_entries(mocks, proxy)
    a.script(Hang())
    async with aiohttp.ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(
                f"{p.url}/v1/chat/completions",
                json={"model": "default", "messages": MESSAGES},
                headers=p.auth,
                timeout=aiohttp.ClientTimeout(total=0.3),
            )
    for _ in range(500):  # up to 10 s; a moment when idle
        if a.in_flight == 0:
            break
        await asyncio.sleep(0.02)
    assert a.in_flight == 0
    assert b.calls == 0
    entry = p.state.routes.chains["default"].entries[0]
    assert p.state.tracker.state(entry).in_flight == 0


async def test_first_byte_timeout_bounds_the_wait_for_headers(mocks, proxy) -> None:
    a, _b, p = await two_entries(mocks, proxy, first_byte_timeout_ms=300)
    a.script(Hang())
    started = time.monotonic()
    raw = await p.client().chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES
    )
    assert raw.headers["x-429chain-provider"] == "b"
    assert time.monotonic() - started < 5  # 0.3 s; the default first-byte timeout is 60 s
    assert a.calls == 1
