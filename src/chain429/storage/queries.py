"""Read-side queries over the request log, for `/v1/stats/*`: plain dicts and lists out.

Every statement is SQLAlchemy Core and runs unchanged on SQLite and Postgres:

- time buckets are computed from the float `ts` column (`floor(ts / bucket) * bucket`, with the
  bucket size rendered as a literal so Postgres sees the same expression in SELECT and GROUP BY);
- grouping is on plain columns (no bound parameters in GROUP BY expressions);
- averages, rates and percentiles are computed in Python from sums and fetched latencies, so no
  dialect's AVG type (Postgres NUMERIC) leaks out.

Totals (summary, providers, chains, models, keys, savings) add the `daily_rollups` of pruned days
to the retained rows. Rollups keep requests, successes, failures, fallbacks, 429s met, tokens and
the latency sum; the figures they lack (entries skipped, upstream calls, estimated tokens, outcome
breakdown, attempt counts, percentiles) cover the retained rows only. A rollup day is in a time
range when the day overlaps it; its `lastRequestTimestamp` is the start of that day.

Field names follow the TypeScript 429chain (`totalRequests`, `waterfallRequests`, `avgLatencyMs`,
`providerId`, `chainName`, `lastRequestTimestamp` in epoch milliseconds, ...), with additions.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from sqlalchemy import Float, and_, case, func, literal_column, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from chain429.providers.presets import Preset, Price
from chain429.storage import tables

DAY = 86_400
BUCKETS: Mapping[str, int] = {"minute": 60, "hour": 3_600, "day": DAY}
MAX_PAGE = 500  # the TypeScript original's cap on /v1/stats/requests
# Attempt outcomes that say nothing about the provider's health: the request was at fault.
CLIENT_FAULTS = frozenset({"client_error", "context_length"})
QUOTA_OUTCOMES = frozenset({"rate_limited", "quota_exhausted"})

R = tables.requests
A = tables.attempts
D = tables.daily_rollups


class Fetcher(Protocol):
    """What the queries need of a store: run a Core SELECT, rows as dicts (`Store.fetch`)."""

    async def fetch(self, statement: Any) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class Filters:
    """Row filters shared by the queries; None means "any". `until` is exclusive."""

    since: float | None = None
    until: float | None = None
    chain: str | None = None
    provider: str | None = None
    model: str | None = None
    key_label: str | None = None

    def requests(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(R.c.ts >= self.since)
        if self.until is not None:
            clauses.append(R.c.ts < self.until)
        for name, value in self._columns():
            clauses.append(R.c[name] == value)
        return clauses

    def rollups(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(D.c.day >= _day(self.since))
        if self.until is not None:
            last = self.until if self.until % DAY else self.until - DAY
            clauses.append(D.c.day <= _day(last))
        for name, value in self._columns():
            clauses.append(D.c[name] == value)
        return clauses

    def attempts(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(A.c.ts >= self.since)
        if self.until is not None:
            clauses.append(A.c.ts < self.until)
        if self.provider is not None:
            clauses.append(A.c.provider == self.provider)
        if self.model is not None:
            clauses.append(A.c.model == self.model)
        if self.chain is not None or self.key_label is not None:
            owners = select(R.c.id)
            if self.chain is not None:
                owners = owners.where(R.c.chain == self.chain)
            if self.key_label is not None:
                owners = owners.where(R.c.key_label == self.key_label)
            clauses.append(A.c.request_id.in_(owners))
        return clauses

    def _columns(self) -> Iterable[tuple[str, str]]:
        named = (
            ("chain", self.chain),
            ("provider", self.provider),
            ("model", self.model),
            ("key_label", self.key_label),
        )
        return ((name, value) for name, value in named if value is not None)


# -- portable floor ----------------------------------------------------------------------------


class _floor(FunctionElement[float]):
    """`floor(x)`; SQLite builds without the math functions have none, so CAST there."""

    type = Float()
    name = "floor"
    inherit_cache = True


@compiles(_floor)
def _floor_default(element: _floor, compiler: SQLCompiler, **kw: Any) -> str:
    return f"floor({compiler.process(element.clauses, **kw)})"


@compiles(_floor, "sqlite")
def _floor_sqlite(element: _floor, compiler: SQLCompiler, **kw: Any) -> str:
    # Truncation is the floor for the positive epoch values in `ts`.
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


def bucket_of(column: Any, size: int) -> ColumnElement[float]:
    """`floor(column / size) * size`, with `size` a literal (same SQL wherever it appears)."""
    n: ColumnElement[Any] = literal_column(str(int(size)))
    expression: ColumnElement[float] = _floor(column / n) * n
    return expression


# -- totals ------------------------------------------------------------------------------------


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
        self.requests += _int(row["requests"])
        self.successes += _int(row["successes"])
        self.failures += _int(row["requests"]) - _int(row["successes"])
        self.fallbacks += _int(row["fallbacks"])
        self.rate_limited += _int(row["rate_limited"])
        self.prompt_tokens += _int(row["prompt_tokens"])
        self.completion_tokens += _int(row["completion_tokens"])
        self.total_tokens += _int(row["total_tokens"])
        self.latency_ms_sum += float(row["latency_ms_sum"] or 0)
        self.skipped_requests += _int(row["skipped_requests"])
        self.entries_skipped += _int(row["entries_skipped"])
        self.calls += _int(row["calls"])
        self.estimated += _int(row["estimated"])
        self._seen(float(row["last_ts"]) if row["last_ts"] is not None else None)

    def add_rollup(self, row: Mapping[str, Any]) -> None:
        self.requests += _int(row["requests"])
        self.rolled_up += _int(row["requests"])
        self.successes += _int(row["successes"])
        self.failures += _int(row["failures"])
        self.fallbacks += _int(row["fallbacks"])
        self.rate_limited += _int(row["rate_limited"])
        self.prompt_tokens += _int(row["prompt_tokens"])
        self.completion_tokens += _int(row["completion_tokens"])
        self.total_tokens += _int(row["total_tokens"])
        self.latency_ms_sum += float(row["latency_ms_sum"] or 0)
        if row["last_day"]:
            self._seen(_day_start(str(row["last_day"])))

    def _seen(self, ts: float | None) -> None:
        if ts is not None and (self.last_ts is None or ts > self.last_ts):
            self.last_ts = ts

    def usage(self) -> dict[str, Any]:
        """The TypeScript original's usage fields, then ours."""
        return {
            "totalRequests": self.requests,
            "totalTokens": self.total_tokens,
            "totalPromptTokens": self.prompt_tokens,
            "totalCompletionTokens": self.completion_tokens,
            "lastRequestTimestamp": _ms(self.last_ts),
            "successfulRequests": self.successes,
            "failedRequests": self.failures,
            "successRate": _ratio(self.successes, self.requests),
            # Served after at least one upstream failure (the original: attempts > 1).
            "waterfallRequests": self.fallbacks,
            "waterfallRate": _ratio(self.fallbacks, self.successes),
            "rateLimitedMet": self.rate_limited,  # 429s met on the way, from upstreams
            # Requests where an entry was passed over without a call (cooling, out of quota).
            "skippedRequests": self.skipped_requests,
            "entriesSkipped": self.entries_skipped,
            "upstreamCalls": self.calls,
            "estimatedTokenRequests": self.estimated,
            "avgLatencyMs": _round(self.latency_ms_sum / self.requests) if self.requests else 0,
            "rolledUpRequests": self.rolled_up,
        }


