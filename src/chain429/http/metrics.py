"""Prometheus metrics, in a registry owned by the app (no module-level globals).

`Metrics()` owns a `CollectorRegistry`; `observe(record)` counts each finished request. The
gauges (blocked entries, the log writer's queue and drops, uptime) are read from the app state
at scrape time, once `bind(state)` (or `Metrics(state)`) has given it.

Series (all prefixed `chain429_`):
- `requests_total{chain,provider,outcome,status}`, `attempts_total{provider,outcome}` (upstream
  calls), `entries_skipped_total{provider,kind}`, `tokens_total{provider,kind}`
  (kind: prompt | completion);
- histograms `request_latency_seconds{chain,stream}`, `ttft_seconds{chain}` (streams),
  `attempt_latency_seconds{provider}`;
- gauges `entries_blocked{provider,kind}` (cooldowns, breakers, spent quotas, disabled),
  `log_queue_depth`, `uptime_seconds`, `store_up`; counters `log_written_total`,
  `log_dropped_total`, `log_failed_batches_total`.

Labels stay bounded whatever clients send: a request for a `provider/model` pair that no
configured chain holds (an ad-hoc pair) is counted under `chain="<provider>/ad-hoc"`, one series
per provider, not one per model id a client made up.

`GET /metrics` needs an admin key like every stats route (Prometheus: `authorization:
{credentials: <admin key>}` in the scrape config). The tallies are copied in the event loop
(cheap), and the text is rendered from the copy in a worker thread, so a big scrape does not
stall traffic.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import Counter as Tally
from typing import TYPE_CHECKING

from aiohttp import web

from chain429.errors import ProxyError
from chain429.storage.records import RequestRecord

if TYPE_CHECKING:
    from chain429.engine.chain import ChainTable
    from chain429.events import RequestFinished
    from chain429.http.state import AppState

PREFIX = "chain429"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
AD_HOC = "ad-hoc"  # the model part of the chain label of pairs no configured chain holds


class Histogram:
    """Bucket counts per label set, kept as plain lists: observing is a bisect and an add."""

    __slots__ = ("bounds", "series")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.series: dict[tuple[str, ...], list[float]] = {}  # counts per bucket, +Inf, sum

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        counts = self.series.get(labels)
        if counts is None:
            counts = self.series[labels] = [0.0] * (len(self.bounds) + 2)
        counts[bisect_left(self.bounds, value)] += 1
        counts[-1] += value

    def copy(self) -> Histogram:
        """A snapshot, safe to read in another thread while this one keeps counting."""
        other = Histogram(self.bounds)
        other.series = {labels: list(counts) for labels, counts in self.series.items()}
        return other


class Metrics:
    """The app's counters and histograms, and the scrape-time gauges read from its state.

    `observe` runs on every request, so it only adds to plain dicts; the Prometheus families
    are built from them when scraped.
    """

    def __init__(self, state: AppState | None = None) -> None:
        self._state = state
        self._routes: ChainTable | None = None  # the routes `_known` was built from
        self._known: frozenset[str] = frozenset()  # chain names and configured pairs
        self.requests: Tally[tuple[str, str, str, str]] = Tally()
        self.attempts: Tally[tuple[str, str]] = Tally()
        self.skips: Tally[tuple[str, str]] = Tally()
        self.tokens: Tally[tuple[str, str]] = Tally()
        self.latency = Histogram(LATENCY_BUCKETS)
        self.ttft = Histogram(TTFT_BUCKETS)
        self.attempt_latency = Histogram(LATENCY_BUCKETS)

    @property
    def state(self) -> AppState | None:
        return self._state

    def bind(self, state: AppState) -> None:
        """Give the app state the scrape-time gauges read."""
        self._state = state

    def on_finished(self, event: RequestFinished) -> None:
        """The subscriber to the app's `RequestFinished` events."""
        self.observe(event.record)

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request: requests, attempts by outcome, tokens, latency."""
        chain = self._chain_label(record.chain)
        provider = record.provider or ""
        self.requests[(chain, provider, record.outcome, str(record.status))] += 1
        stream = "true" if record.stream else "false"
        self.latency.observe((chain, stream), record.latency_ms / 1000)
        if record.ttft_ms is not None:
            self.ttft.observe((chain,), record.ttft_ms / 1000)
        if provider:
            if record.prompt_tokens:
                self.tokens[(provider, "prompt")] += record.prompt_tokens
            if record.completion_tokens:
                self.tokens[(provider, "completion")] += record.completion_tokens
        for attempt in record.attempts:
            if attempt.skipped:
                self.skips[(attempt.provider, attempt.outcome)] += 1
            else:
                self.attempts[(attempt.provider, attempt.outcome)] += 1
                self.attempt_latency.observe((attempt.provider,), attempt.latency_ms / 1000)

    def _chain_label(self, chain: str | None) -> str:
        """The chain's name, or `<provider>/ad-hoc` for a pair no configured chain holds."""
        if not chain:
            return ""
        if self._state is None:
            return chain
        routes = self._state.runtime.routes
        if routes is not self._routes:  # the config changed: rebuild once, not per request
            self._routes, self._known = routes, frozenset(routes.model_ids())
        if chain in self._known or "/" not in chain:
            return chain
        return f"{chain.partition('/')[0]}/{AD_HOC}"

    def render(self) -> bytes:
        """Everything in the Prometheus text format (in the calling thread)."""
        from chain429.http.metrics_export import render, snapshot

        return render(snapshot(self))

    async def render_off_loop(self) -> bytes:
        """Copy the tallies here, render the text in a worker thread."""
        from chain429.http.metrics_export import render, snapshot

        return await asyncio.to_thread(render, snapshot(self))


async def metrics_handler(request: web.Request) -> web.Response:
    """`GET /metrics`: the Prometheus text format; needs an admin key."""
    from chain429.http.state import STATE  # state.py imports this module

    state = request.app[STATE]
    state.admin_keys.require(request.headers)
    if state.metrics is None:
        raise ProxyError(
            503, "Metrics are not enabled.", type="server_error", code="metrics_unavailable"
        )
    from chain429.http.metrics_export import CONTENT_TYPE

    body = await state.metrics.render_off_loop()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
