"""The persister never runs two saves at once, even when shutdown cancels one mid-write."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from chain429.quota.persist import TrackerPersister
from chain429.quota.tracker import MemoryTracker


class SlowStore:
    """A store whose save blocks until released, counting saves that overlap."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.running = 0
        self.overlaps = 0
        self.saves = 0
        self._lock = threading.Lock()

    def load(self) -> dict[str, dict[str, Any]]:
        return {}

    def save(self, rows: dict[str, dict[str, Any]], now: float) -> None:
        with self._lock:
            self.running += 1
            self.overlaps += self.running > 1
        self.started.set()
        self.release.wait(10)
        with self._lock:
            self.running -= 1
            self.saves += 1


async def test_the_final_flush_waits_for_a_save_cancelled_mid_write() -> None:
    tracker = MemoryTracker()
    store = SlowStore()
    persister = TrackerPersister(tracker, store, interval_s=0.0)
    tracker.dirty.add("entry:a/m")
    running = asyncio.create_task(persister.run())
    await asyncio.to_thread(store.started.wait, 10)
    running.cancel()  # as at shutdown: the save goes on in its thread
    tracker.dirty.add("entry:b/m")
    final = asyncio.create_task(persister.flush())
    await asyncio.sleep(0.05)
    store.release.set()
    await final
    assert (store.saves, store.overlaps) == (2, 0)
