"""The request log: a filtered page of requests, and one request with its attempts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from chain429.storage.queries.figures import as_int, epoch_ms, iso_time, round1
from chain429.storage.queries.filters import UNFILTERED, A, Fetcher, Filters, R
from chain429.storage.queries.totals import FALLBACK

MAX_PAGE = 500  # the TypeScript original's cap on /v1/stats/requests


async def request_page(
    store: Fetcher,
    filters: Filters = UNFILTERED,
    *,
    outcome: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Newest first; `q` matches the error text, case-insensitively."""
    clauses = filters.requests()
    if outcome is not None:
        clauses.append(R.c.outcome == outcome)
    if q:
        clauses.append(R.c.error.icontains(q, autoescape=True))
    limit = max(0, min(limit, MAX_PAGE))
    page = (
        select(R, FALLBACK.label("fallback"))
        .where(*clauses)
        .order_by(R.c.ts.desc(), R.c.id.desc())
        .limit(limit)
        .offset(max(0, offset))
    )
    count = select(func.count().label("n")).select_from(R).where(*clauses)
    rows = await store.fetch(page)
    total = as_int((await store.fetch(count))[0]["n"])
    return {
        "requests": [request_json(row) for row in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


async def request_detail(store: Fetcher, request_id: str) -> dict[str, Any] | None:
    """One request with every entry it tried or skipped, in walk order."""
    rows = await store.fetch(select(R, FALLBACK.label("fallback")).where(R.c.id == request_id))
    if not rows:
        return None
    steps = await store.fetch(select(A).where(A.c.request_id == request_id).order_by(A.c.seq))
    return {**request_json(rows[0]), "attempt_log": [attempt_json(step) for step in steps]}


def request_json(row: Mapping[str, Any]) -> dict[str, Any]:
    ts = float(row["ts"])
    calls = as_int(row["calls"])
    return {
        # The TypeScript original's fields.
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
        "attempts": calls,
        # Ours.
        "time": iso_time(ts),
        "key_label": row["key_label"],
        "requested_model": row["requested_model"],
        "stream": bool(row["stream"]),
        "outcome": row["outcome"],
        "tokens_estimated": bool(row["tokens_estimated"]),
        "ttft_ms": round1(float(row["ttft_ms"])) if row["ttft_ms"] is not None else None,
        "skipped": as_int(row["skipped"]),
        "rate_limited": as_int(row["rate_limited"]),
        "fallback": bool(row["fallback"]),
        "error": row["error"],
    }


def attempt_json(row: Mapping[str, Any]) -> dict[str, Any]:
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
