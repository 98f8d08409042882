"""`Deadline`: `asyncio.timeout` for one upstream attempt, whose deadline moves later cheaply.

An attempt first has the first-byte timeout; a whole answer then has the rest of its time.
`asyncio.Timeout.reschedule` cancels its timer and makes a new one for that: with entering
and leaving, about a tenth of our own CPU per request (`python -m bench.components`). Here
`extend` only notes the later deadline, and the one timer re-arms itself if it fires before
it: only an attempt that outlives its first-byte timeout pays for a second timer.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

# A timer may fire a little before its time; re-arming for less than this is not worth it.
_EARLY_S = 0.001


class Deadline:
    """`async with Deadline(when):` cancels the block at `when` (loop time) and raises
    TimeoutError, as `asyncio.timeout_at(when)` does; `extend(later)` moves `when` later."""

    __slots__ = ("_cancelling", "_expired", "_handle", "_loop", "_task", "_when")

    def __init__(self, when: float) -> None:
        self._when = when
        self._expired = False
        self._handle: asyncio.TimerHandle | None = None

    def extend(self, when: float) -> None:
        """Move the deadline to `when` if that is later; never earlier."""
        self._when = max(self._when, when)

    async def __aenter__(self) -> Deadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Deadline must be used inside a task")
        self._loop, self._task = asyncio.get_running_loop(), task
        self._cancelling = task.cancelling()
        self._handle = self._loop.call_at(self._when, self._fire)
        return self

    def _fire(self) -> None:
        if self._loop.time() + _EARLY_S < self._when:  # extended meanwhile
            self._handle = self._loop.call_at(self._when, self._fire)
            return
        self._handle = None
        self._expired = True
        self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        # Ours only if nobody else asked to cancel the task meanwhile (as asyncio.Timeout).
        if (
            self._expired
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc
