"""How the stats rows from `storage.queries` become the JSON of `/v1/stats/*` (snake_case).

Storage answers with rows and sums; the names, units and derived figures a client sees
(rates, averages, percentiles, epoch milliseconds, ISO times) are decided here, and checked by
the response shapes in `http.schemas.stats`. Importing it imports no storage code.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chain429.storage.queries import (
        AttemptRow,
        AttemptTally,
        Bucket,
        CallWindow,
        Group,
        ModelSaving,
        ProviderCalls,
        RequestPage,
        RequestRow,
        Totals,
    )


def ratio_of(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def round1(value: float) -> float:
    return round(value, 1)


def round1_opt(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def epoch_ms(ts: float | None) -> int | None:
    return round(ts * 1000) if ts is not None else None


def iso_time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    return _interpolated(len(sorted_values), p, sorted_values.__getitem__)


def binned_percentile(counts: Sequence[tuple[float, int]], p: float) -> float | None:
    """`percentile` over values given as (value, how many), sorted by value."""

    def nth(index: int) -> float:
        seen = 0
        for value, n in counts:
            seen += n
            if index < seen:
                return value
        return counts[-1][0]

    return _interpolated(sum(n for _, n in counts), p, nth)


def _interpolated(total: int, p: float, nth: Callable[[int], float]) -> float | None:
    """The `p` quantile of `total` sorted values, the `i`-th of which is `nth(i)`."""
    if not total:
        return None
    rank = (total - 1) * p
    low = math.floor(rank)
    high = min(low + 1, total - 1)
    return nth(low) + (nth(high) - nth(low)) * (rank - low)


# Request columns -> the JSON names of a group's labels.
LABELS = {
    "provider": "provider_id",
    "chain": "chain_name",
    "model": "model",
    "key_label": "key_label",
}


def usage(t: Totals) -> dict[str, Any]:
    """The usage figures of one set of totals."""
    return {
        "total_requests": t.requests,
        "total_tokens": t.total_tokens,
        "total_prompt_tokens": t.prompt_tokens,
        "total_completion_tokens": t.completion_tokens,
        "last_request_timestamp": epoch_ms(t.last_ts),
        "successful_requests": t.successes,
        "failed_requests": t.failures,
        "success_rate": ratio_of(t.successes, t.requests),
        # Served after at least one upstream failure (the original: attempts > 1).
        "waterfall_requests": t.fallbacks,
        "waterfall_rate": ratio_of(t.fallbacks, t.successes),
        "rate_limited_met": t.rate_limited,  # 429s met on the way, from upstreams
        # Requests where an entry was passed over without a call (cooling, out of quota).
        "skipped_requests": t.skipped_requests,
        "entries_skipped": t.entries_skipped,
        "upstream_calls": t.calls,
        "estimated_token_requests": t.estimated,
        "avg_latency_ms": round1(t.latency_ms_sum / t.requests) if t.requests else 0.0,
        "rolled_up_requests": t.rolled_up,
    }


def attempts(a: AttemptTally) -> dict[str, Any]:
    """What a provider said when tried."""
    return {
        "attempts": a.calls,
        "attempt_successes": a.successes,
        "attempt_failures": a.calls - a.successes,
        "attempts_429": a.rate_limited,
        "times_skipped": a.skips,
        "avg_attempt_latency_ms": round1(a.latency_ms_sum / a.calls) if a.calls else 0.0,
    }


def summary(t: Totals) -> dict[str, Any]:
    return {**usage(t), "outcomes": dict(sorted(t.outcomes.items()))}


def group(g: Group, parts: str | None = None) -> dict[str, Any]:
    """A group's labels, usage and (if it was tried) attempt figures; `parts` names its
    breakdown (`models` of a provider, `providers` of a chain)."""
    out: dict[str, Any] = {LABELS[name]: value for name, value in g.labels.items()}
    out.update(usage(g.totals))
    if g.tried is not None:
        out.update(attempts(g.tried))
    if parts is not None:
        out[parts] = [group(part) for part in g.parts]
    return out


def groups(gs: list[Group]) -> list[dict[str, Any]]:
    return [group(g) for g in gs]


def logged_request(row: RequestRow) -> dict[str, Any]:
    ts = float(row["ts"])
    return {
        "id": row["id"],
        "timestamp": epoch_ms(ts),
        "chain_name": row["chain"],
        "provider_id": row["provider"],
        "model": row["model"],
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "total_tokens": row["total_tokens"],
        "latency_ms": round1(float(row["latency_ms"])),
        "http_status": row["status"],
        "attempts": row["calls"],  # upstream calls made
        "time": iso_time(ts),
        "key_label": row["key_label"],
        "requested_model": row["requested_model"],
        "stream": row["stream"],
        "outcome": row["outcome"],
        "tokens_estimated": row["tokens_estimated"],
        "ttft_ms": round1(float(row["ttft_ms"])) if row["ttft_ms"] is not None else None,
        "skipped": row["skipped"],
        "rate_limited": row["rate_limited"],
        "fallback": row["fallback"],
        "error": row["error"],
        "endpoint": row["endpoint"],
    }


def logged_attempt(row: AttemptRow) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "provider_id": row["provider"],
        "model": row["model"],
        "outcome": row["outcome"],
        "http_status": row["status"],
        "latency_ms": round1(float(row["latency_ms"])),
        "reason": row["reason"],
        "skipped": bool(row["skipped"]),
    }


def request_page(page: RequestPage) -> dict[str, Any]:
    return {
        "requests": [logged_request(row) for row in page.rows],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
    }


def request_detail(row: RequestRow, steps: list[AttemptRow]) -> dict[str, Any]:
    return {**logged_request(row), "attempt_log": [logged_attempt(step) for step in steps]}


def time_point(b: Bucket) -> dict[str, Any]:
    """`avg_latency_ms` is over every request (rollups keep that sum); p50/p95 over the
    successful ones of retained rows."""
    return {
        "timestamp": b.start * 1000,
        "time": iso_time(b.start),
        "requests": b.requests,
        "successes": b.successes,
        "errors": b.failures,
        "fallbacks": b.fallbacks,
        "rate_limited": b.rate_limited,
        "entries_skipped": b.entries_skipped,
        "prompt_tokens": b.prompt_tokens,
        "completion_tokens": b.completion_tokens,
        "total_tokens": b.total_tokens,
        "avg_latency_ms": round1(b.latency_ms_sum / b.requests) if b.requests else 0.0,
        "latency_p50_ms": round1_opt(binned_percentile(b.success_latencies, 0.50)),
        "latency_p95_ms": round1_opt(binned_percentile(b.success_latencies, 0.95)),
    }


def provider_health(p: ProviderCalls) -> dict[str, Any]:
    """`status`: idle (no calls), healthy (< 10 % errors), degraded (< 50 %) or failing, from
    the last 5 minutes if they had calls, else the hour; `latency_trend` compares the two
    windows' median latency."""
    windows = {label: health_window(w) for label, w in p.windows.items()}
    recent, hour = windows["last_5m"], windows["last_hour"]
    return {
        "provider_id": p.provider,
        "status": _status(recent if recent["calls"] else hour),
        **windows,
        "latency_trend": _trend(recent["latency_p50_ms"], hour["latency_p50_ms"]),
        "trend": [
            {
                "timestamp": epoch_ms(step.start),
                "calls": step.calls,
                "errors": step.errors,
                "latency_p50_ms": round1_opt(percentile(step.success_latencies, 0.50)),
            }
            for step in p.trend
        ],
    }


