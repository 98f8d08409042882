"""Waiting for capacity: a request may wait, first in first out, for an entry known to free up."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chain429.engine.walk import Served, WalkFailed

Walk = Callable[[Callable[[], None]], Awaitable["Served"]]


class _Queue:
    """One chain's queue: a turn at a time, in arrival order, and a way back in at the front."""

    def __init__(self) -> None:
        self._turns: deque[asyncio.Future[None]] = deque()
        self.busy = False  # someone holds the turn
        self.free_at: float | None = None  # when the head expects capacity

    def __len__(self) -> int:
        return len(self._turns) + self.busy

    async def enter(self, *, front: bool = False) -> None:
        """Wait for the turn; `front` puts a waiter whose call was refused back at the head."""
        if not self.busy and not self._turns:
            self.busy = True
            return
        turn = asyncio.get_running_loop().create_future()
        if front:
            self._turns.appendleft(turn)
        else:
            self._turns.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.leave()  # handed the turn just as it gave up: pass it on
            else:
                turn.cancel()
                self._turns.remove(turn)
            raise

    def leave(self) -> None:
        while self._turns:
            turn = self._turns.popleft()
            if not turn.done():
                turn.set_result(None)  # the turn passes straight on: `busy` stays set
                return
        self.busy = False


class WaitRoom:
    """One FIFO queue per chain; the head re-walks when an entry frees or capacity is released.

    The head holds the turn while it waits, so later waiters stay queued behind it. Once its
    walk reserves an entry, the turn passes on and its upstream call runs outside the queue, so
    the next waiter can take the next free capacity at once. A waiter whose call meets a fresh
    429 goes back to the front, not to the end and not out. A waiter whose client leaves is
    cancelled where it stands, and so never opens an upstream call.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._queues: dict[str, _Queue] = {}
        self._changed: asyncio.Event | None = None

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def queued(self, chain: str) -> int:
        """How many requests wait for (or are at the head of) this chain's queue."""
        queue = self._queues.get(chain)
        return len(queue) if queue is not None else 0

    def retry_after(self, chain: str) -> int:
        """Seconds until the chain's queue expects capacity, for a request that will not wait."""
        queue = self._queues.get(chain)
        free_at = queue.free_at if queue is not None else None
        return max(1, math.ceil(free_at - self._clock())) if free_at is not None else 1

    def capacity_changed(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def wait(
        self, chain: str, failed: WalkFailed | None, max_wait_s: float, walk: Walk
    ) -> Served:
        """Queue for capacity; `walk(on_reserved)` is re-run when some may have freed up.

        `failed` is the refusal that sent this request here (None: it joined a queue that
        already existed, without a walk of its own, so as not to take capacity ahead of it).
        """
        from chain429.engine.walk import WalkFailed

        deadline = self._clock() + max_wait_s
        if failed is not None and _earliest(failed) is None:
            raise failed  # nothing is known to free up: answer now, never wait forever
        queue = self._queues.setdefault(chain, _Queue())
        front = False
        while True:
            try:
                async with asyncio.timeout(max(0.0, deadline - self._clock())):
                    await queue.enter(front=front)
            except TimeoutError:
                raise _timed_out(failed, chain) from None
            try:
                call = await self._head(queue, failed, deadline, walk)
            finally:
                queue.leave()
                if not queue:
                    self._queues.pop(chain, None)
            try:
                return await call
            except asyncio.CancelledError:
                call.cancel()
                raise
            except WalkFailed as again:
                # Refused after all (a fresh 429 the counters did not foresee): back to the
                # front while time is left, rather than failing with max-wait to spare.
                if again.status != 429 or _earliest(again) is None:
                    raise
                if self._clock() >= deadline:
                    raise
                failed, front = again, True
                queue = self._queues.setdefault(chain, _Queue())

    async def _head(
        self, queue: _Queue, failed: WalkFailed | None, deadline: float, walk: Walk
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
            queue.free_at = free_at
            if free_at is None:
                raise failed
            delay = max(0.0, free_at - self._clock())
            if self._clock() + delay > deadline:
                raise failed
            if delay > 0 and not changed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), delay)


def _timed_out(failed: WalkFailed | None, chain: str) -> WalkFailed:
    from chain429.engine.walk import WalkFailed

    if failed is not None:
        return failed
    return WalkFailed(
        429,
        f"The wait for capacity on chain '{chain}' ran out while earlier requests queued.",
        [],
        type="rate_limit_error",
        code="all_providers_exhausted",
        headers={"Retry-After": "1"},
    )


def _earliest(failed: WalkFailed) -> float | None:
    if failed.status != 429:
        return None
    times = [a.free_at for a in failed.attempts if a.free_at is not None]
    return min(times) if times else None
