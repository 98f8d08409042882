"""The tracker's state records: cooldowns, per-entry and per-quota state, tickets, verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chain429.quota.learned import LearnedWindow
from chain429.quota.windows import FixedWindow, SlidingWindow

if TYPE_CHECKING:
    from chain429.engine.chain import Entry


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
    probing: bool = False  # a half-open probe is in flight
    in_flight: int = 0


@dataclass(slots=True)
class QuotaState:
    """Counters shared by every entry that draws on one upstream quota."""

    learned: dict[str, LearnedWindow] = field(default_factory=dict)  # "requests/day" -> window
    manual: dict[str, SlidingWindow | FixedWindow] = field(default_factory=dict)
    in_flight: int = 0
    in_flight_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why an entry may not be sent to now, and when that might change."""

    reason: str
    kind: str
    free_at: float | None = None


@dataclass(slots=True)
class Ticket:
    """A reservation of one request on an entry, settled by `release` or `cancel`."""

    entry: Entry
    started_at: float
    est_tokens: int
    probe: bool = False
    released: bool = False


def quota_key(entry: Entry) -> str:
    """Entries that draw on one upstream quota share counters (OpenRouter: the whole account)."""
    return entry.provider if entry.preset.quota_scope == "provider" else entry.key
