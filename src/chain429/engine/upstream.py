"""What the engine needs from an HTTP client: open a request to an entry, read or stream it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from chain429.vocabulary import Entry


class ResponseTooLarge(Exception):
    """An upstream answer (or one stream event) went past its size cap: it counts as malformed."""


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    async def read(self, limit: int, *, truncate: bool = False) -> bytes:
        """The whole body; past `limit` bytes, raises `ResponseTooLarge` (or, with `truncate`,
        returns the first `limit` bytes: enough to classify an error)."""
        ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Upstream(Protocol):
    async def open(self, entry: Entry, path: str, body: bytes) -> UpstreamResponse:
        """POST `body` to the entry's URL for `path`; return once headers arrive.

        Redirects are not followed: a 3xx is the upstream's answer (an error), so a prompt and
        its key are never re-sent to another host.
        """
        ...
