"""Responses API answers kept for `previous_response_id`: in the request log's database when
there is one (SQLite or Postgres, so replicas share them), in memory otherwise.

A saved response is readable only with the key label that made it, and only until it expires;
an expired one is gone as if it never was (a 404), and the retention loop deletes its row.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from chain429.storage.store import Store, StoreRef

MEMORY_LIMIT = 1_000  # responses kept without a database; the oldest go first


@dataclass(frozen=True, slots=True)
class SavedResponse:
    id: str
    key_label: str
    created_at: float
    expires_at: float
    response: dict[str, Any]  # the Response object as the client got it
    conversation: list[dict[str, Any]]  # the chat messages so far, for a follow-up


class ResponseStore(Protocol):
    async def save(self, saved: SavedResponse) -> None: ...

    async def load(self, response_id: str, key_label: str) -> SavedResponse | None: ...

    async def delete(self, response_id: str, key_label: str) -> bool: ...


class MemoryResponses:
    """A bounded in-process store (LRU by save order), for a proxy without a database."""

    def __init__(self, limit: int = MEMORY_LIMIT, clock: Callable[[], float] = time.time) -> None:
        self._saved: OrderedDict[str, SavedResponse] = OrderedDict()
        self._limit = limit
        self._clock = clock

    async def save(self, saved: SavedResponse) -> None:
        self._saved[saved.id] = saved
        self._saved.move_to_end(saved.id)
        while len(self._saved) > self._limit:
            self._saved.popitem(last=False)

    async def load(self, response_id: str, key_label: str) -> SavedResponse | None:
        saved = self._saved.get(response_id)
        if saved is None or saved.key_label != key_label:
            return None
        if saved.expires_at <= self._clock():
            del self._saved[response_id]
            return None
        return saved

    async def delete(self, response_id: str, key_label: str) -> bool:
        if await self.load(response_id, key_label) is None:
            return False
        del self._saved[response_id]
        return True


class SqlResponses:
    """The `responses` table of the request log's database; memory while it has none."""

    def __init__(
        self, ref: StoreRef, fallback: ResponseStore, clock: Callable[[], float] = time.time
    ) -> None:
        self._ref = ref
        self._fallback = fallback
        self._clock = clock

    async def save(self, saved: SavedResponse) -> None:
        store = await self._ref.get()
        if store is None:
            await self._fallback.save(saved)
            return
        from chain429.storage.tables import responses as t

        row = {
            "id": saved.id,
            "key_label": saved.key_label,
            "created_at": saved.created_at,
            "expires_at": saved.expires_at,
            "response": orjson.dumps(saved.response).decode(),
            "conversation": orjson.dumps(saved.conversation).decode(),
        }
        async with store.begin_write() as conn:
            await conn.execute(t.insert().values(row))

    async def load(self, response_id: str, key_label: str) -> SavedResponse | None:
        store = await self._ref.get()
        if store is None:
            return await self._fallback.load(response_id, key_label)
        from sqlalchemy import select

        from chain429.storage.tables import responses as t

        rows = await store.fetch(
            select(t).where(
                t.c.id == response_id,
                t.c.key_label == key_label,
                t.c.expires_at > self._clock(),
            )
        )
        if not rows:
            return None
        row = rows[0]
        return SavedResponse(
            row["id"],
            row["key_label"],
            row["created_at"],
            row["expires_at"],
            orjson.loads(row["response"]),
            orjson.loads(row["conversation"]),
        )

    async def delete(self, response_id: str, key_label: str) -> bool:
        store = await self._ref.get()
        if store is None:
            return await self._fallback.delete(response_id, key_label)
        from sqlalchemy import delete

        from chain429.storage.tables import responses as t

        statement = delete(t).where(
            t.c.id == response_id, t.c.key_label == key_label, t.c.expires_at > self._clock()
        )
        async with store.begin_write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)


async def prune_expired(store: Store, now: float) -> int:
    """Delete the saved responses that expired before `now`; returns how many."""
    from sqlalchemy import delete

    from chain429.storage.tables import responses as t

    async with store.begin_write() as conn:
        result = await conn.execute(delete(t).where(t.c.expires_at <= now))
    return int(result.rowcount or 0)
