"""The waterfall: try each entry of a chain in order, and decide what every outcome means."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from chain429.engine.chain import Chain, Entry
from chain429.engine.normalize import copy_reasoning, total_tokens
from chain429.engine.outcome import (
    Action,
    Outcome,
    OutcomeKind,
    classify_exception,
    classify_response,
    classify_stream_error,
    rejects_stream_options,
)
from chain429.engine.relay import StreamRelay, open_stream
from chain429.engine.request import ChatRequest, upstream_body
from chain429.engine.upstream import Upstream, UpstreamResponse
from chain429.engine.waiting import WaitRoom
from chain429.errors import ProxyError
from chain429.quota.headers import parse_rate_limit_headers
from chain429.quota.state import Ticket, Verdict
from chain429.quota.tracker import QUOTA_KINDS, QuotaTracker

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Timeouts:
    first_byte_s: float = 60.0
    idle_s: float = 60.0
    deadline_s: float = 300.0


@dataclass(slots=True)
class Attempt:
    """One entry's part in a walk: a call that was made, or a skip and why."""

    entry: str
    kind: str  # an OutcomeKind value, or the skip verdict's kind
    status: int | None
    reason: str
    skipped: bool = False
    latency_ms: float = 0.0
    free_at: float | None = None

    def describe(self) -> str:
        if self.skipped:
            return f"{self.entry} (skipped: {self.reason})"
        return f"{self.entry} ({self.reason})"


@dataclass(slots=True)
class Served:
    """A successful answer: a whole body, or a committed stream to relay."""

    entry: Entry
    attempts: list[Attempt]
    body: bytes = b""
    stream: StreamRelay | None = None
    usage: dict[str, Any] | None = None

    @property
    def calls(self) -> int:
        return sum(1 for a in self.attempts if not a.skipped)

    @property
    def skipped(self) -> int:
        return sum(1 for a in self.attempts if a.skipped)


@dataclass(slots=True)
class _Walk:
    chain: Chain
    request: ChatRequest
    deadline: float
    attempts: list[Attempt] = field(default_factory=list)


class WalkFailed(ProxyError):
    """The walk ends without an answer: the chain is exhausted, or the request was refused."""

    def __init__(self, status: int, message: str, attempts: list[Attempt], **kw: Any) -> None:
        super().__init__(status, message, **kw)
        self.attempts = attempts


