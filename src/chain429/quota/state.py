"""The tracker's state records: cooldowns, per-entry state and per-quota counters."""

from __future__ import annotations

from dataclasses import dataclass, field

from chain429.quota.drained import DrainedBucket
from chain429.quota.learned import LearnedWindow
from chain429.quota.windows import FixedWindow, SlidingWindow
from chain429.vocabulary import Entry


@dataclass(slots=True)
class Cooldown:
    until: float
    kind: str  # an OutcomeKind value, or "breaker"
    reason: str
    set_at: float


@dataclass(slots=True)
class EntryState:
    """Per provider+model (or per provider, for provider-wide cooldowns)."""

    cooldown: Cooldown | None = None
    failures: int = 0  # consecutive failures that count towards the breaker
    breaker_opens: int = 0  # consecutive times the breaker opened, for escalation
    unhinted: int = 0  # consecutive 429s that stated no retry time, for escalation
    spent_daily: int = 0  # consecutive daily 429s of a token bucket, for escalation
    probing: bool = False  # a half-open probe is in flight
    in_flight: int = 0
    # Recent latency (time to first token for streams, total otherwise), smoothed, and when it
    # was last measured: what a latency-aware strategy orders by.
    latency_ms: float | None = None
    latency_at: float = 0.0
    latency_samples: int = 0  # since start-up: one sample alone may be an outlier

    def observe_latency(self, ms: float, now: float, weight: float = 0.3) -> None:
        previous = self.latency_ms
        self.latency_ms = ms if previous is None else previous + weight * (ms - previous)
        self.latency_at = now
        self.latency_samples += 1


@dataclass(slots=True)
class QuotaState:
    """Counters shared by every entry that draws on one upstream quota."""

    learned: dict[str, LearnedWindow] = field(default_factory=dict)  # "requests/day" -> window
    manual: dict[str, SlidingWindow | FixedWindow] = field(default_factory=dict)
    in_flight: int = 0
    in_flight_tokens: int = 0
    answered: bool = False  # the upstream has answered at least once since start-up
    drained: DrainedBucket | None = None  # a spent daily bucket no header shows, from its 429s


def quota_key(entry: Entry) -> str:
    """Entries that draw on one upstream quota share counters (OpenRouter: the whole account)."""
    return entry.provider if entry.preset.quota_scope == "provider" else entry.key
