"""Provider health from upstream calls: error and 429 rates, latency, and the last hour's trend."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from chain429.storage.queries.figures import epoch_ms, percentile, ratio_of, round1, round1_opt
from chain429.storage.queries.filters import A, Fetcher

# Attempt outcomes that say nothing about the provider's health: the request was at fault.
CLIENT_FAULTS = frozenset({"client_error", "context_length"})
QUOTA_OUTCOMES = frozenset({"rate_limited", "quota_exhausted"})
HEALTH_WINDOWS: Mapping[str, int] = {"last_5m": 300, "last_hour": 3_600}
TREND_STEP = 300


async def health(store: Fetcher, now: float, known: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per provider, from its upstream calls: error rate and latency over 5 min and 1 h.

    `errors` are the provider's failures (5xx, timeouts, bad keys, ...); 429s and quota
    refusals are `rateLimited`; client faults (400s, context length) count as calls only.
    Latency percentiles are over successful calls. `trend` is the last hour in 5-minute steps.
    """
    start = now - HEALTH_WINDOWS["last_hour"]
    rows = await store.fetch(
        select(A.c.provider, A.c.ts, A.c.outcome, A.c.status, A.c.latency_ms).where(
            ~A.c.skipped, A.c.ts >= start, A.c.ts <= now
        )
    )
    by_provider: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_provider[str(row["provider"])].append(row)
    out = []
    for name in sorted(set(known) | set(by_provider)):
        calls = by_provider.get(name, [])
        windows = {
            label: _health_window([c for c in calls if float(c["ts"]) >= now - span])
            for label, span in HEALTH_WINDOWS.items()
        }
        trend = []
        for i in range(HEALTH_WINDOWS["last_hour"] // TREND_STEP):
            lo = start + i * TREND_STEP
            part = [c for c in calls if lo <= float(c["ts"]) < lo + TREND_STEP]
            if i == HEALTH_WINDOWS["last_hour"] // TREND_STEP - 1:
                part = [c for c in calls if float(c["ts"]) >= lo]
            window = _health_window(part)
            trend.append(
                {
                    "timestamp": epoch_ms(lo),
                    "calls": window["calls"],
                    "errors": window["errors"],
                    "latency_p50_ms": window["latency_p50_ms"],
                }
            )
        recent, hour = windows["last_5m"], windows["last_hour"]
        out.append(
            {
                "provider_id": name,
                "status": _status(recent if recent["calls"] else hour),
                **windows,
                "latency_trend": _trend(recent["latency_p50_ms"], hour["latency_p50_ms"]),
                "trend": trend,
            }
        )
    return out


def _health_window(calls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    n = len(calls)
    limited = sum(1 for c in calls if c["outcome"] in QUOTA_OUTCOMES or c["status"] == 429)
    errors = sum(
        1
        for c in calls
        if c["outcome"] != "success"
        and c["outcome"] not in CLIENT_FAULTS
        and c["outcome"] not in QUOTA_OUTCOMES
        and c["status"] != 429
    )
    ok = sorted(float(c["latency_ms"]) for c in calls if c["outcome"] == "success")
    return {
        "calls": n,
        "successes": len(ok),
        "errors": errors,
        "rate_limited": limited,
        "error_rate": ratio_of(errors, n),
        "rate_limit_rate": ratio_of(limited, n),
        "avg_latency_ms": round1(sum(ok) / len(ok)) if ok else None,
        "latency_p50_ms": round1_opt(percentile(ok, 0.50)),
        "latency_p95_ms": round1_opt(percentile(ok, 0.95)),
    }


def _status(window: Mapping[str, Any]) -> str:
    """idle (no calls in the hour), healthy (< 10 % errors), degraded (< 50 %), failing."""
    rate = window["error_rate"]
    if rate is None:
        return "idle"
    return "healthy" if rate < 0.1 else "degraded" if rate < 0.5 else "failing"


def _trend(recent: float | None, hour: float | None) -> dict[str, Any]:
    """The last 5 minutes' median latency against the last hour's."""
    if recent is None or hour is None or hour <= 0:
        return {"direction": None, "ratio": None}
    ratio = recent / hour
    direction = "rising" if ratio > 1.25 else "falling" if ratio < 0.8 else "steady"
    return {"direction": direction, "ratio": round(ratio, 3)}
