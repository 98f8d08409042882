"""Shapes of `/v1/stats/*`: usage, the request log, time series, health, savings, capacity."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chain429.http.schemas.base import Shape
from chain429.http.schemas.status import EntryState
from chain429.vocabulary import RequestOutcome


class Usage(Shape):
    """The usage figures (rows plus daily rollups where the rollups keep the figure)."""

    total_requests: int
    total_tokens: int
    total_prompt_tokens: int
    total_completion_tokens: int
    last_request_timestamp: int | None = Field(description="Epoch milliseconds.")
    successful_requests: int
    failed_requests: int
    success_rate: float | None
    waterfall_requests: int = Field(description="Served after at least one upstream failure.")
    waterfall_rate: float | None = Field(description="Over successful requests.")
    rate_limited_met: int = Field(description="429s met from upstreams on the way.")
    skipped_requests: int = Field(description="Requests in which entries were skipped.")
    entries_skipped: int
    upstream_calls: int
    estimated_token_requests: int = Field(description="Requests whose upstream sent no usage.")
    avg_latency_ms: float
    rolled_up_requests: int = Field(description="Requests counted from daily rollups.")


class AttemptStats(Shape):
    """What a provider said when tried."""

    attempts: int
    attempt_successes: int
    attempt_failures: int
    attempts_429: int
    times_skipped: int
    avg_attempt_latency_ms: float


class Summary(Usage):
    outcomes: dict[str, int] = Field(description="Requests per outcome (retained rows).")


class SummaryReply(Shape):
    summary: Summary


class ProviderUsage(Usage, AttemptStats):
    provider_id: str


class ModelAttempts(Usage, AttemptStats):
    model: str


class ProviderDetail(ProviderUsage):
    models: list[ModelAttempts]


class ProvidersReply(Shape):
    providers: list[ProviderUsage]


class ChainUsage(Usage):
    chain_name: str


class ServedBy(Usage):
    provider_id: str


class ChainDetail(ChainUsage):
    providers: list[ServedBy]


class ChainsReply(Shape):
    chains: list[ChainUsage]


class ModelUsage(Usage):
    provider_id: str
    model: str


class ModelsReply(Shape):
    models: list[ModelUsage]


class KeyUsage(Usage):
    key_label: str = Field(description="The masked key (`sk-…1234`), `open` or `unauthenticated`.")


class KeysReply(Shape):
    keys: list[KeyUsage]


class LoggedRequest(Shape):
    id: str
    timestamp: int = Field(description="Arrival, epoch milliseconds.")
    chain_name: str | None
    provider_id: str | None = Field(description="Who served it, if anyone.")
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    latency_ms: float
    http_status: int
    attempts: int = Field(description="Upstream calls made.")
    time: str = Field(description="Arrival, ISO 8601.")
    key_label: str
    requested_model: str | None
    stream: bool
    outcome: RequestOutcome
    tokens_estimated: bool
    ttft_ms: float | None
    skipped: int
    rate_limited: int
    fallback: bool = Field(description="Served after at least one upstream failure.")
    error: str | None
    endpoint: str | None = Field(
        description="The route it came in on (`/v1/chat/completions`, `/v1/messages`, "
        "`/v1/responses`, …); null for requests logged before this was recorded."
    )


class RequestPage(Shape):
    requests: list[LoggedRequest]
    total: int
    limit: int
    offset: int


class LoggedAttempt(Shape):
    seq: int
    provider_id: str
    model: str
    outcome: str = Field(description="An outcome kind, `success`, or why it was skipped.")
    http_status: int | None
    latency_ms: float
    reason: str
    skipped: bool


class RequestDetail(LoggedRequest):
    attempt_log: list[LoggedAttempt]


class TimePoint(Shape):
    timestamp: int
    time: str
    requests: int
    successes: int
    errors: int
    fallbacks: int
    rate_limited: int
    entries_skipped: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    avg_latency_ms: float
    latency_p50_ms: float | None = Field(description="Over successful requests.")
    latency_p95_ms: float | None


class Timeseries(Shape):
    bucket: Literal["minute", "hour", "day"]
    bucket_seconds: int
    since: int = Field(description="Epoch milliseconds.")
    until: int = Field(description="Epoch milliseconds, exclusive.")
    points: list[TimePoint]


class HealthWindow(Shape):
    calls: int
    successes: int
    errors: int
    rate_limited: int
    error_rate: float | None
    rate_limit_rate: float | None
    avg_latency_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None


class TrendStep(Shape):
    timestamp: int
    calls: int
    errors: int
    latency_p50_ms: float | None


class LatencyTrend(Shape):
    direction: Literal["rising", "steady", "falling"] | None
    ratio: float | None = Field(description="The last 5 minutes' median over the hour's.")


class ProviderHealth(Shape):
    provider_id: str
    status: Literal["idle", "healthy", "degraded", "failing"]
    last_5m: HealthWindow
    last_hour: HealthWindow
    latency_trend: LatencyTrend
    trend: list[TrendStep] = Field(description="The last hour in 5-minute steps.")


class HealthReply(Shape):
    generated_at: int
    providers: list[ProviderHealth]


class ModelSavings(Shape):
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    input_price_per_m: float
    output_price_per_m: float
    price_source: Literal["config", "preset", "preset_default"] | None
    saved: float


class ProviderSavings(Shape):
    provider_id: str
    saved: float
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    models: list[ModelSavings]


class Savings(Shape):
    currency: Literal["USD"]
    total_saved: float
    total_prompt_tokens: int
    total_completion_tokens: int
    total_tokens: int
    providers: list[ProviderSavings]


class EntryCapacity(Shape):
    entry: str
    provider_id: str
    model: str
    quota_scope: str
    state: EntryState
    requests_left: int | None
    requests_per_day: int | None
    tokens_left: int | None
    tokens_per_day: int | None
    resets_at: str | None
    shared_quota: bool = Field(description="Counted already, by an earlier entry of the chain.")


class ChainCapacity(Shape):
    chain_name: str
    requests_left: int | None = Field(description="Null when an entry's daily limit is unknown.")
    tokens_left: int | None
    requests_left_known: int
    tokens_left_known: int
    next_reset_at: str | None
    entries: list[EntryCapacity]


class Capacity(Shape):
    generated_at: int
    chains: list[ChainCapacity]
