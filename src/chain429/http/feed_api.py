"""The live request feed: every finished request as a server-sent event, for the UI.

Built on `EventHub.feed()`: each reader gets its own bounded queue, so a slow browser tab
drops events (and is told how many) instead of holding memory or slowing requests. The
request path pays nothing for it beyond the hub's loop over subscribers. Admin key only; the
browser reads it with `fetch` (an `EventSource` cannot send the key header).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from chain429.events import RequestFinished, Subscriber
from chain429.http.admin_request import admin_state
from chain429.http.stats_shapes import iso_time
from chain429.storage.records import is_fallback

# A comment line this often keeps proxies and idle timeouts from closing a quiet stream.
HEARTBEAT_S = 15.0
MAX_QUEUE = 500
BACKLOG = 50  # the newest requests a new reader is sent first, so a fresh tab is not empty
CLOSING: web.AppKey[asyncio.Event] = web.AppKey("feed_closing")


def feed_event(event: RequestFinished) -> dict[str, Any]:
    """The request as `GET /v1/stats/requests/{id}` shows it (`RequestDetail`)."""
    r = event.record
    return {
        "id": r.id,
        "timestamp": round(r.ts * 1000),
        "chain_name": r.chain,
        "provider_id": r.provider,
        "model": r.model,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "total_tokens": r.total_tokens,
        "latency_ms": round(r.latency_ms, 1),
        "http_status": r.status,
        "attempts": r.calls,
        "time": iso_time(r.ts),
        "key_label": r.key_label,
        "requested_model": r.requested_model,
        "stream": r.stream,
        "outcome": r.outcome,
        "tokens_estimated": r.tokens_estimated,
        "ttft_ms": round(r.ttft_ms, 1) if r.ttft_ms is not None else None,
        "skipped": r.skipped,
        "rate_limited": r.rate_limited,
        "fallback": is_fallback(r.outcome, r.calls),
        "error": r.error,
        "endpoint": r.endpoint,
        "attempt_log": [
            {
                "seq": a.seq,
                "provider_id": a.provider,
                "model": a.model,
                "outcome": a.outcome,
                "http_status": a.status,
                "latency_ms": round(a.latency_ms, 1),
                "reason": a.reason,
                "skipped": a.skipped,
            }
            for a in r.attempts
        ],
    }


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def events(request: web.Request) -> web.StreamResponse:
    """`event: request` per finished request; `event: dropped` when this reader fell behind."""
    state = admin_state(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass events through at once
        }
    )
    backlog = request.app[RECENT]
    backlog.start(state.events.subscribe)
    closing = request.app[CLOSING]
    with state.events.feed(MAX_QUEUE) as feed:
        await response.prepare(request)
        await response.write(b"retry: 3000\nevent: ready\ndata: {}\n\n")
        for past in tuple(backlog.events):
            await response.write(sse("request", feed_event(past)))
        reported = 0
        closed = asyncio.ensure_future(closing.wait())
        next_event: asyncio.Future[RequestFinished] | None = None
        try:
            while not closing.is_set():
                next_event = next_event or asyncio.ensure_future(feed.get())
                done, _ = await asyncio.wait(
                    (next_event, closed), timeout=HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED
                )
                if next_event not in done:
                    if not done:
                        await response.write(b": ping\n\n")
                    continue
                event, next_event = next_event.result(), None
                if feed.dropped != reported:
                    await response.write(sse("dropped", {"dropped": feed.dropped}))
                    reported = feed.dropped
                await response.write(sse("request", feed_event(event)))
            await response.write_eof()  # shutting down: end the stream cleanly
        except ConnectionResetError:
            pass  # the reader left
        finally:
            for waiter in (closed, next_event):
                if waiter is not None:
                    waiter.cancel()
    return response


class Backlog:
    """The newest finished requests. It subscribes when the first reader connects: a proxy
    nobody watches pays nothing for it."""

    def __init__(self, size: int = BACKLOG) -> None:
        self.events: deque[RequestFinished] = deque(maxlen=size)
        self._started = False

    def start(self, subscribe: Callable[[Subscriber], Callable[[], None]]) -> None:
        if not self._started:
            self._started = True
            subscribe(self.events.append)


RECENT: web.AppKey[Backlog] = web.AppKey("feed_backlog")


def install(app: web.Application) -> None:
    """Open feeds end when the server shuts down, so a browser tab cannot hold it up."""
    closing = asyncio.Event()
    app[CLOSING] = closing
    app[RECENT] = Backlog()

    async def end_feeds(app: web.Application) -> None:
        closing.set()

    app.on_shutdown.append(end_feeds)
