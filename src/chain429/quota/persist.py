"""Keeps tracker state across restarts: reload at start, batched writes off the request path."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from chain429.tasks import Tasks

if TYPE_CHECKING:
    from chain429.quota.tracker import MemoryTracker, StateStore

logger = logging.getLogger("chain429.quota")


class TrackerPersister:
    """Every `interval_s`, writes the keys the tracker marked dirty, in a worker thread."""

    def __init__(self, tracker: MemoryTracker, store: StateStore, interval_s: float = 1.0) -> None:
        self._tracker = tracker
        self._store = store
        self._interval_s = interval_s
        self._tasks = Tasks()

    def start(self) -> None:
        self._tasks.start(self.run(), "persist-tracker")

    async def close(self) -> None:
        await self._tasks.close()
        await self.flush()

    def restore(self) -> int:
        rows = self._store.load()
        self._tracker.restore(rows)
        return len(rows)

    async def run(self) -> None:
        """Runs until cancelled; the last flush happens in `flush` at shutdown."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.flush()
            except Exception:  # a full disk must not take the proxy down; try again next tick
                logger.exception("could not persist the quota tracker's state")

    async def flush(self) -> None:
        if not self._tracker.dirty:
            return
        keys, self._tracker.dirty = self._tracker.dirty, set()
        rows = self._tracker.export(keys)
        await asyncio.to_thread(self._store.save, rows, self._tracker.clock())
