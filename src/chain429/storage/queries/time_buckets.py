"""Request figures per time bucket (minute, hour, day), with latency percentiles."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import Float, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from chain429.storage.queries.figures import as_int, iso_time, percentile, round1, round1_opt
from chain429.storage.queries.filters import DAY, D, Fetcher, Filters, R, day_start
from chain429.storage.queries.totals import rollup_sums, row_sums

BUCKETS: Mapping[str, int] = {"minute": 60, "hour": 3_600, "day": DAY}


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
    counts = select(slot, *row_sums()).where(*where).group_by(literal_column("bucket"))
    first = math.floor(since / bucket) * bucket
    points: dict[int, dict[str, Any]] = {}
    for start in range(int(first), int(math.ceil(until / bucket) * bucket), bucket):
        points[start] = _empty_point(start)
    for row in await store.fetch(counts):
        start = int(float(row["bucket"]))
        point = points.setdefault(start, _empty_point(start))
        n = as_int(row["requests"])
        point["requests"] += n
        point["successes"] += as_int(row["successes"])
        point["errors"] += n - as_int(row["successes"])
        point["fallbacks"] += as_int(row["fallbacks"])
        point["rate_limited"] += as_int(row["rate_limited"])
        point["entries_skipped"] += as_int(row["entries_skipped"])
        point["prompt_tokens"] += as_int(row["prompt_tokens"])
        point["completion_tokens"] += as_int(row["completion_tokens"])
        point["total_tokens"] += as_int(row["total_tokens"])
        point["_latency_sum"] += float(row["latency_ms_sum"] or 0)
    latencies: dict[int, list[float]] = defaultdict(list)
    lat_stmt = select(slot, R.c.latency_ms).where(*where, success)
    for row in await store.fetch(lat_stmt):
        latencies[int(float(row["bucket"]))].append(float(row["latency_ms"]))
    if bucket == DAY:
        day = select(D.c.day, *rollup_sums()).where(*filters.rollups()).group_by(D.c.day)
        for row in await store.fetch(day):
            start = int(day_start(str(row["day"])))
            point = points.setdefault(start, _empty_point(start))
            n = as_int(row["requests"])
            point["requests"] += n
            point["successes"] += as_int(row["successes"])
            point["errors"] += as_int(row["failures"])
            point["fallbacks"] += as_int(row["fallbacks"])
            point["rate_limited"] += as_int(row["rate_limited"])
            point["prompt_tokens"] += as_int(row["prompt_tokens"])
            point["completion_tokens"] += as_int(row["completion_tokens"])
            point["total_tokens"] += as_int(row["total_tokens"])
            point["_latency_sum"] += float(row["latency_ms_sum"] or 0)
    out = []
    for start in sorted(points):
        point = points[start]
        values = sorted(latencies.get(start, ()))
        latency_sum = point.pop("_latency_sum")
        point["avg_latency_ms"] = (
            round1(latency_sum / point["requests"]) if point["requests"] else 0
        )
        point["latency_p50_ms"] = round1_opt(percentile(values, 0.50))
        point["latency_p95_ms"] = round1_opt(percentile(values, 0.95))
        out.append(point)
    return out


def _empty_point(start: int) -> dict[str, Any]:
    return {
        "timestamp": start * 1000,
        "time": iso_time(start),
        "requests": 0,
        "successes": 0,
        "errors": 0,
        "fallbacks": 0,
        "rate_limited": 0,
        "entries_skipped": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "_latency_sum": 0.0,
    }
