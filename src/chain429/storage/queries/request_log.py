"""The request log: a filtered page of requests, and one request with its attempts, as rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict, cast

from sqlalchemy import func, select

from chain429.storage.queries.figures import as_int
from chain429.storage.queries.filters import UNFILTERED, A, Fetcher, Filters, R
from chain429.storage.queries.totals import FALLBACK

MAX_PAGE = 500  # the TypeScript original's cap on /v1/stats/requests


class RequestRow(TypedDict):
    """A `requests` row as stored, plus whether it was a fallback (`totals.FALLBACK`)."""

    id: str
    ts: float
    key_label: str
    chain: str | None
    requested_model: str | None
    provider: str | None
    model: str | None
    stream: bool
    status: int
    outcome: str
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    tokens_estimated: bool
    latency_ms: float
    ttft_ms: float | None
    calls: int
    skipped: int
    rate_limited: int
    error: str | None
    endpoint: str | None
    fallback: bool


class AttemptRow(TypedDict):
    """An `attempts` row as stored."""

    request_id: str
    seq: int
    ts: float
    provider: str
    model: str
    outcome: str
    status: int | None
    latency_ms: float
    reason: str
    skipped: bool


@dataclass(slots=True)
class RequestPage:
    rows: list[RequestRow]
    total: int  # rows matching, over all pages
    limit: int
    offset: int


async def request_page(
    store: Fetcher,
    filters: Filters = UNFILTERED,
    *,
    outcome: str | None = None,
    status: int | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> RequestPage:
    """Newest first; `status` is the HTTP status answered, exactly; `q` matches the error
    text, case-insensitively."""
    clauses = filters.requests()
    if outcome is not None:
        clauses.append(R.c.outcome == outcome)
    if status is not None:
        clauses.append(R.c.status == status)
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
    return RequestPage(_requests(rows), total, limit, offset)


async def request_detail(
    store: Fetcher, request_id: str
) -> tuple[RequestRow, list[AttemptRow]] | None:
    """One request with every entry it tried or skipped, in walk order."""
    rows = await store.fetch(select(R, FALLBACK.label("fallback")).where(R.c.id == request_id))
    if not rows:
        return None
    steps = await store.fetch(select(A).where(A.c.request_id == request_id).order_by(A.c.seq))
    return _requests(rows)[0], cast(list[AttemptRow], steps)


def _requests(rows: list[dict[str, Any]]) -> list[RequestRow]:
    """Booleans as booleans whatever the database stores (SQLite: 0/1)."""
    for row in rows:
        for name in ("stream", "tokens_estimated", "fallback"):
            row[name] = bool(row[name])
    return cast(list[RequestRow], rows)
