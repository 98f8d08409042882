"""One batched writer for every request record: the request path never waits on the database.

`submit` only appends to a bounded queue. `run` writes batches in the background; a record
leaves the queue only once its batch is committed, so a failed or cancelled write loses
nothing. When the queue is full, new records are dropped, counted and logged, never silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING, Any

from chain429.storage.records import RequestRecord
from chain429.storage.store import Store, StoreRef

if TYPE_CHECKING:
    from chain429.events import RequestFinished

logger = logging.getLogger("chain429.storage")

DROP_LOG_EVERY_S = 10.0


class RecordWriter:
    """Queues records and writes them in batches, one batch in flight at a time."""

    def __init__(
        self,
        store: StoreRef,
        *,
        max_queue: int = 50_000,
        batch: int = 500,
        interval_s: float = 0.1,
        max_backoff_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.max_queue = max_queue
        self.batch = batch
        self.interval_s = interval_s  # the wait when less than a batch is queued
        self.max_backoff_s = max_backoff_s
        self.written = 0
        self.dropped = 0  # records refused because the queue was full (never silent)
        self.failed_batches = 0
        self.last_error: str | None = None
        self._clock = clock
        self._queue: deque[RequestRecord] = deque()
        self._write_lock = asyncio.Lock()  # `run` and `close` never write the same batch twice
        self._closing = False
        self._closed = False
        self._last_drop_log: float | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def status(self) -> dict[str, Any]:
        """The counters, for /health and the status API."""
        return {
            "queued": self.queued,
            "written": self.written,
            "dropped": self.dropped,
            "failed_batches": self.failed_batches,
            "last_error": self.last_error,
        }

    def on_finished(self, event: RequestFinished) -> None:
        """The subscriber to the app's `RequestFinished` events: queue its record."""
        self.submit(event.record)

    def submit(self, record: RequestRecord) -> None:
        """Queue a record; never blocks. A full queue counts a drop and logs it."""
        if self._closed:
            self._drop(1, "the writer is closed")
        elif len(self._queue) >= self.max_queue:
            self._drop(1, f"the queue is full ({self.max_queue} records)")
        else:
            self._queue.append(record)

    async def run(self) -> None:
        """Background task: write batches as they fill (or every interval) until closed."""
        store = await self._wait_for_store()
        if store is None:
            return
        backoff = self.interval_s
        while not self._closing:
            if not self._queue:
                await asyncio.sleep(self.interval_s)
                continue
            if await self._write_batch(store):
                backoff = self.interval_s
                if len(self._queue) < self.batch:  # let a partial batch grow a little
                    await asyncio.sleep(self.interval_s)
            else:
                backoff = min(max(backoff * 2, 0.05), self.max_backoff_s)
                await asyncio.sleep(backoff)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Flush everything queued (bounded by `timeout_s`), then stop.

        Records submitted while the flush runs are flushed too; after it, they are dropped.
        Whatever cannot be written in time is counted in `dropped` and logged.
        """
        self._closing = True
        deadline = time.monotonic() + timeout_s
        try:
            store = await self.store.get(timeout_s)
            if store is None:
                reason = self.store.error or "the database did not open in time"
                raise TimeoutError(reason)
            backoff = self.interval_s
            async with asyncio.timeout(_left(deadline)):
                while self._queue:
                    if not await self._write_batch(store):
                        backoff = min(max(backoff * 2, 0.05), self.max_backoff_s)
                        await asyncio.sleep(backoff)
        except TimeoutError as exc:
            lost = len(self._queue)
            if lost:
                self._queue.clear()
                self.dropped += lost
                logger.error(
                    "request log: %d records not written at shutdown (%s); %d dropped in all",
                    lost,
                    str(exc) or f"no flush within {timeout_s:g} s",
                    self.dropped,
                )
        finally:
            self._closed = True

    async def _wait_for_store(self) -> Store | None:
        """Records queue up meanwhile; if the store failed to open, stop taking them."""
        while True:
            store = await self.store.get()
            if store is not None or self._closing:
                return store
            if self.store.ready:
                self._closed = True
                self.last_error = self.store.error
                lost = len(self._queue)
                self._queue.clear()
                self._drop(lost, f"the database did not open: {self.store.error}")
                return None

    async def _write_batch(self, store: Store) -> bool:
        """Write the oldest records; they leave the queue only once committed."""
        async with self._write_lock:
            batch = list(islice(self._queue, self.batch))
            if not batch:
                return True
            try:
                rejected = await store.insert(batch)
            except Exception as exc:
                self.failed_batches += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.error(
                    "request log: a batch of %d failed (%d queued, %d failures); will retry: %s",
                    len(batch),
                    len(self._queue),
                    self.failed_batches,
                    self.last_error,
                    exc_info=self.failed_batches == 1,
                )
                return False
            for _ in batch:
                self._queue.popleft()
            self.written += len(batch) - rejected
            if rejected:
                self.last_error = f"the database refused {rejected} records (see the log)"
                self.dropped += rejected
            return True

    def _drop(self, count: int, reason: str) -> None:
        if count <= 0:
            return
        self.dropped += count
        now = self._clock()
        if self._last_drop_log is None or now - self._last_drop_log >= DROP_LOG_EVERY_S:
            self._last_drop_log = now
            logger.warning(
                "request log: dropping records, %s; %d dropped so far", reason, self.dropped
            )


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
