"""Keeps tracker state across restarts: reload at start, batched writes off the request path.

Every call on the store runs in one worker thread owned by the persister, one at a time: a
save that outlives its cancelled caller (a thread cannot be stopped) can never overlap the
next one on the same database connection. The tracker is touched only in the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

logger = logging.getLogger("chain429.quota")

Rows = dict[str, dict[str, Any]]
T = TypeVar("T")


class Exportable(Protocol):
    """The few tracker members persistence needs (see `MemoryTracker`)."""

    dirty: set[str]
    clock: Callable[[], float]

    def export(self, keys: set[str] | None = None) -> Rows: ...

    def restore(self, rows: Rows) -> None: ...


class StateStore(Protocol):
    def load(self) -> Rows: ...

    def save(self, rows: Rows, now: float) -> None: ...

    def ensure_file(self) -> bool:
        """Reopen the store if its file went away; True if it was recreated (and is empty)."""
        ...

    def close(self) -> None: ...


@dataclass(slots=True)
class PersistStatus:
    """Where the tracker's state is kept, and why not on disk; shown by /health."""

    path: str | None
    persisted: bool = False  # False: in memory only, lost at exit
    error: str | None = None  # the last reason the state could not be read or written
    recreated: int = 0  # times the file was found deleted or replaced and made again

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "persisted": self.persisted,
            "error": self.error,
            "recreated": self.recreated,
        }


class TrackerPersister:
    """Every `interval_s`, writes the keys the tracker marked dirty, in its own worker thread."""

    def __init__(
        self,
        tracker: Exportable,
        store: StateStore,
        interval_s: float = 1.0,
        status: PersistStatus | None = None,
    ) -> None:
        self._tracker = tracker
        self._store = store
        self._interval_s = interval_s
        self.status = status or PersistStatus(path=None, persisted=True)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="persist-tracker")
        self._inflight: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()  # `wake` sets it; `run` writes at once

    def restore(self) -> int:
        rows = self._thread.submit(self._store.load).result()
        self._tracker.restore(rows)
        return len(rows)

    async def run(self) -> None:
        """Runs until cancelled; the last flush happens in `close` at shutdown."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()
            try:
                await self.check_file()
                await self.flush()
            except Exception as exc:  # a full disk must not take the proxy down; retry next tick
                self.status.error = f"could not write the tracker state: {exc}"
                logger.exception("could not persist the quota tracker's state")

    def wake(self) -> None:
        """Write now, not at the next tick: a long cooldown or a spent daily cap must survive
        a crash that comes a moment after it (a restart would otherwise re-probe the provider)."""
        self._wake.set()

    async def check_file(self) -> None:
        """A database file deleted (or replaced) while running is made again, with all state."""
        if await self._call(self._store.ensure_file):
            self.status.recreated += 1
            logger.warning("tracker state file %s was gone; recreated it", self.status.path)
            self._tracker.dirty |= set(self._tracker.export())

    async def flush(self) -> None:
        """Write what changed; waits for a save already in flight, so saves land in order."""
        if self._inflight is not None:
            await asyncio.wait([self._inflight])
        if not self._tracker.dirty:
            return
        keys, self._tracker.dirty = self._tracker.dirty, set()
        rows = self._tracker.export(keys)
        # Shielded: a cancelled caller (shutdown) leaves the save running, and `close` waits.
        self._inflight = asyncio.ensure_future(self._save(keys, rows))
        self._inflight.add_done_callback(_retrieved)
        await asyncio.shield(self._inflight)

    async def _save(self, keys: set[str], rows: Rows) -> None:
        try:
            await self._call(self._store.save, rows, self._tracker.clock())
        except BaseException:
            self._tracker.dirty |= keys  # a failed save keeps its keys for the next one
            raise
        self.status.error = None

    async def close(self) -> None:
        """The final flush (after the one in flight), then release the store and its thread."""
        try:
            await self.flush()
        finally:
            await self._call(self._store.close)
            self._thread.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)


def _retrieved(future: asyncio.Future[None]) -> None:
    """The save's error was logged by whoever awaited it; never "exception never retrieved"."""
    if not future.cancelled():
        future.exception()
