"""How the stats rows from `storage.queries` become the JSON of `/v1/stats/*` (snake_case).

Storage answers with rows and sums; the names, units and derived figures a client sees
(rates, averages, epoch milliseconds, ISO times) are decided here, and checked by the response
shapes in `http.schemas.stats`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chain429.storage.queries.figures import (
    epoch_ms,
    iso_time,
    percentile,
    ratio_of,
    round1,
    round1_opt,
)

if TYPE_CHECKING:
    from chain429.storage.queries import (
        AttemptRow,
        AttemptTally,
        Bucket,
        Group,
        RequestPage,
        RequestRow,
        Totals,
    )

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
        "latency_p50_ms": round1_opt(percentile(b.success_latencies, 0.50)),
        "latency_p95_ms": round1_opt(percentile(b.success_latencies, 0.95)),
    }
