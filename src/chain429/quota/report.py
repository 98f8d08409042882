"""What the tracker knows about an entry, as the JSON `/v1/ratelimits` shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chain429.engine.chain import Entry
from chain429.quota.state import quota_key

if TYPE_CHECKING:
    from chain429.quota.tracker import MemoryTracker

STATE_BY_KIND = {
    "auth_failed": "auth-failed",
    "breaker": "breaker-open",
    "quota_exhausted": "exhausted-until-daily-reset",
    "disabled": "disabled",
}
MANUAL_NAMES = (
    "requests_per_minute",
    "requests_per_day",
    "tokens_per_minute",
    "tokens_per_day",
)


def describe_entry(tracker: MemoryTracker, entry: Entry, now: float) -> dict[str, Any]:
    verdict = tracker.blocked(entry, 1)  # one token, so an empty token bucket shows
    state = tracker.entry_state(entry.key)
    quota = tracker.quota_state(quota_key(entry))
    learned = quota.learned if quota else {}
    manual_limits = entry.limits
    report: dict[str, Any] = {
        "entry": entry.key,
        "provider": entry.provider,
        "model": entry.model,
        "quota_scope": quota_key(entry),
        "state": _state_name(verdict.kind if verdict else None, bool(learned or manual_limits)),
        "reason": verdict.reason if verdict else None,
        "available_at": _iso(verdict.free_at) if verdict and verdict.free_at else None,
        "cooldown_left_s": (
            round(max(0.0, verdict.free_at - now), 1) if verdict and verdict.free_at else None
        ),
        "in_flight": state.in_flight if state else 0,
        "consecutive_failures": state.failures if state else 0,
        "learned": {
            key: {
                "limit": window.limit,
                "remaining": max(0, int(window.available(now))),
                "resets_at": _iso(window.reset_at),
                "resets_in_s": round(max(0.0, window.reset_at - now), 1),
            }
            for key, window in learned.items()
        },
        "manual": {},
    }
    if manual_limits is not None:
        for name in MANUAL_NAMES:
            limit = getattr(manual_limits, name)
            if limit is not None:
                counter = quota.manual.get(name) if quota else None
                used = int(counter.used(now)) if counter else 0
                report["manual"][name] = {"limit": limit, "used": used}
        if manual_limits.concurrent_requests:
            report["manual"]["concurrent_requests"] = {
                "limit": manual_limits.concurrent_requests,
                "used": quota.in_flight if quota else 0,
            }
    return report


def _state_name(kind: str | None, tracking: bool) -> str:
    if kind is None:
        return "tracking" if tracking else "available"
    return STATE_BY_KIND.get(kind, "cooling")


def _iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")