def health_window(w: CallWindow) -> dict[str, Any]:
    ok = w.success_latencies
    return {
        "calls": w.calls,
        "successes": w.successes,
        "errors": w.errors,
        "rate_limited": w.rate_limited,
        "error_rate": ratio_of(w.errors, w.calls),
        "rate_limit_rate": ratio_of(w.rate_limited, w.calls),
        "avg_latency_ms": round1(sum(ok) / len(ok)) if ok else None,
        "latency_p50_ms": round1_opt(percentile(ok, 0.50)),
        "latency_p95_ms": round1_opt(percentile(ok, 0.95)),
    }


def _status(window: dict[str, Any]) -> str:
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


def savings(by_provider: dict[str, list[ModelSaving]]) -> dict[str, Any]:
    """Money saved per provider and model, and in total (USD)."""
    providers: list[dict[str, Any]] = []
    for provider_id, rows in by_provider.items():
        models = [
            {
                "model": r.model,
                "requests": r.requests,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "total_tokens": r.total_tokens,
                "input_price_per_m": float(r.price[0]),
                "output_price_per_m": float(r.price[1]),
                "price_source": r.price_source,
                "saved": r.saved,
            }
            for r in rows
        ]
        providers.append(
            {
                "provider_id": provider_id,
                "saved": round(sum(r.saved for r in rows), 6),
                "requests": sum(r.requests for r in rows),
                "prompt_tokens": sum(r.prompt_tokens for r in rows),
                "completion_tokens": sum(r.completion_tokens for r in rows),
                "total_tokens": sum(r.total_tokens for r in rows),
                "models": models,
            }
        )
    return {
        "currency": "USD",
        "total_saved": round(sum(p["saved"] for p in providers), 6),
        "total_prompt_tokens": sum(p["prompt_tokens"] for p in providers),
        "total_completion_tokens": sum(p["completion_tokens"] for p in providers),
        "total_tokens": sum(p["total_tokens"] for p in providers),
        "providers": providers,
    }
