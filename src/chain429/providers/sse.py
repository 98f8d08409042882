"""An incremental Server-Sent Events parser (WHATWG rules) that works on bytes, and its encoder."""

from __future__ import annotations

from dataclasses import dataclass, field

_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class SSEEvent:
    """One dispatched event. A comment-only event (a keepalive) has `data` None."""

    data: str | None = None  # data lines joined with "\n"; None when the event had no data line
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)  # each without its leading ":"

    @property
    def is_done(self) -> bool:
        return self.data == "[DONE]"


class SSEParser:
    """Feed it chunks as they arrive; it returns the events that are complete so far.

    Lines may end in CRLF, LF or CR; a CR that ends one chunk and an LF that starts the next
    are one line end. Bytes are decoded only once a line is complete, so a UTF-8 character
    split across chunks is safe. `id` belongs to the event that carried it (no last-event-id
    carry-over: a relay wants to know what each event said, not what the browser would keep).
    """

    __slots__ = (
        "_comments",
        "_data",
        "_event",
        "_id",
        "_pending",
        "_retry",
        "_skip_lf",
        "_started",
        "_tail",
        "_tail_len",
    )

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._tail: list[bytes] = []  # pieces of the last, unterminated line
        self._tail_len = 0
        self._skip_lf = False  # the previous chunk ended in CR: an LF next is the same line end
        self._started = False  # the stream's first bytes were checked for a BOM
        self._pending = 0  # bytes of complete lines taken into the event not yet dispatched
        self._data: list[bytes] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._comments: list[str] = []

    @property
    def buffered(self) -> int:
        """Bytes held waiting for an event end (lets a caller cap a runaway upstream)."""
        return self._tail_len + self._pending

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        tail = self._tail
        if tail:
            tail.append(chunk)
            self._tail_len += len(chunk)
            if self._started and b"\n" not in chunk and b"\r" not in chunk:
                return []  # still one long line: join its pieces once, when it ends
            buf = b"".join(tail)
            self._tail = []
            self._tail_len = 0
        elif chunk:
            buf = chunk
        else:
            return []
        if not self._started:
            if len(buf) < 3 and _BOM.startswith(buf):
                self._keep(buf)  # can't tell a BOM from text yet
                return []
            self._started = True
            if buf.startswith(_BOM):
                buf = buf[3:]
        if self._skip_lf:
            self._skip_lf = False
            if buf[:1] == b"\n":
                buf = buf[1:]
        if b"\r" in buf:
            # Normalising to LF up front keeps the loops below to one separator.
            self._skip_lf = buf.endswith(b"\r")
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = buf.rfind(b"\n")
        if end < 0:
            self._keep(buf)
            return []
        if end + 1 < len(buf):
            self._keep(buf[end + 1 :])
        events: list[SSEEvent] = []
        if not self._pending and buf.endswith(b"\n\n"):
            # Fast path: whole events and nothing carried over, so each block between blank
            # lines is one event; the usual `data: {...}` block needs no line parsing.
            for block in buf[:-2].split(b"\n\n"):
                if block.startswith(b"data: ") and b"\n" not in block:
                    events.append(SSEEvent(block[6:].decode("utf-8", "replace")))
                else:
                    self._lines(block.split(b"\n"), events)
                    self._dispatch(events)
            return events
        self._lines(buf[:end].split(b"\n"), events)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: an event with a complete data line but no blank line still counts.

        The unterminated last line is dropped, as the spec says: it may be cut mid-JSON.
        """
        events: list[SSEEvent] = []
        if self._data:
            self._dispatch(events)
        self._reset()  # a fresh parser for whatever comes next
        return events

    def _keep(self, tail: bytes) -> None:
        self._tail = [tail]
        self._tail_len = len(tail)

    def _lines(self, lines: list[bytes], events: list[SSEEvent]) -> None:
        for line in lines:
            if not line:
                self._dispatch(events)
                continue
            self._pending += len(line) + 1
            if line.startswith(b"data: "):  # by far the most common line: skip the field split
                self._data.append(line[6:])
                continue
            colon = line.find(b":")
            if colon == 0:
                self._comments.append(line[1:].decode("utf-8", "replace"))
                continue
            if colon < 0:
                name, value = line, b""
            else:
                name, value = line[:colon], line[colon + 1 :]
                if value[:1] == b" ":
                    value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value.decode("utf-8", "replace") or None
            elif name == b"id" and b"\x00" not in value:
                self._id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():
                self._retry = int(value)
            # any other field, an id with NUL and a non-numeric retry are ignored, as the spec says

    def _dispatch(self, events: list[SSEEvent]) -> None:
        self._pending = 0
        data = self._data
        if data:
            raw = data[0] if len(data) == 1 else b"\n".join(data)
            self._data = []
            text: str | None = raw.decode("utf-8", "replace")
        elif (
            not self._comments and self._event is None and self._id is None and self._retry is None
        ):
            return  # a blank line with nothing before it (or only unknown fields)
        else:
            text = None
        events.append(SSEEvent(text, self._event, self._id, self._retry, self._comments))
        self._event = self._id = None
        self._retry = None
        self._comments = []


def encode_event(data: str | bytes) -> bytes:
    """`data: ...` plus the blank line; each line of multi-line data gets its own prefix."""
    raw = data.encode() if isinstance(data, str) else data
    if b"\n" not in raw and b"\r" not in raw:
        return b"data: " + raw + b"\n\n"
    lines = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return b"".join([b"data: " + line + b"\n" for line in lines]) + b"\n"
