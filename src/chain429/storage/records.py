"""What is logged about each client request and each entry it tried: plain data, no storage."""

from __future__ import annotations

from dataclasses import dataclass, field

from chain429.vocabulary import RequestOutcome

# The provider a request answered from the response cache is logged under (no upstream call);
# its model is the `provider/model` that served the answer first.
CACHE_PROVIDER = "cache"


@dataclass(slots=True)
class AttemptRecord:
    """One entry's part in a request: a call that was made, or a skip and why."""

    seq: int  # position in the walk, from 0
    provider: str
    model: str
    outcome: str  # an OutcomeKind value, "success", or a skip verdict's kind
    status: int | None
    latency_ms: float
    reason: str
    skipped: bool


@dataclass(slots=True)
class RequestRecord:
    """One client request that got an answer: served, refused, failed, or cut off."""

    id: str
    ts: float  # epoch seconds when the request arrived
    key_label: str  # a label for the proxy key used, never the key itself
    chain: str | None
    requested_model: str | None
    provider: str | None  # who served it, if anyone
    model: str | None
    stream: bool
    status: int  # the HTTP status the client got (499: the client went away)
    outcome: RequestOutcome | str  # a RequestOutcome; "" until the request finishes
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    tokens_estimated: bool = False
    latency_ms: float = 0.0
    ttft_ms: float | None = None  # time to first token, for streams
    calls: int = 0  # upstream calls made
    skipped: int = 0  # entries skipped without a call
    rate_limited: int = 0  # 429s met on the way (from upstreams)
    error: str | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    endpoint: str | None = None  # the route it came in on: /v1/chat/completions, /v1/messages…


def is_fallback(outcome: str, calls: int) -> bool:
    """A fallback (the original's "waterfall"): served after at least one upstream failure.

    The one definition; `storage.queries.totals.FALLBACK` is its SQL form, and the daily
    rollups call this.
    """
    return outcome == RequestOutcome.SUCCESS and calls > 1
