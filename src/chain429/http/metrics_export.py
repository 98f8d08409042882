"""Metrics in the Prometheus text format: built from the tallies when scraped."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from chain429.http.metrics import PREFIX, Histogram, Metrics
from chain429.http.tracker_view import blocked_by_kind

CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass(slots=True)
class Snapshot:
    """Copies of the tallies and the scrape-time gauges, taken in the event loop.

    Rendering reads only this, so it can run in a worker thread while requests keep counting.
    """

    requests: Tally[tuple[str, str, str, str]]
    attempts: Tally[tuple[str, str]]
    skips: Tally[tuple[str, str]]
    tokens: Tally[tuple[str, str]]
    latency: Histogram
    ttft: Histogram
    attempt_latency: Histogram
    blocked: Tally[tuple[str, str]] | None = None  # None: no state bound, no gauges
    uptime_s: float = 0.0
    store_up: bool = False
    writer: tuple[int, int, int, int] | None = None  # queued, written, dropped, failed batches


def snapshot(metrics: Metrics) -> Snapshot:
    """Copy what a scrape shows; no prometheus_client work here."""
    snap = Snapshot(
        Tally(metrics.requests),
        Tally(metrics.attempts),
        Tally(metrics.skips),
        Tally(metrics.tokens),
        metrics.latency.copy(),
        metrics.ttft.copy(),
        metrics.attempt_latency.copy(),
    )
    state = metrics.state
    if state is not None:
        snap.blocked = blocked_by_kind(state.tracker, state.routes)
        snap.uptime_s = time.monotonic() - state.started
        snap.store_up = state.store.store is not None
        writer = state.writer
        if writer is not None:
            snap.writer = (writer.queued, writer.written, writer.dropped, writer.failed_batches)
    return snap


def render(snap: Snapshot) -> bytes:
    """The Prometheus text format of a snapshot; safe in a worker thread."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_TallyCollector(snap))
    registry.register(_StateCollector(snap))
    return generate_latest(registry)


def histogram_family(
    hist: Histogram, name: str, doc: str, label_names: list[str]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=label_names)
    for labels, counts in sorted(hist.series.items()):
        cumulative, buckets = 0.0, []
        for bound, count in zip((*hist.bounds, float("inf")), counts[:-1], strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
        family.add_metric(list(labels), buckets, counts[-1])
    return family


class _TallyCollector(Collector):
    """The request counters and histograms, as Prometheus families."""

    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap

    def collect(self) -> Iterable[Metric]:
        m = self._snap
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
        yield histogram_family(
            m.latency,
            f"{PREFIX}_request_latency_seconds",
            "Client request latency, arrival to last byte.",
            ["chain", "stream"],
        )
        yield histogram_family(
            m.ttft, f"{PREFIX}_ttft_seconds", "Time to first token of streamed requests.", ["chain"]
        )
        yield histogram_family(
            m.attempt_latency,
            f"{PREFIX}_attempt_latency_seconds",
            "Upstream call latency, by provider.",
            ["provider"],
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
    """The gauges, as they were when the snapshot was taken."""

    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap

    def describe(self) -> Iterable[Metric]:
        return _Families().all()

    def collect(self) -> Iterable[Metric]:
        snap = self._snap
        families = _Families()
        if snap.blocked is None:
            return families.all()
        for (provider, kind), n in sorted(snap.blocked.items()):
            families.blocked.add_metric([provider, kind], n)
        families.uptime.add_metric([], snap.uptime_s)
        families.store_up.add_metric([], 1.0 if snap.store_up else 0.0)
        if snap.writer is not None:
            queued, written, dropped, failed = snap.writer
            families.queue.add_metric([], queued)
            families.written.add_metric([], written)
            families.dropped.add_metric([], dropped)
            families.failed.add_metric([], failed)
        return families.all()
