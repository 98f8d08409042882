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

`GET /metrics` needs an admin key like every stats route (Prometheus: `authorization:
{credentials: <admin key>}` in the scrape config).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from chain429.errors import ProxyError
from chain429.storage.records import RequestRecord

if TYPE_CHECKING:
    from chain429.engine.chain import Entry
    from chain429.http.state import AppState

PREFIX = "chain429"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class _Histogram:
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

    def family(self, name: str, doc: str, label_names: list[str]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, doc, labels=label_names)
        for labels, counts in sorted(self.series.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip((*self.bounds, float("inf")), counts[:-1], strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            family.add_metric(list(labels), buckets, counts[-1])
        return family


class Metrics:
    """The app's counters and histograms, and the scrape-time gauges read from its state.

    `observe` runs on every request, so it only adds to plain dicts; the Prometheus families
    are built from them when scraped.
    """

    def __init__(self, state: AppState | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._state = state
        self.requests: Tally[tuple[str, str, str, str]] = Tally()
        self.attempts: Tally[tuple[str, str]] = Tally()
        self.skips: Tally[tuple[str, str]] = Tally()
        self.tokens: Tally[tuple[str, str]] = Tally()
        self.latency = _Histogram(LATENCY_BUCKETS)
        self.ttft = _Histogram(TTFT_BUCKETS)
        self.attempt_latency = _Histogram(LATENCY_BUCKETS)
        self.registry.register(_TallyCollector(self))
        self.registry.register(_StateCollector(self))

    @property
    def state(self) -> AppState | None:
        return self._state

    def bind(self, state: AppState) -> None:
        """Give the app state the scrape-time gauges read."""
        self._state = state

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request: requests, attempts by outcome, tokens, latency."""
        chain = record.chain or ""
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

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class _TallyCollector(Collector):
    """The request counters and histograms, as Prometheus families."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        m = self._metrics
        yield _counter(
            f"{PREFIX}_requests",
            "Client requests answered, by chain, serving provider, outcome and status.",
            ["chain", "provider", "outcome", "status"],
            m.requests,
        )
        yield _counter(
            f"{PREFIX}_attempts",
            "Upstream calls made, by provider and outcome.",
            ["provider", "outcome"],
            m.attempts,
        )
        yield _counter(
            f"{PREFIX}_entries_skipped",
            "Entries passed over without a call, by provider and why.",
            ["provider", "kind"],
            m.skips,
        )
        yield _counter(
            f"{PREFIX}_tokens",
            "Tokens served, by provider and kind (prompt, completion).",
            ["provider", "kind"],
            m.tokens,
        )
        yield m.latency.family(
            f"{PREFIX}_request_latency_seconds",
            "Client request latency, arrival to last byte.",
            ["chain", "stream"],
        )
        yield m.ttft.family(
            f"{PREFIX}_ttft_seconds", "Time to first token of streamed requests.", ["chain"]
        )
        yield m.attempt_latency.family(
            f"{PREFIX}_attempt_latency_seconds", "Upstream call latency, by provider.", ["provider"]
        )


def _counter(name: str, doc: str, label_names: list[str], tally: Tally[Any]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=label_names)
    for labels, value in sorted(tally.items()):
        family.add_metric(list(labels), value)
    return family


class _Families:
    """The scrape-time metric families, fresh for each scrape."""

    def __init__(self) -> None:
        self.blocked = GaugeMetricFamily(
            f"{PREFIX}_entries_blocked",
            "Chain entries that cannot take a request now, by provider and why "
            "(a cooldown, the breaker, a spent quota, a disabled provider).",
            labels=["provider", "kind"],
        )
        self.uptime = GaugeMetricFamily(f"{PREFIX}_uptime_seconds", "Seconds since the start.")
        self.store_up = GaugeMetricFamily(
            f"{PREFIX}_store_up", "1 when the request log store is open."
        )
        self.queue = GaugeMetricFamily(
            f"{PREFIX}_log_queue_depth", "Request records waiting to be written."
        )
        self.written = CounterMetricFamily(
            f"{PREFIX}_log_written", "Request records written to the store."
        )
        self.dropped = CounterMetricFamily(
            f"{PREFIX}_log_dropped", "Request records dropped because the queue was full."
        )
        self.failed = CounterMetricFamily(
            f"{PREFIX}_log_failed_batches", "Batches of request records the store refused."
        )

    def all(self) -> list[Metric]:
        return [
            self.blocked,
            self.uptime,
            self.store_up,
            self.queue,
            self.written,
            self.dropped,
            self.failed,
        ]


class _StateCollector(Collector):
    """Gauges computed when scraped, from the bound app state."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return _Families().all()

    def collect(self) -> Iterable[Metric]:
        state = self._metrics.state
        families = _Families()
        if state is None:
            return families.all()
        for (provider, kind), n in sorted(_blocked(state).items()):
            families.blocked.add_metric([provider, kind], n)
        families.uptime.add_metric([], time.monotonic() - state.started)
        families.store_up.add_metric([], 1.0 if state.store.store is not None else 0.0)
        writer = state.writer
        if writer is not None:
            families.queue.add_metric([], writer.queued)
            families.written.add_metric([], writer.written)
            families.dropped.add_metric([], writer.dropped)
            families.failed.add_metric([], writer.failed_batches)
        return families.all()


def _blocked(state: AppState) -> Tally[tuple[str, str]]:
    counts: Tally[tuple[str, str]] = Tally()
    for entry in _entries(state):
        verdict = state.tracker.blocked(entry)
        if verdict is not None:
            counts[(entry.provider, verdict.kind)] += 1
    return counts


def _entries(state: AppState) -> Iterator[Entry]:
    seen: set[str] = set()
    for chain in state.routes.chains.values():
        for entry in chain.entries:
            if entry.key not in seen:
                seen.add(entry.key)
                yield entry


async def metrics_handler(request: web.Request) -> web.Response:
    """`GET /metrics`: the Prometheus text format; needs an admin key."""
    from chain429.http.state import STATE  # state.py imports this module

    state = request.app[STATE]
    state.admin_keys.require(request.headers)
    if state.metrics is None:
        raise ProxyError(
            503, "Metrics are not enabled.", type="server_error", code="metrics_unavailable"
        )
    return web.Response(body=state.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