class Walker:
    """Walks chains; holds the collaborators every walk shares."""

    def __init__(
        self,
        tracker: QuotaTracker,
        upstream: Upstream,
        timeouts: Timeouts | None = None,
        *,
        normalize: bool = False,
        clock: Clock = time.time,
    ) -> None:
        self.tracker = tracker
        self.upstream = upstream
        self.timeouts = timeouts or Timeouts()
        self.normalize = normalize
        self.clock = clock
        # Entries whose upstream refused `stream_options` once: never send it again.
        self.no_stream_options: set[str] = set()
        self.waiting = WaitRoom(clock)
        tracker.subscribe(self.waiting.capacity_changed)

    async def serve(
        self, chain: Chain, request: ChatRequest, max_wait_s: float | None = None
    ) -> Served:
        """Walk the chain; if it is out of quota and waiting is allowed, wait for capacity."""
        try:
            return await self._walk(chain, request)
        except WalkFailed as failed:
            wait = max_wait_s if max_wait_s is not None else chain.max_wait_s
            if not wait or failed.status != 429:
                raise
            wait = min(wait, self.timeouts.deadline_s)
            return await self.waiting.wait(
                chain.name,
                failed,
                wait,
                lambda on_reserved: self._walk(chain, request, on_reserved),
            )

    async def _walk(
        self,
        chain: Chain,
        request: ChatRequest,
        on_reserved: Callable[[], None] | None = None,
    ) -> Served:
        walk = _Walk(chain, request, time.monotonic() + self.timeouts.deadline_s)
        for index, entry in enumerate(chain.entries):
            if time.monotonic() >= walk.deadline:
                for rest in chain.entries[index:]:
                    walk.attempts.append(
                        Attempt(rest.key, "deadline", None, "not tried: deadline exceeded", True)
                    )
                break
            ticket = self.tracker.acquire(entry, request.est_tokens)
            if isinstance(ticket, Verdict):
                walk.attempts.append(
                    Attempt(entry.key, ticket.kind, None, ticket.reason, True, 0.0, ticket.free_at)
                )
                continue
            if on_reserved is not None:
                on_reserved()
            served = await self._try(walk, entry, ticket)
            if served is not None:
                return served
        raise self._exhausted(walk)

    async def _try(self, walk: _Walk, entry: Entry, ticket: Ticket) -> Served | None:
        started = time.monotonic()
        try:
            result = await self._call(walk, entry, ticket)
        except asyncio.CancelledError:
            self.tracker.cancel(ticket)
            raise
        except Exception as exc:  # every upstream failure is an outcome, never a crash
            result = classify_exception(exc).scrubbed(entry.api_key)
            if result.kind is OutcomeKind.TIMEOUT:
                elapsed = time.monotonic() - started
                result = Outcome(OutcomeKind.TIMEOUT, None, f"timeout after {elapsed:.0f}s")
            self.tracker.release(ticket, result)
        latency = (time.monotonic() - started) * 1000
        if isinstance(result, Served):
            walk.attempts.append(Attempt(entry.key, "success", 200, "served", False, latency))
            return result
        if result.action is Action.RETURN:
            walk.attempts.append(Attempt(entry.key, result.kind, result.status, result.message))
            raise _client_error(result, walk.attempts)
        blocked = self.tracker.blocked(entry)
        free_at = blocked.free_at if blocked else result.retry_at
        walk.attempts.append(
            Attempt(entry.key, result.kind, result.status, result.message, False, latency, free_at)
        )
        return None

    async def _call(self, walk: _Walk, entry: Entry, ticket: Ticket) -> Served | Outcome:
        """One upstream call. Every outcome it returns has already settled the ticket."""
        request = walk.request
        send_options = entry.key not in self.no_stream_options
        body = upstream_body(request, entry, send_stream_options=send_options)
        loop = asyncio.get_running_loop()
        # The whole attempt has `timeout_s` (and the walk's deadline); the response headers, and
        # for a stream its first event, must come within the first-byte timeout.
        limit = loop.time() + min(entry.timeout_s, walk.deadline - time.monotonic())
        first_byte = min(limit, loop.time() + self.timeouts.first_byte_s)
        async with asyncio.timeout_at(first_byte) as timeout:
            response = await self.upstream.open(entry, body)
            if not request.stream:
                timeout.reschedule(limit)
            if not 200 <= response.status < 300:
                raw = await _read_closing(response)
                if request.stream and send_options and rejects_stream_options(response.status, raw):
                    self.no_stream_options.add(entry.key)
                    return await self._call(walk, entry, ticket)
                return self._settle_failure(entry, ticket, response, raw)
            if request.stream:
                return await self._commit(walk, entry, ticket, response)
            raw = await _read_closing(response)
        return self._finish(walk, entry, ticket, response, raw)

    def _finish(
        self, walk: _Walk, entry: Entry, ticket: Ticket, response: UpstreamResponse, raw: bytes
    ) -> Served | Outcome:
        now = self.clock()
        snapshot = parse_rate_limit_headers(entry.preset.dialect, response.headers, now)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and "error" in data and not data.get("choices"):
            outcome = classify_stream_error(data, now=now).scrubbed(entry.api_key)
            self.tracker.release(ticket, outcome, snapshot)
            return outcome
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            outcome = Outcome(OutcomeKind.MALFORMED, response.status, "malformed response body")
            self.tracker.release(ticket, outcome, snapshot)
            return outcome
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        self.tracker.release(ticket, _SUCCESS, snapshot, total_tokens(usage))
        if self.normalize and copy_reasoning(data, "message"):
            raw = orjson.dumps(data)
        return Served(entry, walk.attempts, body=raw, usage=usage)

    async def _commit(
        self, walk: _Walk, entry: Entry, ticket: Ticket, response: UpstreamResponse
    ) -> Served | Outcome:
        now = self.clock()
        snapshot = parse_rate_limit_headers(entry.preset.dialect, response.headers, now)
        opened = await open_stream(
            response,
            ticket,
            self.tracker,
            snapshot,
            include_usage=walk.request.include_usage,
            normalize=self.normalize,
            idle_s=self.timeouts.idle_s,
            clock=self.clock,
        )
        if isinstance(opened, StreamRelay):
            return Served(entry, walk.attempts, stream=opened)
        return opened

    def _settle_failure(
        self, entry: Entry, ticket: Ticket, response: UpstreamResponse, raw: bytes
    ) -> Outcome:
        now = self.clock()
        outcome = classify_response(
            response.status,
            response.headers,
            raw,
            now=now,
            daily_reset=entry.preset.daily_reset,
            dialect=entry.preset.dialect,
        ).scrubbed(entry.api_key)
        snapshot = parse_rate_limit_headers(entry.preset.dialect, response.headers, now)
        self.tracker.release(ticket, outcome, snapshot)
        return outcome

    def _exhausted(self, walk: _Walk) -> WalkFailed:
        now = self.clock()
        attempts = walk.attempts
        described = "; ".join(a.describe() for a in attempts)
        message = f"Tried {len(attempts)}: {described}" if attempts else "The chain has no entries."
        out_of_quota = bool(attempts) and all(a.kind in QUOTA_KINDS for a in attempts)
        if out_of_quota:
            free = [a.free_at for a in attempts if a.free_at is not None]
            retry = max(1, math.ceil(min(free) - now)) if free else 60
            return WalkFailed(
                429,
                f"{message}. Retry in {retry}s.",
                attempts,
                type="rate_limit_error",
                code="all_providers_exhausted",
                headers={"Retry-After": str(retry)},
            )
        return WalkFailed(
            503, message, attempts, type="server_error", code="all_providers_exhausted"
        )


_SUCCESS = Outcome(OutcomeKind.SUCCESS, 200, "served")


async def _read_closing(response: UpstreamResponse) -> bytes:
    try:
        return await response.read()
    finally:
        response.close()


def _client_error(outcome: Outcome, attempts: list[Attempt]) -> WalkFailed:
    """The upstream said the request itself is wrong: pass its words on, OpenAI-shaped."""
    body = outcome.error_body
    error = body.get("error") if isinstance(body, dict) else None
    status = outcome.status or 400
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return WalkFailed(
            status,
            error["message"],
            attempts,
            type=str(error.get("type") or "invalid_request_error"),
            code=_str_or_none(error.get("code")),
            param=_str_or_none(error.get("param")),
        )
    return WalkFailed(status, outcome.message, attempts, code="upstream_rejected")


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)
