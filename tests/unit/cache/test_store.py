"""The memory LRU: TTL on a fake clock, bounds on entries and bytes."""

from __future__ import annotations

from chain429.cache.store import CachedAnswer, MemoryCache
from tests.unit.engine.fakes import FakeClock


def answer(size: int = 10) -> CachedAnswer:
    return CachedAnswer(b"x" * size, "p", "m")


async def test_an_answer_expires_after_its_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(10, 10_000, clock)
    await cache.put("k", answer(), 60)
    assert await cache.get("k") == answer()
    clock.advance(61)
    assert await cache.get("k") is None
    assert len(cache) == 0 and cache.bytes == 0


async def test_the_least_recently_used_goes_first_when_entries_run_out() -> None:
    cache = MemoryCache(2, 10_000, FakeClock())
    await cache.put("a", answer(), 60)
    await cache.put("b", answer(), 60)
    assert await cache.get("a") is not None  # a is now the most recent
    await cache.put("c", answer(), 60)
    assert await cache.get("b") is None
    assert await cache.get("a") is not None and await cache.get("c") is not None
    assert cache.evicted == 1


async def test_bytes_are_bounded_and_an_oversize_answer_is_not_kept() -> None:
    size = answer(100).size
    cache = MemoryCache(100, size * 2, FakeClock())
    for name in "abc":
        await cache.put(name, answer(100), 60)
    assert len(cache) == 2 and cache.bytes <= size * 2
    await cache.put("huge", answer(size * 3), 60)
    assert await cache.get("huge") is None and len(cache) == 2
