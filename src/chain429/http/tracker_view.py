"""Everything the HTTP API reads from the quota tracker, in one place.

The tracker's `describe(entry)` is a plain dict today and will become a typed report; the
ratelimits, capacity, /health and metrics code read it only through these functions.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from chain429.engine.chain import Chain, Entry, Routes
from chain429.providers.presets import DailyReset
from chain429.quota.hints import next_daily_reset
from chain429.quota.tracker import QuotaTracker

# Entry states that leave no capacity whatever the counters say.
NO_CAPACITY = frozenset({"disabled", "auth-failed", "exhausted-until-daily-reset"})


def entries(routes: Routes) -> Iterator[Entry]:
    """Every chain entry once (entries shared by chains count once)."""
    seen: set[str] = set()
    for chain in routes.chains.values():
        for entry in chain.entries:
            if entry.key not in seen:
                seen.add(entry.key)
                yield entry


def unavailable(tracker: QuotaTracker, routes: Routes) -> int:
    """How many entries cannot take a request right now."""
    return sum(1 for entry in entries(routes) if tracker.blocked(entry) is not None)


def blocked_by_kind(tracker: QuotaTracker, routes: Routes) -> Counter[tuple[str, str]]:
    """Blocked entries by (provider, why): cooldown, breaker, spent quota, disabled."""
    counts: Counter[tuple[str, str]] = Counter()
    for entry in entries(routes):
        verdict = tracker.blocked(entry)
        if verdict is not None:
            counts[(entry.provider, verdict.kind)] += 1
    return counts


def next_entry(tracker: QuotaTracker, chain: Chain) -> str | None:
    """The entry that would serve the chain now."""
    return next((e.key for e in chain.entries if tracker.blocked(e) is None), None)


def ratelimit_report(tracker: QuotaTracker, entry: Entry, now: float) -> dict[str, Any]:
    """`/v1/ratelimits`: the tracker's report, plus the TypeScript original's fields."""
    report = tracker.describe(entry)
    learned = report["learned"]
    requests = _first(learned, "requests")
    tokens = _first(learned, "tokens")
    left = report["cooldown_left_s"]
    # The TypeScript original's fields, kept so its dashboards keep working.
    report["status"] = report["state"]
    report["cooldownUntil"] = int((now + left) * 1000) if left is not None else None
    report["quota"] = (
        {
            "remainingRequests": requests["remaining"] if requests else None,
            "remainingTokens": tokens["remaining"] if tokens else None,
            "resetRequestsMs": int(requests["resets_in_s"] * 1000) if requests else None,
            "resetTokensMs": int(tokens["resets_in_s"] * 1000) if tokens else None,
        }
        if learned
        else None
    )
    return report


def _first(learned: dict[str, dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The tightest learned counter of a kind (fewest remaining)."""
    windows = [w for key, w in learned.items() if key.startswith(kind + "/")]
    return min(windows, key=lambda w: w["remaining"]) if windows else None


def chain_capacity(tracker: QuotaTracker, chain: Chain, now: float) -> dict[str, Any]:
    """Sums over the chain's entries, each quota counted once (entries may share one).

    A total is null when any entry's daily limit is unknown; `...LeftKnown` sums the known.
    """
    entries = []
    seen: set[str] = set()
    totals: dict[str, int | None] = {"requests": 0, "tokens": 0}
    known = {"requests": 0, "tokens": 0}
    resets: list[float] = []
    for entry in chain.entries:
        described = entry_capacity(tracker, entry, now)
        shared = described["quota_scope"] in seen
        seen.add(described["quota_scope"])
        described["shared_quota"] = shared
        entries.append(described)
        if shared:
            continue
        for kind in ("requests", "tokens"):
            left = described[f"{kind}_left"]
            if left is None:
                totals[kind] = None
            else:
                known[kind] += left
                current = totals[kind]
                totals[kind] = None if current is None else current + left
        if described["resets_at"] is not None:
            resets.append(described["resets_at_epoch"])
    for described in entries:
        del described["resets_at_epoch"]
    return {
        "chain_name": chain.name,
        "requests_left": totals["requests"],
        "tokens_left": totals["tokens"],
        "requests_left_known": known["requests"],
        "tokens_left_known": known["tokens"],
        "next_reset_at": _iso(min(resets)) if resets else None,
        "entries": entries,
    }


def entry_capacity(tracker: QuotaTracker, entry: Entry, now: float) -> dict[str, Any]:
    """One entry's daily headroom: the tightest of its learned day counters and manual limits."""
    report = tracker.describe(entry)
    learned: Mapping[str, Mapping[str, Any]] = report.get("learned", {})
    manual: Mapping[str, Mapping[str, Any]] = report.get("manual", {})
    out: dict[str, Any] = {
        "entry": entry.key,
        "provider_id": entry.provider,
        "model": entry.model,
        "quota_scope": report.get("quota_scope", entry.key),
        "state": report.get("state"),
    }
    resets: list[float] = []
    for kind in ("requests", "tokens"):
        candidates: list[int] = []
        limits: list[int] = []
        window = learned.get(f"{kind}/day")
        if window is not None:
            candidates.append(int(window["remaining"]))
            if window.get("limit") is not None:
                limits.append(int(window["limit"]))
            resets.append(now + float(window["resets_in_s"]))
        counter = manual.get(f"{kind}_per_day")
        if counter is not None:
            candidates.append(max(0, int(counter["limit"]) - int(counter["used"])))
            limits.append(int(counter["limit"]))
            resets.append(next_daily_reset(now, _daily_mode(entry)))
        left = min(candidates) if candidates else None
        if report.get("state") in NO_CAPACITY:
            left = 0
        out[f"{kind}_left"] = left
        out[f"{kind}_per_day"] = min(limits) if limits else None
    out["resets_at_epoch"] = min(resets) if resets else None
    out["resets_at"] = _iso(min(resets)) if resets else None
    return out


def _daily_mode(entry: Entry) -> DailyReset:
    mode = entry.limits.daily_reset if entry.limits is not None else None
    return mode or entry.preset.daily_reset


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")
