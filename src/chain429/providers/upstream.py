"""The one pooled aiohttp client every upstream call goes through."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp

from chain429.engine.upstream import ResponseTooLarge
from chain429.vocabulary import Entry


class AiohttpResponse:
    """An aiohttp response seen through the engine's `UpstreamResponse` protocol."""

    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self, limit: int, *, truncate: bool = False) -> bytes:
        # The cap counts decoded bytes. With a Content-Encoding, Content-Length is the size on
        # the wire: a 50 KB gzip answer can decode to 50 MB, so such a body is always counted
        # as it decodes (aiohttp decodes in bounded pieces, each no bigger than what it read).
        length = None if self._encoded() else self._response.content_length
        if length is not None and length > limit and not truncate:
            raise ResponseTooLarge(f"the answer is {length} bytes, over the {limit}-byte cap")
        if length is not None and length <= limit:
            return await self._response.read()  # the common case: known and within the cap
        parts: list[bytes] = []
        size = 0
        async for chunk in self._response.content.iter_any():
            size += len(chunk)
            if size > limit:
                if truncate:
                    parts.append(chunk[: limit - size + len(chunk)])
                    break
                raise ResponseTooLarge(f"the answer passed the {limit}-byte cap")
            parts.append(chunk)
        return b"".join(parts)

    def _encoded(self) -> bool:
        encoding = self._response.headers.get("Content-Encoding", "")
        return encoding.strip().lower() not in ("", "identity")

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.content.iter_any()

    def close(self) -> None:
        # After a full read the connection is back in the pool and this is a no-op;
        # a stream cut short is closed, so a half-read connection is never reused.
        self._response.close()


class AiohttpUpstream:
    """Keeps one keep-alive connection pool for the life of the app."""

    def __init__(self, *, connect_timeout_s: float = 10.0, pool_size: int = 0) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._pool_size, ttl_dns_cache=300, keepalive_timeout=60
        )
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self._connect_timeout_s, sock_connect=self._connect_timeout_s
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=True,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def open(self, entry: Entry, path: str, body: bytes) -> AiohttpResponse:
        # No skip_auto_headers here: an entry's headers always carry our User-Agent, and
        # skipping costs aiohttp a header map built per request.
        if self._session is None:
            raise RuntimeError("the upstream client is not started")
        response = await self._session.post(
            entry.url(path), data=body, headers=entry.headers, allow_redirects=False
        )
        return AiohttpResponse(response)

    async def get(
        self, url: str, headers: Mapping[str, str], *, limit: int, error_limit: int
    ) -> tuple[int, bytes]:
        """A plain GET, for admin calls such as listing a provider's models.

        Read under the same caps as a chat answer: `limit` for a 2xx body (past it,
        `ResponseTooLarge`), the first `error_limit` bytes of any other (enough to quote it).
        """
        if self._session is None:
            raise RuntimeError("the upstream client is not started")
        # Never aiohttp's own User-Agent (an entry's headers always carry ours; these may not).
        async with self._session.get(
            url, headers=headers, allow_redirects=False, skip_auto_headers=("User-Agent",)
        ) as response:
            ok = 200 <= response.status < 300
            body = await AiohttpResponse(response).read(
                limit if ok else error_limit, truncate=not ok
            )
            return response.status, body
