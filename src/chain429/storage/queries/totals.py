"""Sums over the request log and its daily rollups, grouped by any request columns."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from chain429.storage.queries.figures import as_int
from chain429.storage.queries.filters import A, D, Fetcher, Filters, R, day_start
from chain429.vocabulary import RequestOutcome

# `records.is_fallback` in SQL: served after at least one upstream failure. Every query that
# counts or flags fallbacks uses this one expression.
FALLBACK = and_(R.c.outcome == RequestOutcome.SUCCESS, R.c.calls > 1)

# Integer sums kept both per request row and in the daily rollups.
KEPT = (
    "requests",
    "successes",
    "fallbacks",
    "rate_limited",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
)


@dataclass(slots=True)
class Totals:
    """Sums over requests (retained rows plus rollups where the rollups keep the figure)."""

    requests: int = 0
    successes: int = 0
    failures: int = 0
    fallbacks: int = 0
    rate_limited: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency_ms_sum: float = 0.0
    last_ts: float | None = None
    # From retained rows only.
    skipped_requests: int = 0
    entries_skipped: int = 0
    calls: int = 0
    estimated: int = 0
    rolled_up: int = 0  # requests counted from daily rollups
    outcomes: dict[str, int] = field(default_factory=dict)

    def add_row(self, row: Mapping[str, Any]) -> None:
        self._add_kept(row)
        self.failures += as_int(row["requests"]) - as_int(row["successes"])
        self.skipped_requests += as_int(row["skipped_requests"])
        self.entries_skipped += as_int(row["entries_skipped"])
        self.calls += as_int(row["calls"])
        self.estimated += as_int(row["estimated"])
        self._seen(float(row["last_ts"]) if row["last_ts"] is not None else None)

    def add_rollup(self, row: Mapping[str, Any]) -> None:
        self._add_kept(row)
        self.rolled_up += as_int(row["requests"])
        self.failures += as_int(row["failures"])
        if row["last_day"]:
            self._seen(day_start(str(row["last_day"])))

    def _add_kept(self, row: Mapping[str, Any]) -> None:
        """The sums request rows and daily rollups both keep."""
        for name in KEPT:
            setattr(self, name, getattr(self, name) + as_int(row[name]))
        self.latency_ms_sum += float(row["latency_ms_sum"] or 0)

    def add_totals(self, part: Totals) -> None:
        """Add another group's sums (the outcome breakdown is not merged)."""
        for item in fields(Totals):
            if item.name not in ("last_ts", "outcomes"):
                setattr(self, item.name, getattr(self, item.name) + getattr(part, item.name))
        self._seen(part.last_ts)

    def _seen(self, ts: float | None) -> None:
        if ts is not None and (self.last_ts is None or ts > self.last_ts):
            self.last_ts = ts


def row_sums() -> list[Any]:
    """The summed columns of retained request rows, labelled as `Totals.add_row` reads them."""
    success = R.c.outcome == RequestOutcome.SUCCESS
    return [
        func.count().label("requests"),
        func.sum(case((success, 1), else_=0)).label("successes"),
        func.sum(case((FALLBACK, 1), else_=0)).label("fallbacks"),
        func.sum(R.c.rate_limited).label("rate_limited"),
        func.sum(R.c.prompt_tokens).label("prompt_tokens"),
        func.sum(R.c.completion_tokens).label("completion_tokens"),
        func.sum(R.c.total_tokens).label("total_tokens"),
        func.sum(R.c.latency_ms).label("latency_ms_sum"),
        func.max(R.c.ts).label("last_ts"),
        func.sum(case((R.c.skipped > 0, 1), else_=0)).label("skipped_requests"),
        func.sum(R.c.skipped).label("entries_skipped"),
        func.sum(R.c.calls).label("calls"),
        func.sum(case((R.c.tokens_estimated, 1), else_=0)).label("estimated"),
    ]


