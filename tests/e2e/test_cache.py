"""The exact-match response cache end to end, through the openai SDK."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import aiohttp
import pytest

from chain429.testing import Stream, chunk
from tests.e2e.conftest import make_config

pytestmark = pytest.mark.asyncio

MESSAGES: Any = [{"role": "user", "content": "What is 2+2?"}]


async def cached_proxy(mocks: Any, proxy: Any, **cache: Any) -> tuple[Any, Any]:
    a = await mocks()
    config = make_config({"a": a}, {"default": ["a/m"]}, {"cache": {"enabled": True, **cache}})
    return a, await proxy(config)


async def ask(client: Any, **kw: Any) -> Any:
    kw.setdefault("temperature", 0)
    kw.setdefault("model", "default")
    return await client.chat.completions.with_raw_response.create(messages=MESSAGES, **kw)


async def said(client: Any, **kw: Any) -> str:
    """What the cache header said about this request."""
    return str((await ask(client, **kw)).headers["x-429chain-cache"])


async def test_a_cache_hit_makes_no_upstream_call_and_is_logged_as_such(mocks, proxy) -> None:
    a, p = await cached_proxy(mocks, proxy)
    client = p.client()
    first = await ask(client)
    assert first.headers["x-429chain-cache"] == "miss"
    second = await ask(client, user="someone-else")  # `user` does not change the answer
    assert second.headers["x-429chain-cache"] == "hit"
    assert second.headers["x-429chain-provider"] == "cache"
    assert second.headers["x-429chain-attempts"] == "0"
    assert a.calls == 1
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    metrics = p.state.metrics
    assert metrics is not None
    hits = [k for k in metrics.requests if k[1] == "cache"]
    assert hits == [("default", "cache", "success", "200")]


async def test_no_cache_goes_upstream_and_no_store_neither_reads_nor_stores(mocks, proxy) -> None:
    a, p = await cached_proxy(mocks, proxy)
    client = p.client()
    await ask(client)
    fresh = await ask(client, extra_headers={"Cache-Control": "no-cache"})
    assert fresh.headers["x-429chain-cache"] == "miss" and a.calls == 2
    bypass = await ask(client, extra_headers={"Cache-Control": "no-store"})
    assert bypass.headers["x-429chain-cache"] == "bypass" and a.calls == 3
    # no-store with a new body stores nothing: the next plain request goes upstream.
    await ask(client, max_tokens=7, extra_headers={"Cache-Control": "no-store"})
    again = await ask(client, max_tokens=7)
    assert again.headers["x-429chain-cache"] == "miss" and a.calls == 5


async def test_no_cache_stores_the_fresh_answer_for_the_next_request(mocks, proxy) -> None:
    """The first request of a body carries no-cache: nothing was stored before it, so only
    its own answer can make the plain request after it a hit."""
    a, p = await cached_proxy(mocks, proxy)
    client = p.client()
    fresh = await ask(client, extra_headers={"Cache-Control": "no-cache"})
    assert fresh.headers["x-429chain-cache"] == "miss" and a.calls == 1
    plain = await ask(client)
    assert plain.headers["x-429chain-cache"] == "hit" and a.calls == 1
    assert plain.parse().choices[0].message.content == fresh.parse().choices[0].message.content


async def test_nondeterministic_requests_bypass_unless_allowed(mocks, proxy) -> None:
    a, p = await cached_proxy(mocks, proxy)
    client = p.client()
    for _ in range(2):
        raw = await ask(client, temperature=0.8)
        assert raw.headers["x-429chain-cache"] == "bypass"
    assert a.calls == 2
    b, q = await cached_proxy(mocks, proxy, cache_nondeterministic=True)
    client = q.client()
    await ask(client, temperature=0.8)
    assert (await ask(client, temperature=0.8)).headers["x-429chain-cache"] == "hit"
    assert b.calls == 1


async def test_a_stream_is_stored_when_it_ends_cleanly_and_replayed_as_a_stream(
    mocks, proxy
) -> None:
    a, p = await cached_proxy(mocks, proxy)
    client = p.client()
    streamed = await client.chat.completions.create(
        model="default", messages=MESSAGES, temperature=0, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in streamed if c.choices])
    assert a.calls == 1
    whole = await ask(client)  # a non-stream request is answered from the streamed answer
    assert whole.headers["x-429chain-cache"] == "hit"
    assert whole.parse().choices[0].message.content == text
    replay = await client.chat.completions.with_raw_response.create(
        model="default",
        messages=MESSAGES,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert replay.headers["x-429chain-cache"] == "hit"
    chunks = [c async for c in replay.parse()]
    assert len(chunks) > 3  # chunked like a real stream
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert a.calls == 1


async def test_a_stream_that_broke_is_not_stored(mocks, proxy) -> None:
    a, p = await cached_proxy(mocks, proxy)
    client = p.client()
    a.script(Stream(reset_after=2))
    streamed = await client.chat.completions.create(
        model="default", messages=MESSAGES, temperature=0, stream=True
    )
    with pytest.raises(Exception):  # noqa: B017, PT011  # the SDK raises on the error event
        async for _ in streamed:
            pass
    raw = await ask(client)
    assert raw.headers["x-429chain-cache"] == "miss"
    assert a.calls == 2


async def test_a_stream_past_max_response_bytes_is_relayed_whole_but_not_stored(
    mocks, proxy
) -> None:
    """The cache holds a stream's parts until it ends; past the bound (here
    max_response_bytes, below the cache's own) it lets them go and stores nothing."""
    long_stream = [chunk(role="assistant", content="x"), *[chunk(content="y" * 1000)] * 50]
    a = await mocks(default=Stream(long_stream))
    settings = {"cache": {"enabled": True}, "max_response_bytes": 20_000}
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}, settings))
    client = p.client()
    for _ in range(2):
        raw = await client.chat.completions.with_raw_response.create(
            model="default", messages=MESSAGES, temperature=0, stream=True
        )
        assert raw.headers["x-429chain-cache"] == "miss"
        text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
        assert text == "x" + "y" * 50_000  # the client got all of it
    assert a.calls == 2


