"""What the engine needs from an HTTP client: open a request to an entry, read or stream it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from chain429.engine.chain import Entry


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Upstream(Protocol):
    async def open(self, entry: Entry, body: bytes) -> UpstreamResponse:
        """Send `body` to the entry's chat-completions URL; return once headers arrive."""
        ...
