"""One event per finished client request, and the small hub that hands it to subscribers.

A chat completion's fate is published once, as a `RequestFinished`, when its record is
complete. The request log writer, the metrics, the /health counters and the bench all
subscribe the same way. `publish` is synchronous and cheap (a loop over plain callbacks, no
allocation beyond the event itself); a subscriber that raises is logged and skipped, never
breaking the request or the other subscribers.

A live feed (an SSE stream for the UI) takes a `Feed`: a bounded queue per reader that drops
the newest events when the reader falls behind, and counts what it dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chain429.storage.records import RequestRecord

if TYPE_CHECKING:
    from chain429.engine.request import ClientRequest
    from chain429.vocabulary import Chain

logger = logging.getLogger("chain429.events")

Subscriber = Callable[["RequestFinished"], None]


@dataclass(frozen=True, slots=True)
class RequestFinished:
    """A client request that got an answer: its record (attempts included), and its context.

    `chain` and `request` are None when the request ended before they were known (a bad key,
    an unreadable body, an unknown model). Subscribers must not mutate them.
    """

    record: RequestRecord
    chain: Chain | None = None
    request: ClientRequest | None = None


class EventHub:
    """Callbacks in subscription order; each is told of every event published after it."""

    __slots__ = ("_subscribers",)

    def __init__(self) -> None:
        # A tuple, replaced on (un)subscribe: publishing iterates it without a copy, and a
        # subscriber that unsubscribes during a publish does not disturb the loop.
        self._subscribers: tuple[Subscriber, ...] = ()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add `callback`; returns the function that removes it again."""
        self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: RequestFinished) -> None:
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:
                logger.exception("a request-finished subscriber failed: %r", callback)

    def feed(self, max_queue: int = 1000) -> Feed:
        """A subscription read with `async for`; `with hub.feed() as feed:` unsubscribes."""
        return Feed(self, max_queue)


class Feed:
    """One reader's bounded queue of events. Full, it drops new events and counts them."""

    def __init__(self, hub: EventHub, max_queue: int) -> None:
        self._queue: asyncio.Queue[RequestFinished] = asyncio.Queue(max_queue)
        self.dropped = 0
        self._unsubscribe: Callable[[], None] | None = hub.subscribe(self._put)

    def _put(self, event: RequestFinished) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def get(self) -> RequestFinished:
        return await self._queue.get()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def __aiter__(self) -> Feed:
        return self

    async def __anext__(self) -> RequestFinished:
        return await self._queue.get()

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