async def test_cache_off_says_nothing_and_always_goes_upstream(mocks, proxy) -> None:
    a = await mocks()
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    client = p.client()
    for _ in range(2):
        raw = await ask(client)
        assert "x-429chain-cache" not in raw.headers
    assert a.calls == 2


async def test_hits_reach_the_request_log_the_stats_and_the_savings(mocks, proxy, tmp_path) -> None:
    a = await mocks()
    db = tmp_path / "log.db"
    settings = {"cache": {"enabled": True}, "database_url": str(db)}
    config = make_config({"a": a}, {"default": ["a/m"]}, settings)
    config["providers"][0]["type"] = "groq"  # a preset with list prices
    config["providers"][0]["base_url"] = a.url
    config["chains"][0]["entries"][0]["model"] = "llama-3.3-70b-versatile"
    p = await proxy(config)
    client = p.client()
    await ask(client)
    await ask(client)
    assert a.calls == 1
    writer = p.state.writer
    assert writer is not None
    for _ in range(200):
        if writer.queued == 0 and p.state.store.store is not None:
            break
        await asyncio.sleep(0.025)
    await asyncio.sleep(0.05)
    with sqlite3.connect(db) as conn:
        logged = list(conn.execute("SELECT provider, model, calls, outcome FROM requests"))
    assert ("cache", "a/llama-3.3-70b-versatile", 0, "success") in logged
    async with aiohttp.ClientSession(headers=p.auth) as session:
        async with session.get(f"{p.url}/v1/stats/providers") as response:
            providers = {row["provider_id"]: row for row in (await response.json())["providers"]}
        async with session.get(f"{p.url}/v1/stats/savings") as response:
            savings = {row["provider_id"]: row for row in (await response.json())["providers"]}
    assert providers["cache"]["total_requests"] == 1
    assert savings["cache"]["saved"] > 0
    assert savings["cache"]["saved"] == savings["a"]["saved"]  # the same answer, priced alike


