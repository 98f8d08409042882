"""Shapes of the OpenAI routes, /health and /v1/ratelimits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from chain429.http.schemas.base import Shape

EntryState = Literal[
    "available",
    "tracking",
    "cooling",
    "exhausted-until-daily-reset",
    "auth-failed",
    "breaker-open",
    "disabled",
]


class ChatCompletionRequest(Shape):
    """An OpenAI chat completion request; unknown fields are passed upstream unchanged."""

    model_config = ConfigDict(extra="allow")
    model: str | None = Field(None, description="A chain name, or `provider/model`.")
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = None


class ChatCompletion(Shape):
    """The upstream's completion, passed through as it came."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


class EmbeddingsRequest(Shape):
    """An OpenAI embeddings request; unknown fields are passed upstream unchanged."""

    model_config = ConfigDict(extra="allow")
    model: str | None = Field(None, description="An embeddings chain, or `provider/model`.")
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = Field(
        None, description="Passed through; `base64` answers carry base64 strings."
    )


class Embeddings(Shape):
    """The upstream's embeddings, passed through as they came."""

    model_config = ConfigDict(extra="allow")
    object: str
    data: list[dict[str, Any]]
    model: str | None = None
    usage: dict[str, Any] | None = None


class CompletionRequest(Shape):
    """A legacy text completion request; unknown fields are passed upstream unchanged."""

    model_config = ConfigDict(extra="allow")
    model: str | None = Field(None, description="A chain name, or `provider/model`.")
    prompt: str | list[str] | list[int] | list[list[int]]
    stream: bool = False
    max_tokens: int | None = None


class TextCompletion(Shape):
    """The upstream's text completion, passed through as it came."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


class Model(Shape):
    id: str = Field(description="A chain name, or `provider/model`.")
    object: Literal["model"]
    created: int
    owned_by: str = Field(description="`429chain` for a chain, else the provider id.")
    kind: Literal["chat", "embeddings"] = Field(
        description="`embeddings` for an embeddings chain and its entries, else `chat`."
    )


class ModelList(Shape):
    object: Literal["list"]
    data: list[Model]


class RequestCounts(Shape):
    requests: int = Field(description="Requests that resolved a chain.")
    served: int
    failed: int = Field(description="Requests whose walk found no entry.")


class ConfigHealth(Shape):
    loaded_at: str = Field(description="When the served config was loaded (ISO 8601, UTC).")
    reload_failed: bool = Field(description="The file on disk is not the config being served.")
    path: str | None = Field(None, description="Admin key only: the config file.")
    error: str | None = Field(None, description="Admin key only: why the file is not served.")


class RequestLogHealth(Shape):
    enabled: bool
    store: Literal["open", "opening", "failed"] | None = None
    queued: int | None = None
    written: int | None = None
    dropped: int | None = None
    failed_batches: int | None = None
    last_error: str | None = Field(None, description="Admin key only.")
    reason: str | None = Field(None, description="Admin key only: why the store is not open.")


class QuotaStateHealth(Shape):
    persisted: bool = Field(description="False: quota state is kept in memory only.")
    recreated: int = Field(description="Times the state file was found deleted and made again.")
    path: str | None = Field(None, description="Admin key only: the state file.")
    error: str | None = Field(None, description="Admin key only: why it is not kept on disk.")


class Health(Shape):
    """Counts for anyone; `config.path`, `config.error` and log errors need the admin key."""

    status: Literal["ok"]
    version: str
    uptime_s: float
    providers: int
    providers_disabled: int
    chains: int
    entries: int
    entries_unavailable: int = Field(description="Entries that cannot take a request now.")
    requests: RequestCounts
    config: ConfigHealth
    request_log: RequestLogHealth
    quota_state: QuotaStateHealth | None = Field(
        None, description="Null when the state is not persisted (no database configured)."
    )


class LearnedWindow(Shape):
    limit: int | None
    remaining: int
    resets_at: str
    resets_in_s: float


class ManualWindow(Shape):
    limit: int
    used: int


class TsQuota(Shape):
    """The TypeScript original's quota block (kept for its dashboards)."""

    remainingRequests: int | None
    remainingTokens: int | None
    resetRequestsMs: int | None
    resetTokensMs: int | None


class EntryRateLimit(Shape):
    entry: str
    provider: str
    model: str
    quota_scope: str = Field(description="Entries with the same scope share one quota.")
    state: EntryState
    reason: str | None
    available_at: str | None
    cooldown_left_s: float | None
    in_flight: int
    consecutive_failures: int
    latency_ms: float | None = Field(
        description="Smoothed recent latency: time to first token for streams, else the whole."
    )
    learned: dict[str, LearnedWindow] = Field(description="By `requests/day`, `tokens/minute`…")
    manual: dict[str, ManualWindow] = Field(description="By limit name, e.g. `requests_per_day`.")
    status: EntryState = Field(description="TypeScript original's name for `state`.")
    cooldownUntil: int | None = Field(
        description="TypeScript original: end of the cooldown, epoch ms."
    )
    quota: TsQuota | None = Field(description="TypeScript original: the tightest learned counters.")


class ChainNext(Shape):
    name: str
    strategy: Literal["ordered", "fastest", "spread"] = Field(
        description="How the chain orders its entries."
    )
    kind: Literal["chat", "embeddings"] = Field(description="What the chain serves.")
    entries: list[str]
    order: list[str] = Field(
        description="The order the chain would try its entries in now (entries without room "
        "last); for `spread` and `fastest` this changes from request to request."
    )
    next: str | None = Field(description="The entry that would serve the chain now.")


class RateLimitsReply(Shape):
    ratelimits: list[EntryRateLimit]
    chains: list[ChainNext]
