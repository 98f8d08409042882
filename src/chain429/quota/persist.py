"""Keeps tracker state across restarts: reload at start, batched writes off the request path."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from chain429.quota.tracker import MemoryTracker

logger = logging.getLogger("chain429.quota")


class StateStore(Protocol):
    def load(self) -> dict[str, dict[str, Any]]: ...

    def save(self, rows: dict[str, dict[str, Any]], now: float) -> None: ...


class TrackerPersister:
    """Every `interval_s`, writes the keys the tracker marked dirty, in a worker thread."""

    def __init__(self, tracker: MemoryTracker, store: StateStore, interval_s: float = 1.0) -> None:
        self._tracker = tracker
        self._store = store
        self._interval_s = interval_s
        self._saving: asyncio.Future[None] | None = None  # the save running in its thread

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
        if self._saving is not None:  # cancelling `run` does not stop its thread: wait for it
            await asyncio.wait([self._saving])
        if not self._tracker.dirty:
            return
        keys, self._tracker.dirty = self._tracker.dirty, set()
        rows = self._tracker.export(keys)
        save = asyncio.to_thread(self._store.save, rows, self._tracker.clock())
        self._saving = asyncio.ensure_future(save)
        await asyncio.shield(self._saving)
