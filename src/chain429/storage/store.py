"""The request log store: SQLite by default, Postgres by URL; one implementation (SQLAlchemy).

CONTRACT (implementation in progress): `Store.open` imports SQLAlchemy lazily (it costs ~0.8 s),
so it is called after the server listens; `StoreRef` lets handlers wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from chain429.storage.records import RequestRecord


class Store:
    """Writes batches of records, prunes old ones into daily rollups, and runs queries."""

    @classmethod
    async def open(cls, database_url: str) -> Store:
        raise NotImplementedError

    async def insert(self, records: Sequence[RequestRecord]) -> None:
        raise NotImplementedError

    async def prune(self, before_ts: float) -> int:
        raise NotImplementedError

    async def fetch(self, statement: Any) -> list[dict[str, Any]]:
        """Run a SELECT (a SQLAlchemy Core statement); rows as dicts."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class StoreRef:
    """The store once it is open; until then `get` waits (bounded)."""

    def __init__(self) -> None:
        self.store: Store | None = None
        self.error: str | None = None
        self._ready = asyncio.Event()

    def set(self, store: Store | None, error: str | None = None) -> None:
        self.store, self.error = store, error
        self._ready.set()

    async def get(self, timeout_s: float = 10.0) -> Store | None:
        if self.store is None and not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_s)
            except TimeoutError:
                return None
        return self.store
