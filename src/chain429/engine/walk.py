"""The waterfall: try a chain's entries in order until one answers; say why each did not.

Each entry gets the request in the API it speaks: a /v1/messages request goes as the client
sent it to an entry that serves Anthropic's Messages API natively, and as chat to the others
(`ClientRequest.for_entry`), all in one walk.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from chain429.engine.deadline import Deadline
from chain429.engine.messages_relay import MessagesRelay
from chain429.engine.normalize import copy_reasoning, total_tokens
from chain429.engine.order import Router
from chain429.engine.outcome import classify_exception, rejects_stream_options
from chain429.engine.relay import StreamRelay, open_stream
from chain429.engine.request import ClientRequest, upstream_body
from chain429.engine.settle import Settled, settle
from chain429.engine.upstream import Upstream, UpstreamResponse
from chain429.engine.waiting import WaitRoom
from chain429.errors import ProxyError
from chain429.quota.tracker import QuotaTracker
from chain429.vocabulary import (
    QUOTA_KINDS,
    Action,
    Chain,
    Entry,
    Outcome,
    OutcomeKind,
    Ticket,
    Verdict,
)

Clock = Callable[[], float]
UNUSABLE_KINDS = frozenset({"disabled", "auth_failed", "model_not_found", "unsupported"})
_UNSET_VAR = re.compile(r"\b([A-Z][A-Z0-9_]*) is (?:not set|empty)")  # a disabled entry's reason
# Which relay reads a stream in an API other than OpenAI's.
_RELAYS: dict[str, type[StreamRelay]] = {"anthropic": MessagesRelay}


@dataclass(frozen=True, slots=True)
class Timeouts:
    first_byte_s: float = 60.0
    idle_s: float = 60.0
    deadline_s: float = 300.0  # the whole walk, until an answer (or a stream) starts
    stream_s: float = 900.0  # a committed stream, from its first event to its end


@dataclass(frozen=True, slots=True)
class Caps:
    """Bounds on what one upstream may make us hold in memory."""

    body_bytes: int = 32 * 1024 * 1024  # a whole (non-stream) answer
    error_bytes: int = 64 * 1024  # an error answer: a few KB are enough to classify it
    event_bytes: int = 1024 * 1024  # one server-sent event


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
    usage: dict[str, Any] | None = None  # OpenAI-shaped, whatever API answered
    native: bool = False  # the answer is in the client's own API (`ClientRequest.native`)

    @property
    def calls(self) -> int:
        return sum(1 for a in self.attempts if not a.skipped)

    @property
    def skipped(self) -> int:
        return sum(1 for a in self.attempts if a.skipped)


@dataclass(slots=True)
class _Walk:
    chain: Chain
    request: ClientRequest
    deadline: float  # on the walker's clock
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
        caps: Caps | None = None,
        normalize: bool = False,
        clock: Clock = time.time,
        router: Router | None = None,
    ) -> None:
        self.tracker = tracker
        self.router = router or Router()
        self.upstream = upstream
        self.timeouts = timeouts or Timeouts()
        self.caps = caps or Caps()
        self.normalize = normalize
        self.clock = clock
        # Entries whose upstream refused `stream_options` once: never send it again.
        self.no_stream_options: set[str] = set()
        self.waiting = WaitRoom(clock)
        self._released = Released()
        tracker.subscribe(self.waiting.capacity_changed)
        tracker.subscribe(self._released.notify)

    async def serve(
        self, chain: Chain, request: ClientRequest, max_wait_s: float | None = None
    ) -> Served:
        """Walk the chain; if it is out of quota and waiting is allowed, wait for capacity.

        While requests wait for a chain, a new one does not take capacity ahead of them: it
        joins the end of the queue if it may wait, and is told to retry otherwise.
        """
        wait = max_wait_s if max_wait_s is not None else chain.max_wait_s
        wait = min(wait, self.timeouts.deadline_s) if wait else None

        def walk(on_reserved: Callable[[], None]) -> Awaitable[Served]:
            return self._walk(chain, request, on_reserved)

        queued = self.waiting.queued(chain.name)
        if queued:
            if wait:
                return await self.waiting.wait(chain.name, None, wait, walk)
            raise _queue_ahead(chain.name, queued, self.waiting.retry_after(chain.name))
        try:
            return await self._walk(chain, request)
        except WalkFailed as failed:
            if not wait or failed.status != 429:
                raise
            return await self.waiting.wait(chain.name, failed, wait, walk)

    async def _walk(
        self,
        chain: Chain,
        request: ClientRequest,
        on_reserved: Callable[[], None] | None = None,
    ) -> Served:
        now = self.clock()
        walk = _Walk(chain, request, now + self.timeouts.deadline_s)
        operation: str = request.operation.name
        if request.native is not None:
            operation += f" or {request.native.operation.name}"
        candidates = self.router.order(chain, self.tracker, now)
        for index, entry in enumerate(candidates):
            if self.clock() >= walk.deadline:
                for rest in candidates[index:]:
                    walk.attempts.append(
                        Attempt(rest.key, "deadline", None, "not tried: deadline exceeded", True)
                    )
                break
            sent = request.for_entry(entry)  # the request in the API this entry speaks
            if sent is None:
                reason = f"{entry.provider} does not serve {operation}"
                walk.attempts.append(Attempt(entry.key, "unsupported", None, reason, True))
                continue
            # Built before anything is reserved: a body we cannot encode is the client's 400.
            body = self._body(sent, entry)
            ticket = await self._reserve(walk, entry, sent.tokens_for(entry))
            if isinstance(ticket, Verdict):
                walk.attempts.append(
                    Attempt(entry.key, ticket.kind, None, ticket.reason, True, 0.0, ticket.free_at)
                )
                continue
            if on_reserved is not None:
                on_reserved()
            served = await self._try(walk, entry, ticket, sent, body)
            if served is not None:
                return served
        raise self._exhausted(walk)

    async def _reserve(self, walk: _Walk, entry: Entry, tokens: int) -> Ticket | Verdict:
        """Reserve; an entry still learning its limits is worth the wait for its first answer
        (one upstream round trip), where skipping it could fail a request with room left."""
        ticket = await self.tracker.reserve(entry, tokens)
        while isinstance(ticket, Verdict) and ticket.kind == "learning":
            left = min(walk.deadline - self.clock(), self.timeouts.first_byte_s)
            if left <= 0 or not await self._released.wait(left):
                break
            ticket = await self.tracker.reserve(entry, tokens)
        return ticket

    def _body(self, request: ClientRequest, entry: Entry) -> bytes:
        send_options = entry.key not in self.no_stream_options
        return upstream_body(request, entry, send_stream_options=send_options)

    async def _try(
        self, walk: _Walk, entry: Entry, ticket: Ticket, request: ClientRequest, body: bytes
    ) -> Served | None:
        started = self.clock()
        try:
            result = await self._call(walk, entry, ticket, request, body)
        except asyncio.CancelledError:
            await self.tracker.cancel(ticket)
            raise
        except Exception as exc:
            outcome = classify_exception(exc)
            if outcome is None:  # our own fault, not the entry's: charge nothing
                await self.tracker.cancel(ticket)
                raise
            result = outcome.scrubbed(entry.api_key)
            if result.kind is OutcomeKind.TIMEOUT:
                elapsed = self.clock() - started
                result = Outcome(OutcomeKind.TIMEOUT, None, f"timeout after {elapsed:.0f}s")
            await self.tracker.settle(ticket, result)
        latency = (self.clock() - started) * 1000
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

    async def _call(
        self, walk: _Walk, entry: Entry, ticket: Ticket, request: ClientRequest, body: bytes
    ) -> Served | Outcome:
        """One upstream call of `request` (the walk's, or its native form). Every outcome it
        returns has already settled the ticket."""
        # The whole attempt has `timeout_s` (and the walk's deadline); the response headers, and
        # for a stream its first event, must come within the first-byte timeout.
        limit = min(entry.timeout_s, walk.deadline - self.clock())
        started = asyncio.get_running_loop().time()
        async with Deadline(started + min(limit, self.timeouts.first_byte_s)) as deadline:
            response = await self.upstream.open(entry, request.operation.path, body)
            if not request.stream:
                deadline.extend(started + limit)
            if not 200 <= response.status < 300:
                raw = await _read_closing(response, self.caps.error_bytes, truncate=True)
                if (
                    request.stream
                    and request.operation.api == "openai"
                    and entry.key not in self.no_stream_options
                    and rejects_stream_options(response.status, raw)
                ):
                    self.no_stream_options.add(entry.key)
                    body = self._body(request, entry)
                    return await self._call(walk, entry, ticket, request, body)
                return (await self._settle(entry, ticket, response, raw, request)).outcome
            if request.stream:
                return await self._commit(walk, entry, ticket, request, response)
            raw = await _read_closing(response, self.caps.body_bytes)
        return await self._finish(walk, entry, ticket, request, response, raw)

    async def _settle(
        self,
        entry: Entry,
        ticket: Ticket,
        response: UpstreamResponse,
        raw: bytes | None,
        request: ClientRequest,
    ) -> Settled:
        settled = settle(
            entry,
            response.status,
            response.headers,
            raw,
            self.clock(),
            operation=request.operation,
            est_tokens=request.tokens_for(entry),
        )
        if settled.outcome.kind is not OutcomeKind.SUCCESS:
            await self.tracker.settle(ticket, settled.outcome, settled.snapshot)
        return settled

    async def _finish(
        self,
        walk: _Walk,
        entry: Entry,
        ticket: Ticket,
        request: ClientRequest,
        response: UpstreamResponse,
        raw: bytes,
    ) -> Served | Outcome:
        settled = await self._settle(entry, ticket, response, raw, request)
        data = settled.answer
        if data is None:
            return settled.outcome
        usage = request.operation.usage(data)
        await self.tracker.settle(ticket, settled.outcome, settled.snapshot, total_tokens(usage))
        native = request is walk.request.native
        if self.normalize and not native and copy_reasoning(data, "message"):
            raw = orjson.dumps(data)
        return Served(entry, walk.attempts, body=raw, usage=usage, native=native)

    async def _commit(
        self,
        walk: _Walk,
        entry: Entry,
        ticket: Ticket,
        request: ClientRequest,
        response: UpstreamResponse,
    ) -> Served | Outcome:
        settled = await self._settle(entry, ticket, response, None, request)
        opened = await open_stream(
            response,
            ticket,
            self.tracker,
            settled.snapshot,
            include_usage=request.include_usage,
            normalize=self.normalize,
            timeouts=self.timeouts,
            event_bytes=self.caps.event_bytes,
            clock=self.clock,
            relay=_RELAYS.get(request.operation.api),
        )
        if isinstance(opened, StreamRelay):
            ticket.first_byte_at = self.clock()
            native = request is walk.request.native
            return Served(entry, walk.attempts, stream=opened, native=native)
        return opened

    def _exhausted(self, walk: _Walk) -> WalkFailed:
        now = self.clock()
        attempts = walk.attempts
        described = "; ".join(a.describe() for a in attempts)
        message = f"Tried {len(attempts)}: {described}" if attempts else "The chain has no entries."
        # Entries that could not serve whatever the quota (no key, a bad key, a model gone, an
        # operation not served) say nothing about capacity: when every entry that could serve is
        # out of quota, the answer is a 429 with Retry-After, and waiting can engage.
        usable = [a for a in attempts if a.kind not in UNUSABLE_KINDS]
        out_of_quota = bool(usable) and all(a.kind in QUOTA_KINDS for a in usable)
        if out_of_quota:
            free = [a.free_at for a in usable if a.free_at is not None]
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
            503,
            _what_to_do(walk.chain.name, attempts) + message,
            attempts,
            type="server_error",
            code="all_providers_exhausted",
        )


def _what_to_do(chain: str, attempts: list[Attempt]) -> str:
    """A first sentence for a 503 that keyless providers caused: how to get going."""
    keyless = [a for a in attempts if a.kind == "disabled"]
    if not keyless:
        return ""
    var = next((m.group(1) for a in keyless if (m := _UNSET_VAR.search(a.reason))), None)
    export = f"export {var}=..." if var else "set the provider keys"
    if len(keyless) == len(attempts):
        what = f"No provider in chain {chain!r} has a key"
    else:
        what = f"{len(keyless)} of {len(attempts)} entries in chain {chain!r} have no key"
        what += " and the others failed"
    return f"{what}: {export} and restart, or run `429chain demo`. "


async def _read_closing(response: UpstreamResponse, limit: int, *, truncate: bool = False) -> bytes:
    try:
        return await response.read(limit, truncate=truncate)
    finally:
        response.close()


class Released:
    """Wakes everyone waiting for the next reservation to end (a broadcast, never missed)."""

    def __init__(self) -> None:
        self._next: asyncio.Future[None] | None = None

    def notify(self) -> None:
        if self._next is not None and not self._next.done():
            self._next.set_result(None)
        self._next = None

    async def wait(self, timeout_s: float) -> bool:
        """True when a reservation ended within `timeout_s`."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._next), timeout_s)
        except TimeoutError:
            return False
        return True


def _queue_ahead(chain: str, queued: int, retry: int) -> WalkFailed:
    return WalkFailed(
        429,
        f"{queued} request(s) already wait for capacity on chain '{chain}'. Retry in {retry}s, "
        "or send X-429chain-Max-Wait to queue behind them.",
        [],
        type="rate_limit_error",
        code="all_providers_exhausted",
        headers={"Retry-After": str(retry)},
    )


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
