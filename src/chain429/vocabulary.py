"""The words the engine, the tracker and storage share: entries, outcomes, verdicts, tickets.

This module is a leaf: the chain engine (`engine/`) and the quota tracker (`quota/`) both import
it, and it imports neither, so neither depends on the other. It holds data and the outcome
table's policy (which action each kind of outcome takes), never behaviour that needs I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from chain429.config.schema import RateLimits
from chain429.providers.presets import DailyReset, Preset
from chain429.redact import scrub, scrub_json


class Strategy(StrEnum):
    """How a chain orders its candidates (see `engine.order`)."""

    ORDERED = "ordered"  # the waterfall: config order
    FASTEST = "fastest"  # lowest recent latency first, with occasional exploration
    SPREAD = "spread"  # weighted round robin by remaining quota


class ChainKind(StrEnum):
    """What a chain serves: chat (and legacy text completions) or embeddings."""

    CHAT = "chat"
    EMBEDDINGS = "embeddings"


@dataclass(frozen=True, slots=True)
class Entry:
    """One provider+model pair, with everything needed to call it."""

    provider: str
    model: str
    preset: Preset
    base_url: str  # the provider's OpenAI-compatible root, without a trailing slash
    headers: Mapping[str, str] = field(repr=False)  # auth, preset and config headers
    timeout_s: float
    limits: RateLimits | None = None
    disabled: str | None = None  # why the provider cannot be used (e.g. its key is not set)
    api_key: str | None = field(default=None, repr=False)  # to scrub from upstream messages
    ad_hoc: bool = False  # named by a client as `provider/model`, not by any configured chain
    query: str = field(default="", repr=False)  # "?key=…" for providers that take the key there
    key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.provider}/{self.model}")

    def url(self, path: str) -> str:
        """The full URL of one operation's `path` (e.g. "/chat/completions") on this entry."""
        return f"{self.base_url}{path}{self.query}"

    def serves(self, operation: str) -> bool:
        return operation in self.preset.operations

    @property
    def daily_reset(self) -> DailyReset:
        """When this entry's daily counters refill: the config's say, else the preset's."""
        mode = self.limits.daily_reset if self.limits is not None else None
        return mode or self.preset.daily_reset


@dataclass(frozen=True, slots=True)
class Chain:
    name: str
    entries: tuple[Entry, ...]
    max_wait_s: float | None = None
    strategy: Strategy = Strategy.ORDERED
    kind: ChainKind = ChainKind.CHAT
    # The response cache: how long an answer is kept (None: the cache is off for this chain),
    # and whether answers to nondeterministic requests (temperature > 0, ...) are kept too.
    cache_ttl_s: float | None = None
    cache_nondeterministic: bool = False


@dataclass(frozen=True, slots=True)
class Latency:
    """An entry's smoothed recent latency and when it was last measured (epoch s)."""

    ms: float
    at: float
    samples: int = 1  # measurements behind it since start-up


@dataclass(frozen=True, slots=True)
class Headroom:
    """What an entry has left now, from the longest window known for each kind (learned from
    headers or configured); None where nothing is known. Read by the `spread` strategy."""

    requests: float | None = None
    tokens: float | None = None


class OutcomeKind(StrEnum):
    """What one attempt came to."""

    SUCCESS = "success"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"  # daily cap / credits / 402 / insufficient_quota
    AUTH_FAILED = "auth_failed"
    MODEL_NOT_FOUND = "model_not_found"
    CONTEXT_LENGTH = "context_length"
    CLIENT_ERROR = "client_error"
    UPSTREAM_ERROR = "upstream_error"  # 3xx/408/409/5xx/other
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    MALFORMED = "malformed"


