"""What the tracker knows about an entry, as typed records: the HTTP layer shapes the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

from chain429.quota.state import EntryState, QuotaState, quota_key
from chain429.vocabulary import Entry, Verdict

STATE_BY_KIND = {
    "auth_failed": "auth-failed",
    "breaker": "breaker-open",
    "quota_exhausted": "exhausted-until-daily-reset",
    "disabled": "disabled",
}
MANUAL_NAMES = (
    "requests_per_minute",
    "requests_per_hour",
    "requests_per_day",
    "tokens_per_minute",
    "tokens_per_hour",
    "tokens_per_day",
)


@dataclass(frozen=True, slots=True)
class LearnedReport:
    """One counter learned from the upstream's headers ("requests/day", "tokens/minute", …)."""

    limit: int | None
    remaining: int
    resets_at: float  # epoch seconds
    resets_in_s: float


@dataclass(frozen=True, slots=True)
class ManualReport:
    """One limit of the config (or of the preset's documented free tier), and its use."""

    limit: int
    used: int


@dataclass(frozen=True, slots=True)
class EntryReport:
    """Everything known about one entry at one instant."""

    entry: str
    provider: str
    model: str
    quota_scope: str
    state: str  # available, tracking, cooling, breaker-open, auth-failed, disabled, …
    reason: str | None
    available_at: float | None  # epoch seconds
    cooldown_left_s: float | None
    in_flight: int
    consecutive_failures: int
    latency_ms: float | None
    learned: dict[str, LearnedReport] = field(default_factory=dict)
    manual: dict[str, ManualReport] = field(default_factory=dict)


def entry_report(
    entry: Entry,
    verdict: Verdict | None,
    state: EntryState | None,
    quota: QuotaState | None,
    now: float,
) -> EntryReport:
    learned = quota.learned if quota else {}
    limits = entry.limits
    free_at = verdict.free_at if verdict else None
    return EntryReport(
        entry=entry.key,
        provider=entry.provider,
        model=entry.model,
        quota_scope=quota_key(entry),
        state=_state_name(verdict.kind if verdict else None, bool(learned or limits)),
        reason=verdict.reason if verdict else None,
        available_at=free_at,
        cooldown_left_s=round(max(0.0, free_at - now), 1) if free_at else None,
        in_flight=state.in_flight if state else 0,
        consecutive_failures=state.failures if state else 0,
        latency_ms=round(state.latency_ms, 1) if state and state.latency_ms is not None else None,
        learned={
            key: LearnedReport(
                window.limit,
                max(0, int(window.available(now))),
                window.reset_at,
                round(max(0.0, window.reset_at - now), 1),
            )
            for key, window in learned.items()
        },
        manual=_manual(entry, quota, now),
    )


def _manual(entry: Entry, quota: QuotaState | None, now: float) -> dict[str, ManualReport]:
    limits = entry.limits
    if limits is None:
        return {}
    manual: dict[str, ManualReport] = {}
    for name in MANUAL_NAMES:
        limit = getattr(limits, name)
        if limit is not None:
            counter = quota.manual.get(name) if quota else None
            manual[name] = ManualReport(limit, int(counter.used(now)) if counter else 0)
    if limits.concurrent_requests:
        manual["concurrent_requests"] = ManualReport(
            limits.concurrent_requests, quota.in_flight if quota else 0
        )
    return manual


def _state_name(kind: str | None, tracking: bool) -> str:
    if kind is None:
        return "tracking" if tracking else "available"
    return STATE_BY_KIND.get(kind, "cooling")
