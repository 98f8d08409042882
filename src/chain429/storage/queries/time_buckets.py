"""Request sums per time bucket (minute, hour, day), with the latencies for percentiles."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Float, case, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from chain429.storage.queries.figures import as_int
from chain429.storage.queries.filters import DAY, D, Fetcher, Filters, R, day_start
from chain429.storage.queries.totals import rollup_sums, row_sums
from chain429.vocabulary import RequestOutcome

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


def latency_bin(column: Any) -> ColumnElement[float]:
    """A latency rounded down to two significant digits (1 ms steps below 100 ms, 10 ms below
    1 s, 100 ms below 10 s, then 1 s): percentiles come from counts per bin, not raw rows, so
    a month of requests is a few hundred rows per bucket, at most 10 % off (about 1 % mostly)."""
    steps = ((100, 1), (1_000, 10), (10_000, 100))
    whens = [(column < limit, _floor(column / step) * step) for limit, step in steps]
    binned: ColumnElement[float] = case(*whens, else_=_floor(column / 1_000) * 1_000)
    return binned


@dataclass(slots=True)
class Bucket:
    """One time bucket's sums; `success_latencies` are the retained rows' only: (latency bin,
    how many), by bin."""

    start: int  # epoch seconds
    requests: int = 0
    successes: int = 0
    failures: int = 0
    fallbacks: int = 0
    rate_limited: int = 0
    entries_skipped: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency_ms_sum: float = 0.0
    success_latencies: list[tuple[float, int]] = field(default_factory=list)

    def add(self, row: Mapping[str, Any], failures: int) -> None:
        self.requests += as_int(row["requests"])
        self.successes += as_int(row["successes"])
        self.failures += failures
        for name in KEPT_IN_BOTH:
            setattr(self, name, getattr(self, name) + as_int(row[name]))
        self.latency_ms_sum += float(row["latency_ms_sum"] or 0)


KEPT_IN_BOTH = ("fallbacks", "rate_limited", "prompt_tokens", "completion_tokens", "total_tokens")


async def timeseries(
    store: Fetcher, filters: Filters, bucket: int, since: float, until: float
) -> list[Bucket]:
    """One bucket per step in [since, until), empty buckets included.

    Day buckets also count the rollups of pruned days (which keep no latencies).
    """
    filters = replace(filters, since=since, until=until)
    where = filters.requests()
    slot = bucket_of(R.c.ts, bucket).label("bucket")
    success = R.c.outcome == RequestOutcome.SUCCESS
    counts = select(slot, *row_sums()).where(*where).group_by(literal_column("bucket"))
    first = math.floor(since / bucket) * bucket
    buckets: dict[int, Bucket] = {}
    for start in range(int(first), int(math.ceil(until / bucket) * bucket), bucket):
        buckets[start] = Bucket(start)
    for row in await store.fetch(counts):
        start = int(float(row["bucket"]))
        point = buckets.setdefault(start, Bucket(start))
        point.add(row, as_int(row["requests"]) - as_int(row["successes"]))
        point.entries_skipped += as_int(row["entries_skipped"])
    binned = latency_bin(R.c.latency_ms).label("bin")
    lat_stmt = (
        select(slot, binned, func.count().label("n"))
        .where(*where, success)
        .group_by(literal_column("bucket"), literal_column("bin"))
    )
    for row in await store.fetch(lat_stmt):
        start = int(float(row["bucket"]))
        pair = (float(row["bin"]), as_int(row["n"]))
        buckets.setdefault(start, Bucket(start)).success_latencies.append(pair)
    if bucket == DAY:
        day = select(D.c.day, *rollup_sums()).where(*filters.rollups()).group_by(D.c.day)
        for row in await store.fetch(day):
            start = int(day_start(str(row["day"])))
            buckets.setdefault(start, Bucket(start)).add(row, as_int(row["failures"]))
    out = [buckets[start] for start in sorted(buckets)]
    for point in out:
        point.success_latencies.sort()
    return out
