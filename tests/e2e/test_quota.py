"""Quota intelligence end to end: mocks that enforce real budgets and send real headers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import openai
import pytest

from chain429.testing import Budget, Reply, completion, error_body
from tests.e2e.conftest import make_config

pytestmark = pytest.mark.asyncio

MESSAGES: Any = [{"role": "user", "content": "hi"}]


async def ask(client: openai.AsyncOpenAI, model: str = "default", **kw: Any) -> Any:
    return await client.chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, max_tokens=16, **kw
    )


async def test_a_burst_within_the_chain_capacity_is_served_without_429s(mocks, proxy) -> None:
    providers = {
        name: await mocks(limits=Budget(rpm=10), header_dialect="openai")
        for name in ("a", "b", "c")
    }
    p = await proxy(make_config(providers, {"default": ["a/m", "b/m", "c/m"]}))
    client = p.client()
    for name in providers:  # one request each teaches the proxy every entry's headers
        await ask(client, f"{name}/m")
    burst = await asyncio.gather(*(ask(client) for _ in range(26)))
    served_by = [r.headers["x-429chain-provider"] for r in burst]
    assert len(served_by) == 26
    assert {name: served_by.count(name) for name in providers} == {"a": 9, "b": 9, "c": 8}
    assert sum(mock.rate_limited for mock in providers.values()) == 0


async def test_an_unlearned_burst_is_still_fully_served(mocks, proxy) -> None:
    providers = {
        name: await mocks(limits=Budget(rpm=10), header_dialect="groq") for name in ("a", "b", "c")
    }
    p = await proxy(make_config(providers, {"default": ["a/m", "b/m", "c/m"]}))
    burst = await asyncio.gather(*(ask(p.client()) for _ in range(27)))
    assert all(r.http_response.status_code == 200 for r in burst)


async def test_a_cold_burst_spends_almost_no_round_trips_on_429s(mocks, proxy) -> None:
    """Nothing known yet about `a` (10 left this minute) when 50 arrive at once: only a few go
    before its first answer teaches the proxy, and the rest fall through without a 429."""
    a = await mocks(limits=Budget(rpm=10), header_dialect="openai")
    b = await mocks()
    p = await proxy(make_config({"a": a, "b": b}, {"default": ["a/m", "b/m"]}))
    burst = await asyncio.gather(*(ask(p.client()) for _ in range(50)))
    served_by = [r.headers["x-429chain-provider"] for r in burst]
    assert len(served_by) == 50
    assert served_by.count("a") == 10  # all of its capacity was used
    assert a.rate_limited == 0


async def test_limits_known_only_from_config_keep_429s_under_one_percent(mocks, proxy) -> None:
    providers = {
        name: await mocks(limits=Budget(rpm=70), header_dialect="none") for name in ("a", "b", "c")
    }
    limits = {name: {"rate_limits": {"requests_per_minute": 70}} for name in providers}
    p = await proxy(
        make_config(providers, {"default": ["a/m", "b/m", "c/m"]}, provider_extra=limits)
    )
    client = p.client()
    results = []
    for _ in range(4):
        results += await asyncio.gather(*(ask(client) for _ in range(50)))
    assert len(results) == 200
    rejected = sum(mock.rate_limited for mock in providers.values())
    assert rejected <= 2, rejected


async def test_concurrency_limit_spills_to_the_next_entry(mocks, proxy) -> None:
    a, b = await mocks(), await mocks()
    p = await proxy(
        make_config(
            {"a": a, "b": b},
            {"default": ["a/m", "b/m"]},
            provider_extra={"a": {"rate_limits": {"concurrent_requests": 1}}},
        )
    )
    a.script(*[Reply(200, None, delay=0.3)] * 3)
    results = await asyncio.gather(*(ask(p.client()) for _ in range(3)))
    served = sorted(r.headers["x-429chain-provider"] for r in results)
    assert served == ["a", "b", "b"]
    assert a.calls == 1


async def test_tokens_per_minute_is_enforced_before_sending(mocks, proxy) -> None:
    a, b = await mocks(), await mocks()
    p = await proxy(
        make_config(
            {"a": a, "b": b},
            {"default": ["a/m", "b/m"]},
            provider_extra={"a": {"rate_limits": {"tokens_per_minute": 600}}},
        )
    )
    a.script(Reply(200, completion(usage=(20, 480))))  # real usage settles the estimate
    client = p.client()
    first = await client.chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES, max_tokens=500
    )
    second = await client.chat.completions.with_raw_response.create(
        model="default", messages=MESSAGES, max_tokens=500
    )
    assert first.headers["x-429chain-provider"] == "a"
    assert second.headers["x-429chain-provider"] == "b"
    assert a.calls == 1


async def test_chain_entry_limits_override_the_provider(mocks, proxy) -> None:
    a, b = await mocks(), await mocks()
    config = make_config(
        {"a": a, "b": b},
        {"default": ["a/m", "b/m"]},
        provider_extra={"a": {"rate_limits": {"requests_per_minute": 100}}},
    )
    config["chains"][0]["entries"][0]["rate_limits"] = {"requests_per_minute": 1}
    p = await proxy(config)
    first, second = await ask(p.client()), await ask(p.client())
    assert first.headers["x-429chain-provider"] == "a"
    assert second.headers["x-429chain-provider"] == "b"


async def test_cooldowns_and_daily_counters_survive_a_restart(mocks, proxy, tmp_path) -> None:
    a, b = await mocks(), await mocks()
    config = make_config(
        {"a": a, "b": b},
        {"default": ["a/m", "b/m"]},
        settings={"database_url": str(tmp_path / "kept.db")},
        provider_extra={"b": {"rate_limits": {"requests_per_day": 5}}},
    )
    a.script(Reply(429, error_body(429, "slow down"), {"retry-after": "600"}))
    first = await proxy(config)
    await ask(first.client())
    await ask(first.client())
    await first.stop()
    second = await proxy(config)
    raw = await ask(second.client())
    assert raw.headers["x-429chain-provider"] == "b"
    assert raw.headers["x-429chain-skipped"] == "1"  # still cooling: no call made
    assert a.calls == 1
    report = {r["entry"]: r for r in (await ratelimits(second))["ratelimits"]}
    assert report["b/m"]["manual"]["requests_per_day"]["used"] == 3


async def ratelimits(p: Any) -> Any:
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{p.url}/v1/ratelimits", headers=p.auth)
        assert response.status == 200
        return await response.json()


async def test_ratelimits_reports_state_and_next_entry(mocks, proxy) -> None:
    a = await mocks(limits=Budget(rpm=10), header_dialect="openai")
    b = await mocks()
    p = await proxy(make_config({"a": a, "b": b}, {"default": ["a/m", "b/m"]}))
    await ask(p.client())
    body = await ratelimits(p)
    report = {r["entry"]: r for r in body["ratelimits"]}
    assert report["a/m"]["state"] == "tracking"
    assert report["a/m"]["learned"]["requests/minute"]["remaining"] == 9
    assert report["a/m"]["quota"]["remainingRequests"] == 9
    assert report["b/m"]["state"] == "available"
    assert body["chains"] == [
        {
            "name": "default",
            "strategy": "ordered",
            "kind": "chat",
            "entries": ["a/m", "b/m"],
            "order": ["a/m", "b/m"],
            "next": "a/m",
        }
    ]
    a.script(Reply(429, error_body(429, "slow"), {"retry-after": "30"}))
    await ask(p.client())
    body = await ratelimits(p)
    report = {r["entry"]: r for r in body["ratelimits"]}
    assert report["a/m"]["state"] == "cooling"
    assert 25 < report["a/m"]["cooldown_left_s"] <= 30
    assert body["chains"][0]["next"] == "b/m"
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{p.url}/v1/ratelimits")
        assert response.status == 401


async def test_a_request_may_wait_for_capacity(mocks, proxy) -> None:
    a = await mocks()
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    a.script(Reply(429, error_body(429, "slow"), {"retry-after": "2"}))
    client = p.client()
    with pytest.raises(openai.RateLimitError):
        await ask(client)
    started = time.monotonic()
    raw = await ask(client, extra_headers={"X-429chain-Max-Wait": "20s"})
    waited = time.monotonic() - started
    assert raw.headers["x-429chain-provider"] == "a"
    assert len(a.requests) == 2  # the waiter made one call, when the entry had room again
    assert waited > 1.0  # it waited for the cooldown rather than calling into it


async def test_waiting_is_refused_when_the_wait_would_be_too_long(mocks, proxy) -> None:
    a = await mocks()
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    a.script(Reply(429, error_body(429, "slow"), {"retry-after": "600"}))
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        await ask(p.client(), extra_headers={"X-429chain-Max-Wait": "60s"})
    assert time.monotonic() - started < 6  # refused at once, not after the 60 s allowance
    assert a.calls == 1


async def test_waiting_is_refused_without_a_known_reset(mocks, proxy) -> None:
    a = await mocks()
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    a.script(Reply(500, "down"))
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError):
        await ask(p.client(), extra_headers={"X-429chain-Max-Wait": "60s"})
    assert time.monotonic() - started < 6  # refused at once, not after the 60 s allowance
    assert a.calls == 1


async def test_waiters_are_served_first_in_first_out_once_each(mocks, proxy) -> None:
    a = await mocks()
    config = make_config(
        {"a": a},
        {"default": ["a/m"]},
        provider_extra={"a": {"rate_limits": {"concurrent_requests": 1}}},
    )
    config["chains"][0]["max_wait_ms"] = 5000
    p = await proxy(config)
    a.script(*[Reply(200, None, delay=0.15)] * 5)
    order: list[int] = []

    async def one(i: int) -> None:
        await ask(p.client(), user=f"u{i}")
        order.append(i)

    tasks = []
    for i in range(5):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(0.02)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert [r.json["user"] for r in a.requests] == [f"u{i}" for i in range(5)]


async def test_a_waiter_that_disconnects_opens_no_upstream_call(mocks, proxy) -> None:
    a = await mocks()
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    a.script(Reply(429, error_body(429, "slow"), {"retry-after": "1"}))
    with pytest.raises(openai.RateLimitError):
        await ask(p.client())
    async with aiohttp.ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(
                f"{p.url}/v1/chat/completions",
                json={"model": "default", "messages": MESSAGES},
                headers={**p.auth, "X-429chain-Max-Wait": "5s"},
                timeout=aiohttp.ClientTimeout(total=0.3),
            )
    await asyncio.sleep(1.2)
    assert a.calls == 1
    assert p.state.walker.waiting.waiting == 0


async def test_bad_max_wait_header_is_a_400(mocks, proxy) -> None:
    a = await mocks()
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(p.client(), extra_headers={"X-429chain-Max-Wait": "soon"})
    assert caught.value.code == "invalid_header"


async def test_waiters_call_upstream_in_parallel_once_served(mocks, proxy) -> None:
    a = await mocks()
    config = make_config(
        {"a": a},
        {"default": ["a/m"]},
        provider_extra={"a": {"rate_limits": {"concurrent_requests": 3}}},
    )
    config["chains"][0]["max_wait_ms"] = 5000
    p = await proxy(config)
    a.script(*[Reply(200, None, delay=0.5)] * 6)
    waiters_at_once = 0

    async def watch() -> None:  # how many waiters' calls are upstream together
        nonlocal waiters_at_once
        while True:
            if a.calls > 3:
                waiters_at_once = max(waiters_at_once, a.in_flight)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(*(ask(p.client(), user=f"u{i}") for i in range(6)))
    watcher.cancel()
    assert len(results) == 6
    # Three run, three wait; the waiters' calls overlap (one queue, not one call at a time).
    assert waiters_at_once >= 2
    assert a.calls == 6
