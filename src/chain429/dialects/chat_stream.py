"""The loop both stream translators share: OpenAI chat SSE in, a dialect's events out.

`ChatStreamTranslator` sends the dialect's opening events once, parses the upstream's events,
stops at `[DONE]`, and refuses what is not a chat chunk; a subclass says what its opening
events are and what each chunk, the end and a failure become.
"""

from __future__ import annotations

from typing import Any

from chain429.deep_json import loads_writable
from chain429.providers.sse import SSEEvent, SSEParser


class ChatStreamTranslator:
    """A `dialects.StreamTranslator` over OpenAI chat chunks; subclasses fill in the hooks."""

    __slots__ = ("_begun", "_over", "_parser")

    def __init__(self) -> None:
        self._parser = SSEParser()
        self._begun = False
        self._over = False  # the dialect's last event was sent: nothing more

    def begin(self) -> bytes:
        """The dialect's opening events (once; `feed` sends them if nobody asked)."""
        if self._begun:
            return b""
        self._begun = True
        return self._opening()

    def feed(self, raw: bytes) -> bytes:
        if self._over:
            return b""
        out: list[bytes] = [] if self._begun else [self.begin()]
        for event in self._parser.feed(raw):
            self._take(event, out)
            if self._over:
                break
        return b"".join(out)

    def end(self) -> bytes:
        if self._over:
            return b""
        out: list[bytes] = [] if self._begun else [self.begin()]
        for event in self._parser.close():
            self._take(event, out)
            if self._over:
                return b"".join(out)
        self._ended(out)
        return b"".join(out)

    def _take(self, event: SSEEvent, out: list[bytes]) -> None:
        data = event.data
        if data is None:
            return  # a keepalive comment
        if data == "[DONE]":
            self._done(out)
            return
        chunk = loads_writable(data)
        if not isinstance(chunk, dict):
            self._malformed(out)
            return
        self._chunk(chunk, out)

    # -- the dialect's part --------------------------------------------------------------------

    def _opening(self) -> bytes:
        raise NotImplementedError

    def _chunk(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        """One parsed chat chunk (an `{"error": …}` one included)."""
        raise NotImplementedError

    def _done(self, out: list[bytes]) -> None:
        """`[DONE]`: the answer is whole."""
        raise NotImplementedError

    def _ended(self, out: list[bytes]) -> None:
        """The upstream stopped without `[DONE]` (and nothing ended the stream before)."""
        raise NotImplementedError

    def _malformed(self, out: list[bytes]) -> None:
        """An event that is not a JSON object we can write again."""
        raise NotImplementedError