def rollup_sums() -> list[Any]:
    """The summed columns of daily rollups, labelled as `Totals.add_rollup` reads them."""
    return [
        func.sum(D.c.requests).label("requests"),
        func.sum(D.c.successes).label("successes"),
        func.sum(D.c.failures).label("failures"),
        func.sum(D.c.fallbacks).label("fallbacks"),
        func.sum(D.c.rate_limited).label("rate_limited"),
        func.sum(D.c.prompt_tokens).label("prompt_tokens"),
        func.sum(D.c.completion_tokens).label("completion_tokens"),
        func.sum(D.c.total_tokens).label("total_tokens"),
        func.sum(D.c.latency_ms_sum).label("latency_ms_sum"),
        func.max(D.c.day).label("last_day"),
    ]


async def grouped(
    store: Fetcher, keys: Sequence[str], filters: Filters, *, outcomes: bool = False
) -> dict[tuple[str, ...], Totals]:
    """Totals per distinct value of `keys` (request columns; "" where the column is NULL)."""
    totals: dict[tuple[str, ...], Totals] = defaultdict(Totals)
    row_keys = [R.c[k] for k in keys]
    rows_stmt = select(*row_keys, *row_sums()).where(*filters.requests())
    rollup_keys = [D.c[k] for k in keys]
    rollup_stmt = select(*rollup_keys, *rollup_sums()).where(*filters.rollups())
    if keys:
        rows_stmt = rows_stmt.group_by(*row_keys)
        rollup_stmt = rollup_stmt.group_by(*rollup_keys)
    for row in await store.fetch(rows_stmt):
        if as_int(row["requests"]):
            totals[_key(row, keys)].add_row(row)
    for row in await store.fetch(rollup_stmt):
        if as_int(row["requests"]):
            totals[_key(row, keys)].add_rollup(row)
    if outcomes:
        outcome_stmt = (
            select(*row_keys, R.c.outcome, func.count().label("n"))
            .where(*filters.requests())
            .group_by(*row_keys, R.c.outcome)
        )
        for row in await store.fetch(outcome_stmt):
            totals[_key(row, keys)].outcomes[str(row["outcome"])] = as_int(row["n"])
    return dict(totals)


@dataclass(slots=True)
class AttemptTally:
    """What a provider (or provider+model) said when tried: calls by outcome, and skips."""

    calls: int = 0
    successes: int = 0
    rate_limited: int = 0  # answered 429 (or a rate-limit outcome)
    skips: int = 0
    latency_ms_sum: float = 0.0  # over the calls

    def add(self, other: AttemptTally) -> None:
        for item in fields(AttemptTally):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


async def attempt_stats(
    store: Fetcher, keys: Sequence[str], filters: Filters
) -> dict[tuple[str, ...], AttemptTally]:
    """What each provider (or provider+model) said when tried: calls by outcome, and skips."""
    called = ~A.c.skipped
    group = [A.c[k] for k in keys]
    stmt = (
        select(
            *group,
            func.sum(case((called, 1), else_=0)).label("calls"),
            func.sum(case((and_(called, A.c.outcome == "success"), 1), else_=0)).label("ok"),
            func.sum(
                case(
                    (and_(called, or_(A.c.status == 429, A.c.outcome == "rate_limited")), 1),
                    else_=0,
                )
            ).label("r429"),
            func.sum(case((A.c.skipped, 1), else_=0)).label("skips"),
            func.sum(case((called, A.c.latency_ms), else_=0.0)).label("latency"),
        )
        .where(*filters.attempts())
        .group_by(*group)
    )
    return {
        _key(row, keys): AttemptTally(
            calls=as_int(row["calls"]),
            successes=as_int(row["ok"]),
            rate_limited=as_int(row["r429"]),
            skips=as_int(row["skips"]),
            latency_ms_sum=float(row["latency"] or 0),
        )
        for row in await store.fetch(stmt)
    }


def _key(row: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row[k]) if row[k] is not None else "" for k in keys)