class Clock:
    """Wall time plus a jump the test makes: the app (its cache's TTLs included) sees the
    jump, so no sleep is needed, and each jump clears a TTL by seconds, not milliseconds."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def test_answers_expire_after_the_ttl_a_chain_may_set_its_own(mocks, proxy) -> None:
    a = await mocks()
    config = make_config(
        {"a": a}, {"default": ["a/m"], "short": ["a/m"]}, {"cache": {"enabled": True, "ttl_s": 600}}
    )
    config["chains"][1]["cache"] = {"ttl_s": 60}
    clock = Clock()
    p = await proxy(config, clock=clock)
    client = p.client()
    for chain in ("default", "short"):
        assert await said(client, model=chain) == "miss"
    assert a.calls == 2
    clock.offset = 20.0  # within both TTLs, with 40 s of real time to spare
    for chain in ("default", "short"):
        assert await said(client, model=chain) == "hit"
    assert a.calls == 2
    clock.offset = 100.0  # past the chain's own 60 s, within the global 600 s
    assert await said(client, model="short") == "miss"
    assert await said(client, model="default") == "hit"
    assert a.calls == 3
    clock.offset = 700.0  # past the global TTL too
    assert await said(client, model="default") == "miss"
    assert await said(client, model="default") == "hit"
    assert a.calls == 4


async def test_max_entries_evicts_the_least_recently_used_answer(mocks, proxy) -> None:
    a, p = await cached_proxy(mocks, proxy, max_entries=2)
    client = p.client()
    assert [await said(client, max_tokens=1), await said(client, max_tokens=2)] == ["miss"] * 2
    assert await said(client, max_tokens=1) == "hit"  # 1 is now the more recently used
    assert await said(client, max_tokens=3) == "miss"  # a third answer: 2 goes, not 1 (first in)
    assert await said(client, max_tokens=1) == "hit"
    assert await said(client, max_tokens=2) == "miss"
    assert a.calls == 4


async def test_max_bytes_bounds_the_cache_and_an_oversize_answer_is_not_kept(mocks, proxy) -> None:
    small, big = await mocks(), await mocks(reply_text="word " * 400)
    config = make_config(
        {"s": small, "b": big},
        {"default": ["s/m"], "big": ["b/m"]},
        {"cache": {"enabled": True, "max_bytes": 1024}},
    )
    client = (await proxy(config)).client()
    # About 350 bytes an answer: two fit in 1 kB, a third pushes out the least recently used.
    assert [await said(client, max_tokens=n) for n in (1, 2, 3)] == ["miss"] * 3
    assert await said(client, max_tokens=1) == "miss"  # it went when 3 came; now 2 goes
    assert await said(client, max_tokens=3) == "hit"
    assert await said(client, max_tokens=2) == "miss"  # and 1 goes
    # A 2 kB answer is never kept, and offering it to the cache pushes nothing out.
    assert [await said(client, model="big"), await said(client, model="big")] == ["miss"] * 2
    assert [await said(client, max_tokens=3), await said(client, max_tokens=2)] == ["hit"] * 2
    assert (small.calls, big.calls) == (5, 2)


async def test_a_chain_switches_the_cache_on_or_off_for_itself(mocks, proxy) -> None:
    # Off globally, on for one chain: only that chain caches.
    a = await mocks()
    config = make_config({"a": a}, {"cached": ["a/m"], "plain": ["a/m"]})
    config["chains"][0]["cache"] = True
    client = (await proxy(config)).client()
    assert [await said(client, model="cached") for _ in range(2)] == ["miss", "hit"]
    for _ in range(2):
        assert "x-429chain-cache" not in (await ask(client, model="plain")).headers
    assert a.calls == 3
    # On globally, off for one chain: that chain always goes upstream and says nothing.
    b = await mocks()
    config = make_config(
        {"b": b}, {"cached": ["b/m"], "plain": ["b/m"]}, {"cache": {"enabled": True}}
    )
    config["chains"][1]["cache"] = False
    client = (await proxy(config)).client()
    for _ in range(2):
        assert "x-429chain-cache" not in (await ask(client, model="plain")).headers
    assert [await said(client, model="cached") for _ in range(2)] == ["miss", "hit"]
    assert b.calls == 3


WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
# One field each, added to an otherwise identical request; each changes the answer.
VARIANTS: dict[str, Any] = {
    "tools": [WEATHER],
    "response_format": {"type": "json_object"},
    "top_p": 0.5,
    "n": 2,
}


@pytest.mark.parametrize("field", list(VARIANTS))
async def test_tools_response_format_top_p_and_n_are_part_of_the_key(
    mocks, proxy, field: str
) -> None:
    # Nondeterministic requests cached too, so top_p and n are cached and not bypassed.
    a, p = await cached_proxy(mocks, proxy, cache_nondeterministic=True)
    client = p.client()
    assert await said(client, seed=7) == "miss"
    variant = {"seed": 7, field: VARIANTS[field]}
    assert await said(client, **variant) == "miss"
    assert await said(client, **variant) == "hit"
    assert await said(client, seed=7) == "hit"
    assert a.calls == 2
    assert a.requests[1].json[field] == VARIANTS[field]  # the SDK sent the field as given


async def test_top_p_without_a_seed_and_n_above_one_bypass_by_default(mocks, proxy) -> None:
    a, p = await cached_proxy(mocks, proxy)
    client = p.client()
    for extra in ({"top_p": 0.5}, {"n": 2}, {"top_p": 0.5}, {"n": 2}):
        assert await said(client, **extra) == "bypass"
    assert await said(client, top_p=0.5, seed=7) == "miss"
    assert await said(client, top_p=0.5, seed=7) == "hit"
    assert a.calls == 5
