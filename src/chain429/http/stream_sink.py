"""What a streamed answer's client got, kept so the cache can store it once the stream ends.

Kept only up to a byte bound: an upstream may stream for as long as `stream_timeout_ms`
allows, and an answer too big for the cache would be dropped by it anyway. Past the bound the
parts kept so far are let go, and the answer is not stored.
"""

from __future__ import annotations


class StreamSink:
    __slots__ = ("limit", "overflowed", "parts", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.overflowed = False

    def append(self, part: bytes) -> None:
        if self.overflowed:
            return
        self.size += len(part)
        if self.size > self.limit:
            self.overflowed = True
            self.parts = []  # nothing of it will be stored: free it now
            return
        self.parts.append(part)

    def body(self) -> bytes | None:
        """The whole stream, or None when it passed the bound."""
        return None if self.overflowed else b"".join(self.parts)