class Action(StrEnum):
    SUCCEED = "succeed"
    COOLDOWN = "cooldown"  # this entry, length = hint or default; next entry
    LONG_COOLDOWN = "long_cooldown"  # this entry until the daily reset / cooldown_max; next entry
    COOLDOWN_PROVIDER = "cooldown_provider"  # every entry of the provider, long; next entry
    COUNT_FAILURE = "count_failure"  # next entry; the breaker counts consecutive failures
    NEXT = "next"  # next entry, no cooldown (another model may have a bigger window)
    RETURN = "return"  # the client's fault: return this error to the client at once


POLICY: Mapping[OutcomeKind, Action] = MappingProxyType(
    {
        OutcomeKind.SUCCESS: Action.SUCCEED,
        OutcomeKind.RATE_LIMITED: Action.COOLDOWN,
        OutcomeKind.QUOTA_EXHAUSTED: Action.LONG_COOLDOWN,
        # A bad key fails for every model of the provider; don't spend the chain finding out.
        OutcomeKind.AUTH_FAILED: Action.COOLDOWN_PROVIDER,
        # Gone models stay gone; the tracker gives this kind its own long default.
        OutcomeKind.MODEL_NOT_FOUND: Action.COOLDOWN,
        OutcomeKind.CONTEXT_LENGTH: Action.NEXT,
        OutcomeKind.CLIENT_ERROR: Action.RETURN,
        OutcomeKind.UPSTREAM_ERROR: Action.COUNT_FAILURE,
        OutcomeKind.TIMEOUT: Action.COUNT_FAILURE,
        OutcomeKind.CONNECTION_ERROR: Action.COUNT_FAILURE,
        OutcomeKind.MALFORMED: Action.COUNT_FAILURE,
    }
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's verdict; `message` is short and safe for clients and logs."""

    kind: OutcomeKind
    status: int | None
    message: str
    retry_at: float | None = None  # when this entry may be tried again (epoch s)
    daily: bool = False
    error_body: Any = None  # decoded upstream body, forwarded to the client on RETURN
    # A 429 whose own rate-limit headers show the exhausted counter: the learned counters
    # hold back exactly the requests that do not fit, so no cooldown is needed.
    explained: bool = False
    # The counter a daily 429's body names ("Tokens per day limit exceeded"), when it says.
    counter: Literal["requests", "tokens"] | None = None

    @property
    def action(self) -> Action:
        return POLICY[self.kind]

    def scrubbed(self, secret: str | None) -> Outcome:
        """This outcome with `secret` masked: some upstreams quote the key in their errors."""
        if not secret or (secret not in self.message and self.error_body is None):
            return self
        return replace(
            self,
            message=scrub(self.message, secret),
            error_body=scrub_json(self.error_body, secret),
        )


SUCCESS = Outcome(OutcomeKind.SUCCESS, 200, "served")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why an entry may not be sent to now, and when that might change."""

    reason: str
    # an OutcomeKind value, or breaker/disabled/concurrency/learning/too_large/deadline
    kind: str
    free_at: float | None = None


# Verdict and outcome kinds that mean "out of quota": a chain made only of these answers 429.
QUOTA_KINDS = frozenset({"rate_limited", "quota_exhausted", "concurrency", "learning"})


@dataclass(slots=True)
class Ticket:
    """A reservation of one request on an entry, settled by the tracker's `settle` or `cancel`."""

    entry: Entry
    started_at: float
    est_tokens: int
    probe: bool = False
    released: bool = False
    first_byte_at: float | None = None  # when a stream committed: its time to first token


class RequestOutcome(StrEnum):
    """How one client request ended, as the request log stores it."""

    SUCCESS = "success"
    STREAM_FAILED = "stream_failed"  # committed, then the upstream broke
    EXHAUSTED = "exhausted"  # no entry of the chain could serve it
    UPSTREAM_REJECTED = "upstream_rejected"  # an upstream said the request itself is wrong
    BAD_REQUEST = "bad_request"
    AUTH_FAILED = "auth_failed"
    CLIENT_DISCONNECT = "client_disconnect"
    SHUTDOWN = "shutdown"  # cut short by the proxy's own shutdown
    INTERNAL_ERROR = "internal_error"
