"""Anthropic event streams from entries that speak Messages natively, relayed untouched.

The chat relay's guarantees, and its loop (idle timeout, total deadline, per-event byte cap,
settling the ticket), which this subclass reuses; only the judging of events differs:

- Nothing reaches the client before `message_start`. An `error` event before it is an
  outcome, classified like an error body, and the walk moves on to the next entry.
- After it, events go on as they came (whole chunks of ordinary deltas without parsing).
- `message_stop` is success: the ticket is settled with the usage `message_start` and
  `message_delta` reported (`usage` reads them in OpenAI's shape, for logs and the tracker).
- An `error` event after the commit means the stream failed: it is settled as a failure,
  passed on to the client, and the stream ends there.
- An upstream that stops without `message_stop` (or stalls, or sends junk) failed too: the
  client gets an Anthropic `error` event of ours.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from chain429.deep_json import loads_writable
from chain429.dialects import anthropic
from chain429.engine.outcome import classify_anthropic_error
from chain429.engine.relay import StreamRelay
from chain429.errors import ProxyError
from chain429.providers.sse import SSEEvent, encode_event
from chain429.redact import scrub
from chain429.vocabulary import SUCCESS, Outcome, OutcomeKind

# Events worth parsing: those that carry usage, end the stream or report an error, and data
# that is not a JSON object. Anything else (content deltas, pings) is relayed as bytes.
_NEEDS_LOOK = re.compile(
    rb'(?m)^data:(?! ?\{)|"type": ?"(?:message_start|message_delta|message_stop|error)"'
)


class MessagesRelay(StreamRelay):
    """A committed Anthropic stream: yields what the client gets, settles the ticket at the end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counts: dict[str, Any] = {}  # Anthropic's usage counts, the latest of each

    @staticmethod
    def first_event(events: list[SSEEvent], clock: Callable[[], float]) -> int | Outcome | None:
        for index, event in enumerate(events):
            if event.data is None:
                continue  # comments prove nothing
            data = loads_writable(event.data)
            if not isinstance(data, dict):
                return Outcome(OutcomeKind.MALFORMED, 200, "stream sent a malformed event")
            kind = data.get("type")
            if kind == "ping":
                continue
            if kind == "error":
                return classify_anthropic_error(data, now=clock())
            if kind == "message_start" and isinstance(data.get("message"), dict):
                return index
            return Outcome(OutcomeKind.MALFORMED, 200, "stream sent an event before message_start")
        return None

    def error_event(self, error: ProxyError) -> bytes:
        return _event(b"error", anthropic.error_body(error.status, error.message))

    def _plain(self, chunk: bytes) -> bool:
        if self._parser.buffered or not chunk.endswith(b"\n\n"):
            return False
        return _NEEDS_LOOK.search(chunk) is None

    def _judge(self, event: SSEEvent) -> Outcome | Any:
        if event.data is None:
            return None
        data = loads_writable(event.data)
        if not isinstance(data, dict):
            return Outcome(OutcomeKind.MALFORMED, 200, "stream sent a malformed event")
        kind = data.get("type")
        if kind == "message_stop":
            return SUCCESS
        if kind == "error":
            return classify_anthropic_error(data, now=self._clock())
        if kind == "message_start":
            self._count(data.get("message"))
        elif kind == "message_delta":
            self._count(data)
        return data

    def _render(self, event: SSEEvent, parsed: Any) -> bytes:
        return _encode(event)

    async def _conclude(self, verdict: Outcome, event: SSEEvent) -> bytes:
        if verdict.kind is OutcomeKind.SUCCESS:
            await self._succeed()
            return _encode(event)
        if _is_error(event):  # the upstream's own words: pass them on as they are
            await self._settle_failure(verdict)
            data = scrub(event.data or "", self._ticket.entry.api_key)
            return _encode(SSEEvent(data, event.event))
        return await self._fail(verdict)

    async def _ended(self) -> bytes:
        if self.outcome is not None:
            return b""
        return await self._fail(
            Outcome(OutcomeKind.MALFORMED, 200, "stream ended without message_stop")
        )

    def _count(self, holder: object) -> None:
        """Keep the latest of each usage count: input from message_start, output (running
        totals) from message_delta."""
        usage = holder.get("usage") if isinstance(holder, dict) else None
        if not isinstance(usage, dict):
            return
        self._counts.update((k, v) for k, v in usage.items() if isinstance(v, int))
        self.usage = anthropic.chat_usage(self._counts)


def _is_error(event: SSEEvent) -> bool:
    data = loads_writable(event.data or "")
    return isinstance(data, dict) and data.get("type") == "error"


def _encode(event: SSEEvent) -> bytes:
    """One event back on the wire, its `event:` name included."""
    lines = [b":" + comment.encode() + b"\n" for comment in event.comments]
    if event.event:
        lines.append(b"event: " + event.event.encode() + b"\n")
    if event.data is None:
        return b"".join(lines) + b"\n"
    return b"".join(lines) + encode_event(event.data)


def _event(name: bytes, payload: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
