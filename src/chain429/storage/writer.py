"""One batched writer for every request record: the request path never waits on the database.

CONTRACT (implementation in progress).
"""

from __future__ import annotations

from chain429.storage.records import RequestRecord
from chain429.storage.store import StoreRef


class RecordWriter:
    def __init__(self, store: StoreRef, *, max_queue: int = 50_000, batch: int = 500) -> None:
        self.store = store
        self.max_queue = max_queue
        self.batch = batch
        self.written = 0
        self.dropped = 0  # records refused because the queue was full (never silent)
        self.failed_batches = 0

    @property
    def queued(self) -> int:
        return 0

    def submit(self, record: RequestRecord) -> None:
        """Queue a record; never blocks. A full queue counts a drop and logs it."""
        raise NotImplementedError

    async def run(self) -> None:
        """Background task: write batches as they fill (or every interval) until cancelled."""
        raise NotImplementedError

    async def close(self, timeout_s: float = 10.0) -> None:
        """Flush everything queued (bounded by `timeout_s`), then stop."""
        raise NotImplementedError