def _row_sums() -> list[Any]:
    success = R.c.outcome == "success"
    return [
        func.count().label("requests"),
        func.sum(case((success, 1), else_=0)).label("successes"),
        func.sum(case((and_(success, R.c.calls > 1), 1), else_=0)).label("fallbacks"),
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


def _rollup_sums() -> list[Any]:
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
    rows_stmt = select(*row_keys, *_row_sums()).where(*filters.requests())
    rollup_keys = [D.c[k] for k in keys]
    rollup_stmt = select(*rollup_keys, *_rollup_sums()).where(*filters.rollups())
    if keys:
        rows_stmt = rows_stmt.group_by(*row_keys)
        rollup_stmt = rollup_stmt.group_by(*rollup_keys)
    for row in await store.fetch(rows_stmt):
        if _int(row["requests"]):
            totals[_key(row, keys)].add_row(row)
    for row in await store.fetch(rollup_stmt):
        if _int(row["requests"]):
            totals[_key(row, keys)].add_rollup(row)
    if outcomes:
        outcome_stmt = (
            select(*row_keys, R.c.outcome, func.count().label("n"))
            .where(*filters.requests())
            .group_by(*row_keys, R.c.outcome)
        )
        for row in await store.fetch(outcome_stmt):
            totals[_key(row, keys)].outcomes[str(row["outcome"])] = _int(row["n"])
    return dict(totals)


async def attempt_stats(
    store: Fetcher, keys: Sequence[str], filters: Filters
) -> dict[tuple[str, ...], dict[str, Any]]:
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
    stats: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in await store.fetch(stmt):
        calls = _int(row["calls"])
        stats[_key(row, keys)] = {
            "attempts": calls,
            "attemptSuccesses": _int(row["ok"]),
            "attemptFailures": calls - _int(row["ok"]),
            "attempts429": _int(row["r429"]),
            "timesSkipped": _int(row["skips"]),
            "avgAttemptLatencyMs": _round(float(row["latency"] or 0) / calls) if calls else 0,
        }
    return stats


NO_ATTEMPTS: Mapping[str, Any] = {
    "attempts": 0,
    "attemptSuccesses": 0,
    "attemptFailures": 0,
    "attempts429": 0,
    "timesSkipped": 0,
    "avgAttemptLatencyMs": 0,
}


# -- the endpoints' figures ----------------------------------------------------------------------


async def summary(store: Fetcher, filters: Filters = Filters()) -> dict[str, Any]:
    """Everything in one figure set (the original's `summary`, plus ours)."""
    total = (await grouped(store, (), filters, outcomes=True)).get((), Totals())
    return {**total.usage(), "outcomes": dict(sorted(total.outcomes.items()))}


async def providers(store: Fetcher, filters: Filters = Filters()) -> list[dict[str, Any]]:
    """Per provider: requests it served (rows + rollups), and what it said when tried."""
    served = await grouped(store, ("provider",), filters)
    tried = await attempt_stats(store, ("provider",), filters)
    names = {k[0] for k in served} | {k[0] for k in tried}
    out = [
        {
            "providerId": name,
            **served.get((name,), Totals()).usage(),
            **tried.get((name,), NO_ATTEMPTS),
        }
        for name in names
        if name
    ]
    return _latest_first(out, "providerId")


async def provider(
    store: Fetcher, provider_id: str, filters: Filters = Filters()
) -> dict[str, Any] | None:
    """One provider, with a per-model breakdown; None if it has no data at all."""
    filters = replace(filters, provider=provider_id)
    served = await grouped(store, ("model",), filters)
    tried = await attempt_stats(store, ("model",), filters)
    if not served and not tried:
        return None
    total = Totals()
    for part in served.values():
        _merge(total, part)
    attempts = dict(NO_ATTEMPTS)
    for stats in tried.values():
        attempts = _sum_attempts(attempts, stats)
    models = [
        {"model": name, **served.get((name,), Totals()).usage(), **tried.get((name,), NO_ATTEMPTS)}
        for name in {k[0] for k in served} | {k[0] for k in tried}
        if name
    ]
    return {
        "providerId": provider_id,
        **total.usage(),
        **attempts,
        "models": _latest_first(models, "model"),
    }


async def chains(store: Fetcher, filters: Filters = Filters()) -> list[dict[str, Any]]:
    groups = await grouped(store, ("chain",), filters)
    out = [{"chainName": k[0], **t.usage()} for k, t in groups.items() if k[0]]
    return _latest_first(out, "chainName")


async def chain(store: Fetcher, name: str, filters: Filters = Filters()) -> dict[str, Any] | None:
    """One chain, with who served it; None if it has no data."""
    groups = await grouped(store, ("provider",), replace(filters, chain=name))
    if not groups:
        return None
    total = Totals()
    for part in groups.values():
        _merge(total, part)
    served = [{"providerId": k[0], **t.usage()} for k, t in groups.items() if k[0]]
    return {"chainName": name, **total.usage(), "providers": _latest_first(served, "providerId")}


async def models(store: Fetcher, filters: Filters = Filters()) -> list[dict[str, Any]]:
    """Per served provider+model."""
    groups = await grouped(store, ("provider", "model"), filters)
    out = [
        {"providerId": k[0], "model": k[1], **t.usage()} for k, t in groups.items() if k[0] and k[1]
    ]
    return _latest_first(out, "providerId", "model")


async def keys(store: Fetcher, filters: Filters = Filters()) -> list[dict[str, Any]]:
    """Per API key label (the masked key, never the key)."""
    groups = await grouped(store, ("key_label",), filters)
    out = [{"keyLabel": k[0], **t.usage()} for k, t in groups.items()]
    return _latest_first(out, "keyLabel")


# -- the request log -----------------------------------------------------------------------------


async def request_page(
    store: Fetcher,
    filters: Filters = Filters(),
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
        select(R)
        .where(*clauses)
        .order_by(R.c.ts.desc(), R.c.id.desc())
        .limit(limit)
        .offset(max(0, offset))
    )
    count = select(func.count().label("n")).select_from(R).where(*clauses)
    rows = await store.fetch(page)
    total = _int((await store.fetch(count))[0]["n"])
    return {
        "requests": [request_json(row) for row in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


async def request_detail(store: Fetcher, request_id: str) -> dict[str, Any] | None:
    """One request with every entry it tried or skipped, in walk order."""
    rows = await store.fetch(select(R).where(R.c.id == request_id))
    if not rows:
        return None
    steps = await store.fetch(select(A).where(A.c.request_id == request_id).order_by(A.c.seq))
    return {**request_json(rows[0]), "attemptLog": [attempt_json(step) for step in steps]}


def request_json(row: Mapping[str, Any]) -> dict[str, Any]:
    ts = float(row["ts"])
    calls = _int(row["calls"])
    return {
        # The TypeScript original's fields.
        "id": row["id"],
        "timestamp": _ms(ts),
        "chainName": row["chain"],
        "providerId": row["provider"],
        "model": row["model"],
        "promptTokens": row["prompt_tokens"],
        "completionTokens": row["completion_tokens"],
        "totalTokens": row["total_tokens"],
        "latencyMs": _round(float(row["latency_ms"])),
        "httpStatus": row["status"],
        "attempts": calls,
        # Ours.
        "time": _iso(ts),
        "keyLabel": row["key_label"],
        "requestedModel": row["requested_model"],
        "stream": bool(row["stream"]),
        "outcome": row["outcome"],
        "tokensEstimated": bool(row["tokens_estimated"]),
        "ttftMs": _round(float(row["ttft_ms"])) if row["ttft_ms"] is not None else None,
        "skipped": _int(row["skipped"]),
        "rateLimited": _int(row["rate_limited"]),
        "fallback": row["outcome"] == "success" and calls > 1,
        "error": row["error"],
    }


def attempt_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "providerId": row["provider"],
        "model": row["model"],
        "outcome": row["outcome"],
        "httpStatus": row["status"],
        "latencyMs": _round(float(row["latency_ms"])),
        "reason": row["reason"],
        "skipped": bool(row["skipped"]),
    }


# -- time series -----------------------------------------------------------------------------


async def timeseries(
    store: Fetcher, filters: Filters, bucket: int, since: float, until: float
) -> list[dict[str, Any]]:
    """One point per bucket in [since, until), empty buckets included.

    `avgLatencyMs` is over every request (the rollups keep that sum); p50/p95 are over the
    successful ones. Day buckets also count the rollups of pruned days (without percentiles).
    """
    filters = replace(filters, since=since, until=until)
    where = filters.requests()
    slot = bucket_of(R.c.ts, bucket).label("bucket")
    success = R.c.outcome == "success"
    counts = select(slot, *_row_sums()).where(*where).group_by(literal_column("bucket"))
    first = math.floor(since / bucket) * bucket
    points: dict[int, dict[str, Any]] = {}
    for start in range(int(first), int(math.ceil(until / bucket) * bucket), bucket):
        points[start] = _empty_point(start)
    for row in await store.fetch(counts):
        start = int(float(row["bucket"]))
        point = points.setdefault(start, _empty_point(start))
        n = _int(row["requests"])
        point["requests"] += n
        point["successes"] += _int(row["successes"])
        point["errors"] += n - _int(row["successes"])
        point["fallbacks"] += _int(row["fallbacks"])
        point["rateLimited"] += _int(row["rate_limited"])
        point["entriesSkipped"] += _int(row["entries_skipped"])
        point["promptTokens"] += _int(row["prompt_tokens"])
        point["completionTokens"] += _int(row["completion_tokens"])
        point["totalTokens"] += _int(row["total_tokens"])
        point["_latency_sum"] += float(row["latency_ms_sum"] or 0)
    latencies: dict[int, list[float]] = defaultdict(list)
    lat_stmt = select(slot, R.c.latency_ms).where(*where, success)
    for row in await store.fetch(lat_stmt):
        latencies[int(float(row["bucket"]))].append(float(row["latency_ms"]))
    if bucket == DAY:
        day = select(D.c.day, *_rollup_sums()).where(*filters.rollups()).group_by(D.c.day)
        for row in await store.fetch(day):
            start = int(_day_start(str(row["day"])))
            point = points.setdefault(start, _empty_point(start))
            n = _int(row["requests"])
            point["requests"] += n
            point["successes"] += _int(row["successes"])
            point["errors"] += _int(row["failures"])
            point["fallbacks"] += _int(row["fallbacks"])
            point["rateLimited"] += _int(row["rate_limited"])
            point["promptTokens"] += _int(row["prompt_tokens"])
            point["completionTokens"] += _int(row["completion_tokens"])
            point["totalTokens"] += _int(row["total_tokens"])
            point["_latency_sum"] += float(row["latency_ms_sum"] or 0)
    out = []
    for start in sorted(points):
        point = points[start]
        values = sorted(latencies.get(start, ()))
        latency_sum = point.pop("_latency_sum")
        point["avgLatencyMs"] = _round(latency_sum / point["requests"]) if point["requests"] else 0
        point["latencyP50Ms"] = _round_opt(percentile(values, 0.50))
        point["latencyP95Ms"] = _round_opt(percentile(values, 0.95))
        out.append(point)
    return out


def _empty_point(start: int) -> dict[str, Any]:
    return {
        "timestamp": start * 1000,
        "time": _iso(start),
        "requests": 0,
        "successes": 0,
        "errors": 0,
        "fallbacks": 0,
        "rateLimited": 0,
        "entriesSkipped": 0,
        "promptTokens": 0,
        "completionTokens": 0,
        "totalTokens": 0,
        "_latency_sum": 0.0,
    }


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not sorted_values:
        return None
    rank = (len(sorted_values) - 1) * p
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


# -- provider health ---------------------------------------------------------------------------

HEALTH_WINDOWS: Mapping[str, int] = {"last5m": 300, "lastHour": 3_600}
TREND_STEP = 300


async def health(store: Fetcher, now: float, known: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per provider, from its upstream calls: error rate and latency over 5 min and 1 h.

    `errors` are the provider's failures (5xx, timeouts, bad keys, ...); 429s and quota
    refusals are `rateLimited`; client faults (400s, context length) count as calls only.
    Latency percentiles are over successful calls. `trend` is the last hour in 5-minute steps.
    """
    start = now - HEALTH_WINDOWS["lastHour"]
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
        for i in range(HEALTH_WINDOWS["lastHour"] // TREND_STEP):
            lo = start + i * TREND_STEP
            part = [c for c in calls if lo <= float(c["ts"]) < lo + TREND_STEP]
            if i == HEALTH_WINDOWS["lastHour"] // TREND_STEP - 1:
                part = [c for c in calls if float(c["ts"]) >= lo]
            window = _health_window(part)
            trend.append(
                {
                    "timestamp": _ms(lo),
                    "calls": window["calls"],
                    "errors": window["errors"],
                    "latencyP50Ms": window["latencyP50Ms"],
                }
            )
        recent, hour = windows["last5m"], windows["lastHour"]
        out.append(
            {
                "providerId": name,
                "status": _status(recent if recent["calls"] else hour),
                **windows,
                "latencyTrend": _trend(recent["latencyP50Ms"], hour["latencyP50Ms"]),
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
        "rateLimited": limited,
        "errorRate": _ratio(errors, n),
        "rateLimitRate": _ratio(limited, n),
        "avgLatencyMs": _round(sum(ok) / len(ok)) if ok else None,
        "latencyP50Ms": _round_opt(percentile(ok, 0.50)),
        "latencyP95Ms": _round_opt(percentile(ok, 0.95)),
    }


def _status(window: Mapping[str, Any]) -> str:
    """idle (no calls in the hour), healthy (< 10 % errors), degraded (< 50 %), failing."""
    rate = window["errorRate"]
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


# -- money saved -----------------------------------------------------------------------------


async def savings(
    store: Fetcher,
    filters: Filters = Filters(),
    presets: Mapping[str, Preset] | None = None,
    prices: Mapping[str, Price] | None = None,
) -> dict[str, Any]:
    """Tokens served × the list price of the model, per provider and in total (USD).

    The price of `provider/model` is, first found: `prices["provider/model"]`,
    `prices["model"]` (config overrides), the provider's preset price for the model (":free"
    dropped), the preset's default price; a provider without a preset is priced at 0 and
    marked `priceSource: null`. `presets` maps provider ids to presets.
    """
    groups = await grouped(store, ("provider", "model"), filters)
    by_provider: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (provider_id, model), totals in groups.items():
        if not provider_id:
            continue
        (p_in, p_out), source = _price(provider_id, model, presets or {}, prices or {})
        saved = totals.prompt_tokens / 1e6 * p_in + totals.completion_tokens / 1e6 * p_out
        by_provider[provider_id].append(
            {
                "model": model,
                "requests": totals.requests,
                "promptTokens": totals.prompt_tokens,
                "completionTokens": totals.completion_tokens,
                "totalTokens": totals.total_tokens,
                "inputPricePerM": p_in,
                "outputPricePerM": p_out,
                "priceSource": source,
                "saved": round(saved, 6),
            }
        )
    out = []
    for provider_id, rows in by_provider.items():
        rows.sort(key=lambda r: (-r["saved"], r["model"]))
        out.append(
            {
                "providerId": provider_id,
                "saved": round(sum(r["saved"] for r in rows), 6),
                "requests": sum(r["requests"] for r in rows),
                "promptTokens": sum(r["promptTokens"] for r in rows),
                "completionTokens": sum(r["completionTokens"] for r in rows),
                "totalTokens": sum(r["totalTokens"] for r in rows),
                "models": rows,
            }
        )
    out.sort(key=lambda r: (-r["saved"], r["providerId"]))
    return {
        "currency": "USD",
        "totalSaved": round(sum(r["saved"] for r in out), 6),
        "totalPromptTokens": sum(r["promptTokens"] for r in out),
        "totalCompletionTokens": sum(r["completionTokens"] for r in out),
        "totalTokens": sum(r["totalTokens"] for r in out),
        "providers": out,
    }


def _price(
    provider_id: str, model: str, presets: Mapping[str, Preset], prices: Mapping[str, Price]
) -> tuple[Price, str | None]:
    for key in (f"{provider_id}/{model}", model):
        if key in prices:
            p_in, p_out = prices[key]
            return (float(p_in), float(p_out)), "config"
    preset = presets.get(provider_id)
    if preset is None:
        return (0.0, 0.0), None
    listed = model in preset.prices or model.removesuffix(":free") in preset.prices
    return preset.price_for(model), "preset" if listed else "preset_default"


# -- helpers ---------------------------------------------------------------------------------


def _merge(into: Totals, part: Totals) -> None:
    for item in fields(Totals):
        if item.name not in ("last_ts", "outcomes"):
            setattr(into, item.name, getattr(into, item.name) + getattr(part, item.name))
    into._seen(part.last_ts)


def _sum_attempts(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    calls = a["attempts"] + b["attempts"]
    latency = a["avgAttemptLatencyMs"] * a["attempts"] + b["avgAttemptLatencyMs"] * b["attempts"]
    out = {k: a[k] + b[k] for k in a if k != "avgAttemptLatencyMs"}
    out["avgAttemptLatencyMs"] = _round(latency / calls) if calls else 0
    return out


def _latest_first(rows: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    """The original's order (most recent request first); then by name."""
    rows.sort(key=lambda r: tuple(r[n] for n in names))
    rows.sort(key=lambda r: -(r["lastRequestTimestamp"] or 0))
    return rows


def _key(row: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row[k]) if row[k] is not None else "" for k in keys)


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value: float) -> float:
    return round(value, 1)


def _round_opt(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _ms(ts: float | None) -> int | None:
    return round(ts * 1000) if ts is not None else None


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def _day_start(day: str) -> float:
    return dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp()
