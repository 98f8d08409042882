"""Waiting for capacity: a request may wait, first in first out, for an entry known to free up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chain429.engine.walk import Served, WalkFailed


class WaitRoom:
    """One FIFO queue per chain; the head re-walks when an entry frees or capacity is released.

    The head holds the chain's lock while it waits, so later waiters stay queued behind it
    (asyncio.Lock wakes waiters in arrival order). A waiter whose client leaves is cancelled
    where it stands, and so never opens an upstream call.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._changed: asyncio.Event | None = None
        self.waiting = 0

    def capacity_changed(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def wait(
        self,
        chain: str,
        failed: WalkFailed,
        max_wait_s: float,
        walk: Callable[[Callable[[], None]], Awaitable[Served]],
    ) -> Served:
        """Queue for capacity; `walk(on_reserved)` is re-run when some may have freed up.

        The queue is held only until the head's walk reserves an entry: its upstream call then
        runs outside the queue, so the next waiter can take the next free capacity at once.
        """
        deadline = self._clock() + max_wait_s
        if _earliest(failed) is None:
            raise failed  # nothing is known to free up: answer now, never wait forever
        lock = self._locks.setdefault(chain, asyncio.Lock())
        self.waiting += 1
        try:
            async with asyncio.timeout(max_wait_s):
                await lock.acquire()
        except TimeoutError:
            raise failed from None
        finally:
            self.waiting -= 1
        try:
            call = await self._head(failed, deadline, walk)
        finally:
            lock.release()
        try:
            return await call
        except asyncio.CancelledError:
            call.cancel()
            raise

    async def _head(
        self,
        failed: WalkFailed,
        deadline: float,
        walk: Callable[[Callable[[], None]], Awaitable[Served]],
    ) -> asyncio.Future[Served]:
        """Wait at the head of the queue until a walk reserves an entry; return that walk."""
        from chain429.engine.walk import WalkFailed

        changed = self._changed = self._changed or asyncio.Event()
        while True:
            # Look first: capacity may have freed while this request queued. Clearing before
            # the look means a release during it still wakes the wait below.
            changed.clear()
            reserved = asyncio.Event()
            call = asyncio.ensure_future(walk(reserved.set))
            signal = asyncio.ensure_future(reserved.wait())
            try:
                await asyncio.wait({call, signal}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                call.cancel()
                raise
            finally:
                signal.cancel()
            if not call.done():
                return call  # it holds a reservation: its call runs outside the queue
            try:
                call.result()
                return call
            except WalkFailed as again:
                if again.status != 429:
                    raise
                failed = again
            free_at = _earliest(failed)
            if free_at is None:
                raise failed
            delay = max(0.0, free_at - self._clock())
            if self._clock() + delay > deadline:
                raise failed
            if delay > 0 and not changed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), delay)


def _earliest(failed: WalkFailed) -> float | None:
    if failed.status != 429:
        return None
    times = [a.free_at for a in failed.attempts if a.free_at is not None]
    return min(times) if times else None
