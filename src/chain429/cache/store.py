"""Where cached answers live: the `CacheStore` interface and its in-memory LRU."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A whole (non-stream) answer, as the client of a non-stream request gets it."""

    body: bytes  # the JSON answer
    provider: str  # who served it first
    model: str
    usage: dict[str, Any] | None = None
    stored_at: float = 0.0

    @property
    def size(self) -> int:
        return len(self.body) + len(self.provider) + len(self.model) + 64


class CacheStore(Protocol):
    """Answers by key, each kept for its TTL. Async, so a shared store (Redis) fits."""

    async def get(self, key: str) -> CachedAnswer | None: ...

    async def put(self, key: str, answer: CachedAnswer, ttl_s: float) -> None: ...


class MemoryCache:
    """An LRU bounded by entries and bytes; expired answers are dropped when met."""

    def __init__(
        self, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, CachedAnswer]] = OrderedDict()
        self.bytes = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._items)

    async def get(self, key: str) -> CachedAnswer | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, answer = item
        if expires <= self.clock():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return answer

    async def put(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        if answer.size > self.max_bytes:
            return  # would evict everything else and still not fit
        if key in self._items:
            self._drop(key)
        self._items[key] = (self.clock() + ttl_s, answer)
        self.bytes += answer.size
        while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
            oldest = next(iter(self._items))
            self._drop(oldest)
            self.evicted += 1

    def _drop(self, key: str) -> None:
        _, answer = self._items.pop(key)
        self.bytes -= answer.size
