"""Streams: hold back until the first valid event, then relay chunks as they arrive.

`StreamRelay` relays OpenAI chat streams; `engine/messages_relay.py` subclasses it for
Anthropic's events, overriding only how events are judged and how the stream ends.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import orjson

from chain429.deep_json import loads_writable
from chain429.engine.normalize import copy_reasoning, total_tokens
from chain429.engine.outcome import classify_exception, classify_stream_error
from chain429.engine.upstream import ResponseTooLarge, UpstreamResponse
from chain429.errors import ProxyError
from chain429.providers.sse import SSEEvent, SSEParser, encode_event
from chain429.quota.headers import RateLimitSnapshot
from chain429.quota.tracker import QuotaTracker
from chain429.vocabulary import SUCCESS, Outcome, OutcomeKind, Ticket

if TYPE_CHECKING:
    from chain429.engine.walk import Timeouts

DONE = b"data: [DONE]\n\n"


async def open_stream(
    response: UpstreamResponse,
    ticket: Ticket,
    tracker: QuotaTracker,
    snapshot: RateLimitSnapshot | None,
    *,
    include_usage: bool,
    normalize: bool,
    timeouts: Timeouts,
    event_bytes: int,
    clock: Callable[[], float],
    relay: type[StreamRelay] | None = None,
) -> StreamRelay | Outcome:
    """Read until the first valid data event. A failure before it is an outcome, not a reply.

    `relay` is the class that judges and relays the events: OpenAI chat's by default.
    """
    relay_class = relay or StreamRelay
    parser = SSEParser()
    chunks = aiter(response.chunks())
    try:
        while True:
            try:
                events = _feed(parser, await anext(chunks), event_bytes)
            except StopAsyncIteration:
                events = parser.close()
                verdict = relay_class.first_event(events, clock)
                if verdict is None:
                    verdict = Outcome(OutcomeKind.MALFORMED, 200, "stream closed before any chunk")
                if isinstance(verdict, Outcome):
                    break
            else:
                verdict = relay_class.first_event(events, clock)
                if verdict is None:
                    continue
                if isinstance(verdict, Outcome):
                    break
            opened = relay_class(response, chunks, parser, ticket, tracker, snapshot, clock)
            opened.configure(
                include_usage=include_usage,
                normalize=normalize,
                idle_s=timeouts.idle_s,
                total_s=timeouts.stream_s,
                event_bytes=event_bytes,
            )
            opened.pending = events[verdict:]
            return opened
    except BaseException:
        response.close()
        raise
    response.close()
    verdict = verdict.scrubbed(ticket.entry.api_key)
    await tracker.settle(ticket, verdict, snapshot)
    return verdict


def _feed(parser: SSEParser, chunk: bytes, event_bytes: int) -> list[SSEEvent]:
    """Parse a chunk; an event that grows past `event_bytes` unterminated is malformed."""
    events = parser.feed(chunk)
    if parser.buffered > event_bytes:
        raise ResponseTooLarge(f"a stream event passed the {event_bytes}-byte cap")
    return events


def _first_event(events: list[SSEEvent], clock: Callable[[], float]) -> int | Outcome | None:
    """The index of the first valid data event, the outcome that rules the stream out, or None."""
    for index, event in enumerate(events):
        if event.data is None:
            continue  # comments and keepalives prove nothing
        if event.is_done:
            return Outcome(OutcomeKind.MALFORMED, 200, "stream ended before any chunk")
        data = loads_writable(event.data)
        if data is None:
            return Outcome(OutcomeKind.MALFORMED, 200, "stream sent a malformed event")
        if isinstance(data, dict) and data.get("error"):
            return classify_stream_error(data, now=clock())
        if isinstance(data, dict) and isinstance(data.get("choices"), list):
            return index
        return Outcome(OutcomeKind.MALFORMED, 200, "stream sent an event that is not a chunk")
    return None


class StreamRelay:
    """A committed stream: yields what the client gets, and settles the ticket at the end."""

    def __init__(
        self,
        response: UpstreamResponse,
        chunks: AsyncIterator[bytes],
        parser: SSEParser,
        ticket: Ticket,
        tracker: QuotaTracker,
        snapshot: RateLimitSnapshot | None,
        clock: Callable[[], float],
    ) -> None:
        self._response = response
        self._chunks = chunks
        self._parser = parser
        self._ticket = ticket
        self._tracker = tracker
        self._snapshot = snapshot
        self._clock = clock
        self.pending: list[SSEEvent] = []
        self.include_usage = False
        self.normalize = False
        self.idle_s = 60.0
        self.total_s = 900.0
        self.event_bytes = 1024 * 1024
        self.usage: dict[str, Any] | None = None
        self.outcome: Outcome | None = None  # how the stream ended, once it has
        self._finish_seen = False

    @staticmethod
    def first_event(events: list[SSEEvent], clock: Callable[[], float]) -> int | Outcome | None:
        """Where the stream proves itself (the first valid event's index), the outcome that
        rules it out, or None: nothing decisive yet."""
        return _first_event(events, clock)

    def configure(
        self,
        *,
        include_usage: bool,
        normalize: bool,
        idle_s: float,
        total_s: float,
        event_bytes: int,
    ) -> None:
        self.include_usage = include_usage
        self.normalize = normalize
        self.idle_s = idle_s
        self.total_s = total_s
        self.event_bytes = event_bytes

    async def events(self) -> AsyncGenerator[bytes, None]:
        """What the client receives, chunk by chunk; close it with `aclosing`."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.total_s
        try:
            out = await self._render_all(self.pending)
            if out:
                yield out
            while self.outcome is None:
                try:
                    idle = min(self.idle_s, end - loop.time())
                    async with asyncio.timeout(idle):
                        chunk = await anext(self._chunks)
                except StopAsyncIteration:
                    out = await self._render_all(self._parser.close())
                    yield out + await self._ended()
                    return
                except TimeoutError:
                    stalled = loop.time() < end
                    yield await self._fail(
                        Outcome(
                            OutcomeKind.TIMEOUT,
                            200,
                            f"stream stalled for {self.idle_s:g}s"
                            if stalled
                            else f"stream ran past its {self.total_s:g}s limit",
                        )
                    )
                    return
                except Exception as exc:  # the upstream broke mid-stream
                    outcome = classify_exception(exc)
                    if outcome is None:
                        raise
                    yield await self._fail(outcome)
                    return
                if self._plain(chunk):
                    yield chunk  # whole ordinary events: relay the bytes untouched
                    continue
                events = self._parser.feed(chunk)
                if self._parser.buffered > self.event_bytes:
                    limit = self.event_bytes
                    yield await self._fail(
                        Outcome(OutcomeKind.MALFORMED, 200, f"a stream event passed {limit} bytes")
                    )
                    return
                out = await self._render_all(events)
                if out:
                    yield out
        finally:
            await self.close()

    async def close(self) -> None:
        """Release the upstream connection; a stream cut short by the client costs nothing."""
        self._response.close()
        if self.outcome is None:
            await self._tracker.cancel(self._ticket)

    def _plain(self, chunk: bytes) -> bool:
        """True for a chunk of complete events that need no inspection.

        Most chunks are just content deltas; parsing and re-encoding them costs more than the
        rest of the relay, so one C-level scan decides whether any event needs a closer look.
        """
        if self._parser.buffered or not chunk.endswith(b"\n\n"):
            return False
        pattern = _NEEDS_LOOK_NORMALIZED if self.normalize else _NEEDS_LOOK
        if pattern.search(chunk):
            return False
        if b'"finish_reason":"' in chunk or b'"finish_reason": "' in chunk:
            self._finish_seen = True
        return True

    async def _render_all(self, events: list[SSEEvent]) -> bytes:
        parts = []
        for event in events:
            if self.outcome is not None:
                break
            verdict = self._judge(event)
            if isinstance(verdict, Outcome):
                parts.append(await self._conclude(verdict, event))
                break
            parts.append(self._render(event, verdict))
        return b"".join(parts)

    async def _conclude(self, verdict: Outcome, event: SSEEvent) -> bytes:
        """`event` ended the stream as `verdict` says: settle it, and say so to the client."""
        if verdict.kind is OutcomeKind.SUCCESS:
            await self._succeed()
            return DONE
        return await self._fail(verdict)

    def _judge(self, event: SSEEvent) -> Outcome | Any:
        """An event's parsed data, or the outcome it ends the stream with.

        Every event that reaches this slow path is parsed: garbage after the commit must end
        the stream with an error event, not reach the client's SDK before it.
        """
        data = event.data
        if data is None:
            return None
        if data == "[DONE]":
            return SUCCESS
        parsed = loads_writable(data)
        if not isinstance(parsed, dict):
            return Outcome(OutcomeKind.MALFORMED, 200, "stream sent a malformed event")
        if parsed.get("error"):
            return classify_stream_error(parsed, now=self._clock())
        return parsed

    def _render(self, event: SSEEvent, parsed: Any) -> bytes:
        data = event.data
        if data is None:
            return b"".join(b":" + c.encode() + b"\n" for c in event.comments) + b"\n"
        if isinstance(parsed, dict) and _needs_parsing(data, self.normalize):
            data = self._inspect(parsed, data)
            if not data:
                return b""
        if '"finish_reason":"' in data or '"finish_reason": "' in data:
            self._finish_seen = True
        if "\n" in data:  # multi-line data must stay one event
            return encode_event(data)
        return b"data: " + data.encode() + b"\n\n"

    def _inspect(self, chunk: dict[str, Any], data: str) -> str:
        """Take usage from the chunk, drop a usage-only chunk nobody asked for, normalize."""
        usage = chunk.get("usage")
        groq = chunk.get("x_groq")
        if not isinstance(usage, dict) and isinstance(groq, dict):
            usage = groq.get("usage")
        if isinstance(usage, dict):
            self.usage = usage  # the last one wins: Gemini repeats usage on every chunk
            if not self.include_usage and chunk.get("choices") == []:
                return ""
        if self.normalize and copy_reasoning(chunk, "delta"):
            return orjson.dumps(chunk).decode()
        return data

    async def _ended(self) -> bytes:
        if self.outcome is not None:
            return b""
        if self._finish_seen:  # some upstreams omit [DONE] after a proper finish
            await self._succeed()
            return DONE
        return await self._fail(Outcome(OutcomeKind.MALFORMED, 200, "stream ended without [DONE]"))

    async def _succeed(self) -> None:
        self.outcome = SUCCESS
        tokens = total_tokens(self.usage)
        await self._tracker.settle(self._ticket, self.outcome, self._snapshot, tokens)

    async def _fail(self, outcome: Outcome) -> bytes:
        """Tell the client plainly, and count it against the entry."""
        outcome = await self._settle_failure(outcome)
        message = f"The upstream stream failed after it started: {outcome.message}"
        status = _FAILURE_STATUS.get(outcome.kind, 502)
        return self.error_event(
            ProxyError(status, message, type="upstream_error", code=outcome.kind.value)
        )

    async def _settle_failure(self, outcome: Outcome) -> Outcome:
        outcome = outcome.scrubbed(self._ticket.entry.api_key)
        self.outcome = outcome
        await self._tracker.settle(self._ticket, outcome, self._snapshot)
        return outcome

    def error_event(self, error: ProxyError) -> bytes:
        """`error` as an event of this stream's API (the stream ends after it)."""
        return b"data: " + orjson.dumps(error.body()) + b"\n\n"


# The status a failure after the commit stands for, where a client's API has one per status.
_FAILURE_STATUS = {
    OutcomeKind.RATE_LIMITED: 429,
    OutcomeKind.QUOTA_EXHAUSTED: 429,
    OutcomeKind.TIMEOUT: 504,
}


# What makes an event more than bytes to pass on: the end, an error, usage to read or strip,
# or data that is not a JSON object (garbage must not reach the client before the error).
# (Well-formed SSE framing, comments and multi-line data are relayed as they are.)
_NEEDS_LOOK = re.compile(rb'(?m)^data:(?! ?\{)|\[DONE\]|"error"|"usage":\s*\{|"x_groq"')
_NEEDS_LOOK_NORMALIZED = re.compile(_NEEDS_LOOK.pattern + rb"|reasoning_content")


def _needs_parsing(data: str, normalize: bool) -> bool:
    if normalize and "reasoning_content" in data:
        return True
    if '"x_groq"' in data:
        return True
    return '"usage"' in data and '"usage":null' not in data and '"usage": null' not in data
