"""Provider health from upstream calls: what each provider's calls did, over 5 min and 1 h."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from chain429.storage.queries.filters import A, Fetcher

# Attempt outcomes that say nothing about the provider's health: the request was at fault.
CLIENT_FAULTS = frozenset({"client_error", "context_length"})
QUOTA_OUTCOMES = frozenset({"rate_limited", "quota_exhausted"})
HEALTH_WINDOWS: Mapping[str, int] = {"last_5m": 300, "last_hour": 3_600}
TREND_STEP = 300


@dataclass(slots=True)
class CallWindow:
    """Upstream calls in one span of time.

    `errors` are the provider's failures (5xx, timeouts, bad keys, ...); 429s and quota
    refusals are `rate_limited`; client faults (400s, context length) count as calls only.
    `success_latencies` (sorted) are the successful calls'.
    """

    start: float
    calls: int = 0
    errors: int = 0
    rate_limited: int = 0
    success_latencies: list[float] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return len(self.success_latencies)


@dataclass(slots=True)
class ProviderCalls:
    """One provider's calls: each of HEALTH_WINDOWS, and the last hour in TREND_STEP steps."""

    provider: str
    windows: dict[str, CallWindow]
    trend: list[CallWindow]


async def health(store: Fetcher, now: float, known: Sequence[str] = ()) -> list[ProviderCalls]:
    """Per provider (the `known` ones too, idle or not), its calls over 5 minutes and 1 hour."""
    start = now - HEALTH_WINDOWS["last_hour"]
    rows = await store.fetch(
        select(A.c.provider, A.c.ts, A.c.outcome, A.c.status, A.c.latency_ms).where(
            ~A.c.skipped, A.c.ts >= start, A.c.ts <= now
        )
    )
    by_provider: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_provider[str(row["provider"])].append(row)
    steps = HEALTH_WINDOWS["last_hour"] // TREND_STEP
    out = []
    for name in sorted(set(known) | set(by_provider)):
        calls = by_provider.get(name, [])
        windows = {
            label: _window(now - span, [c for c in calls if float(c["ts"]) >= now - span])
            for label, span in HEALTH_WINDOWS.items()
        }
        trend = []
        for i in range(steps):
            lo = start + i * TREND_STEP
            last = i == steps - 1  # the last step also takes a call at exactly `now`
            part = [
                c
                for c in calls
                if lo <= float(c["ts"]) and (last or float(c["ts"]) < lo + TREND_STEP)
            ]
            trend.append(_window(lo, part))
        out.append(ProviderCalls(name, windows, trend))
    return out


def _window(start: float, calls: Sequence[Mapping[str, Any]]) -> CallWindow:
    window = CallWindow(start, calls=len(calls))
    for c in calls:
        limited = c["outcome"] in QUOTA_OUTCOMES or c["status"] == 429
        if limited:
            window.rate_limited += 1
        elif c["outcome"] == "success":
            window.success_latencies.append(float(c["latency_ms"]))
        elif c["outcome"] not in CLIENT_FAULTS:
            window.errors += 1
    window.success_latencies.sort()
    return window
