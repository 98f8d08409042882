"""Saved Responses API answers on SQLite and Postgres: per key, until they expire, pruned."""

from __future__ import annotations

import pytest

from chain429.storage.responses import (
    MemoryResponses,
    ResponseStore,
    SavedResponse,
    SqlResponses,
    prune_expired,
)
from chain429.storage.store import Store, StoreRef
from tests.unit.engine.fakes import FakeClock

pytestmark = pytest.mark.asyncio


def saved(response_id: str, key: str = "key-a", expires_at: float = 2_000.0) -> SavedResponse:
    return SavedResponse(
        response_id,
        key,
        1_000.0,
        expires_at,
        {"id": response_id, "object": "response", "output": [{"type": "message"}]},
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    )


def sql(store: Store | None, clock: FakeClock) -> SqlResponses:
    ref = StoreRef()
    ref.set(store)
    return SqlResponses(ref, MemoryResponses(clock=clock), clock)


async def check_the_contract(responses: ResponseStore, clock: FakeClock) -> None:
    await responses.save(saved("resp_1"))
    loaded = await responses.load("resp_1", "key-a")
    assert loaded == saved("resp_1")
    assert await responses.load("resp_1", "key-b") is None  # another key's is not there
    assert await responses.load("resp_2", "key-a") is None
    assert not await responses.delete("resp_1", "key-b")
    assert await responses.delete("resp_1", "key-a")
    assert await responses.load("resp_1", "key-a") is None
    await responses.save(saved("resp_3", expires_at=1_500.0))
    clock.now = 1_500.0
    assert await responses.load("resp_3", "key-a") is None  # expired: as if never saved


async def test_the_database_keeps_them_per_key_until_they_expire(store: Store) -> None:
    clock = FakeClock(1_000.0)
    await check_the_contract(sql(store, clock), clock)


async def test_memory_keeps_them_per_key_until_they_expire() -> None:
    clock = FakeClock(1_000.0)
    await check_the_contract(MemoryResponses(clock=clock), clock)


async def test_without_a_database_they_go_to_memory() -> None:
    clock = FakeClock(1_000.0)
    await check_the_contract(sql(None, clock), clock)


async def test_memory_drops_the_oldest_past_its_limit() -> None:
    responses = MemoryResponses(limit=2, clock=FakeClock(1_000.0))
    for n in range(3):
        await responses.save(saved(f"resp_{n}"))
    assert await responses.load("resp_0", "key-a") is None
    assert await responses.load("resp_2", "key-a") is not None


async def test_pruning_deletes_only_the_expired(store: Store) -> None:
    clock = FakeClock(1_000.0)
    responses = sql(store, clock)
    await responses.save(saved("resp_old", expires_at=1_100.0))
    await responses.save(saved("resp_new", expires_at=3_000.0))
    assert await prune_expired(store, 1_200.0) == 1
    clock.now = 1_050.0  # before either expired: only the row that is gone stays gone
    assert await responses.load("resp_old", "key-a") is None
    assert await responses.load("resp_new", "key-a") is not None


async def test_a_saved_answer_survives_reopening_the_database(database_url: str) -> None:
    clock = FakeClock(1_000.0)
    first = await Store.open(database_url)
    try:
        await sql(first, clock).save(saved("resp_kept"))
    finally:
        await first.close()
    second = await Store.open(database_url)
    try:
        assert await sql(second, clock).load("resp_kept", "key-a") == saved("resp_kept")
    finally:
        await second.close()
