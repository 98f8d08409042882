"""Routing strategies end to end: the openai SDK -> the proxy -> mock providers on loopback."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import aiohttp
import pytest

from chain429.engine.order import Router
from chain429.testing import Reply
from tests.e2e.conftest import make_config

pytestmark = pytest.mark.asyncio

MESSAGES: Any = [{"role": "user", "content": "hi"}]


def with_strategy(config: dict[str, Any], strategy: str) -> dict[str, Any]:
    for chain in config["chains"]:
        chain["strategy"] = strategy
    return config


async def served_by(client: Any, n: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(n):
        raw = await client.chat.completions.with_raw_response.create(
            model="default", messages=MESSAGES
        )
        counts[raw.headers["x-429chain-provider"]] += 1
    return counts


async def test_fastest_sends_most_traffic_to_the_fast_entry_after_warm_up(mocks, proxy) -> None:
    slow = await mocks(default=Reply(delay=0.3))
    fast = await mocks(default=Reply(delay=0.02))
    config = with_strategy(
        make_config({"slow": slow, "fast": fast}, {"default": ["slow/m", "fast/m"]}), "fastest"
    )
    # Exploration one time in four (seeded), so the warm-up takes a few requests, not twenty.
    p = await proxy(config, router=Router(random.Random(4).random, explore_every=4))
    client = p.client()
    for _ in range(40):  # warm-up: until the fast entry has been measured once
        if fast.calls:
            break
        await served_by(client, 1)
    assert fast.calls == 1, "exploration never reached the unmeasured entry"
    after = await served_by(client, 20)
    assert after["fast"] >= 18, after
    async with (
        aiohttp.ClientSession(headers=p.auth) as session,
        session.get(f"{p.url}/v1/ratelimits") as response,
    ):
        chains = (await response.json())["chains"]
    assert chains[0]["strategy"] == "fastest"
    assert chains[0]["order"] == ["fast/m", "slow/m"]
    assert chains[0]["next"] == "fast/m"


async def test_spread_gives_two_healthy_entries_a_fair_share(mocks, proxy) -> None:
    a, b = await mocks(), await mocks()
    config = with_strategy(make_config({"a": a, "b": b}, {"default": ["a/m", "b/m"]}), "spread")
    p = await proxy(config)
    counts = await served_by(p.client(), 20)
    assert abs(counts["a"] - counts["b"]) <= 2, counts
    assert a.calls + b.calls == 20  # no extra upstream calls


async def test_spread_follows_remaining_quota_ninety_to_ten(mocks, proxy) -> None:
    a, b = await mocks(), await mocks()
    extra = {
        "a": {"rate_limits": {"requests_per_day": 90}},
        "b": {"rate_limits": {"requests_per_day": 10}},
    }
    config = make_config({"a": a, "b": b}, {"default": ["a/m", "b/m"]}, provider_extra=extra)
    p = await proxy(with_strategy(config, "spread"))
    counts = await served_by(p.client(), 50)
    assert 40 <= counts["a"] <= 48, counts  # about nine in ten
    assert counts["a"] + counts["b"] == 50
