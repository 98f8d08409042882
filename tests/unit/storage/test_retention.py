"""Retention: old rows are rolled up at start and then on every tick."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select

from chain429.storage.retention import retention_loop
from chain429.storage.store import Store, StoreRef
from chain429.storage.tables import daily_rollups, requests
from tests.unit.storage.factories import BASE_TS, make_record, make_records

DAY = 86_400.0


async def eventually(check: Callable[[], Awaitable[Any]], want: Any) -> None:
    for _ in range(500):
        if await check() == want:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never got {want!r}")


async def count(store: Store) -> int:
    return int((await store.fetch(select(func.count().label("n")).select_from(requests)))[0]["n"])


async def test_old_rows_are_pruned_at_start_and_then_every_interval(store: Store) -> None:
    await store.insert(make_records(600))  # four days and a bit, from BASE_TS
    ref = StoreRef()
    ref.set(store)
    now = BASE_TS + 32 * DAY  # keep 30 days: everything before day 2 goes
    task = asyncio.create_task(retention_loop(ref, 30, lambda: now, interval_s=0.02))
    old = select(requests.c.id).where(requests.c.ts < now - 30 * DAY)
    try:
        await eventually(lambda: store.fetch(old), want=[])
        assert await count(store) == sum(r.ts >= BASE_TS + 2 * DAY for r in make_records(600))

        await store.insert([make_record(10_000, ts=BASE_TS)])  # an old straggler, next tick
        assert await store.fetch(old) == [{"id": "req00010000"}]
        await eventually(lambda: store.fetch(old), want=[])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    totals = await store.fetch(select(func.sum(daily_rollups.c.requests).label("n")))
    assert totals[0]["n"] + await count(store) == 601


async def test_zero_days_keeps_everything() -> None:
    await asyncio.wait_for(retention_loop(StoreRef(), 0), 10)  # returns


async def test_no_store_means_nothing_to_prune() -> None:
    ref = StoreRef()
    ref.set(None, "could not open")
    await asyncio.wait_for(retention_loop(ref, 30), 10)  # returns
