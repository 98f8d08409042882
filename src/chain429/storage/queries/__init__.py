"""Read-side queries over the request log, for `/v1/stats/*`: typed rows and sums out.

Every statement is SQLAlchemy Core and runs unchanged on SQLite and Postgres:

- time buckets are computed from the float `ts` column (`floor(ts / bucket) * bucket`, with the
  bucket size rendered as a literal so Postgres sees the same expression in SELECT and GROUP BY);
- grouping is on plain columns (no bound parameters in GROUP BY expressions);
- averages, rates and percentiles are computed in Python (`http.stats_shapes`) from sums and
  fetched latencies, so no dialect's AVG type (Postgres NUMERIC) leaks out; the time series
  fetches latencies as counts per two-digit bin (`time_buckets.latency_bin`), so a chart over a
  month reads aggregates, not a row per request.

Totals (summary, providers, chains, models, keys, savings) add the `daily_rollups` of pruned days
to the retained rows. Rollups keep requests, successes, failures, fallbacks, 429s met, tokens and
the latency sum; the figures they lack (entries skipped, upstream calls, estimated tokens, outcome
breakdown, attempt counts, percentiles) cover the retained rows only. A rollup day is in a time
range when the day overlaps it; its last request time is the start of that day.

Every query returns rows (`Totals`, `AttemptTally`, `Group`, `RequestRow`, `AttemptRow`,
`Bucket`, `ProviderCalls`, `ModelSaving`); `http.stats_shapes` turns them into the API's JSON.

The modules, each importing only those before it: `filters` (which rows, and the `Fetcher` a
store provides), `figures` (NULL sums as 0), `totals` (grouped sums), then the endpoints'
rows: `usage`, `request_log`, `time_buckets`, `provider_health` and `money_saved`. Importing
this package imports SQLAlchemy, so `http.stats_api` imports it on first use.
"""

from chain429.storage.queries.filters import DAY, Fetcher, Filters
from chain429.storage.queries.money_saved import ModelSaving, savings
from chain429.storage.queries.provider_health import (
    CLIENT_FAULTS,
    HEALTH_WINDOWS,
    QUOTA_OUTCOMES,
    TREND_STEP,
    CallWindow,
    ProviderCalls,
    health,
)
from chain429.storage.queries.request_log import (
    MAX_PAGE,
    AttemptRow,
    RequestPage,
    RequestRow,
    request_detail,
    request_page,
)
from chain429.storage.queries.time_buckets import BUCKETS, Bucket, bucket_of, timeseries
from chain429.storage.queries.totals import AttemptTally, Totals, attempt_stats, grouped
from chain429.storage.queries.usage import (
    Group,
    chain,
    chains,
    keys,
    models,
    provider,
    providers,
    summary,
)

__all__ = [
    "BUCKETS",
    "CLIENT_FAULTS",
    "DAY",
    "HEALTH_WINDOWS",
    "MAX_PAGE",
    "QUOTA_OUTCOMES",
    "TREND_STEP",
    "AttemptRow",
    "AttemptTally",
    "Bucket",
    "CallWindow",
    "Fetcher",
    "Filters",
    "Group",
    "ModelSaving",
    "ProviderCalls",
    "RequestPage",
    "RequestRow",
    "Totals",
    "attempt_stats",
    "bucket_of",
    "chain",
    "chains",
    "grouped",
    "health",
    "keys",
    "models",
    "provider",
    "providers",
    "request_detail",
    "request_page",
    "savings",
    "summary",
    "timeseries",
]
