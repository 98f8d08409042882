"""Everything the HTTP API reads from the quota tracker, in one place.

The tracker answers with typed reports (`quota.report.EntryReport`); the ratelimits,
capacity, /health and metrics code turn them into JSON only through these functions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from chain429.engine.chain import ChainTable
from chain429.engine.order import Router
from chain429.quota.hints import next_daily_reset
from chain429.quota.report import EntryReport
from chain429.quota.tracker import QuotaTracker
from chain429.vocabulary import Chain, Entry

# Entry states that leave no capacity whatever the counters say.
NO_CAPACITY = frozenset({"disabled", "auth-failed", "exhausted-until-daily-reset"})


def entries(routes: ChainTable) -> Iterator[Entry]:
    """Every chain entry once (entries shared by chains count once)."""
    seen: set[str] = set()
    for chain in routes.chains.values():
        for entry in chain.entries:
            if entry.key not in seen:
                seen.add(entry.key)
                yield entry


def unavailable(tracker: QuotaTracker, routes: ChainTable) -> int:
    """How many entries cannot take a request right now."""
    return sum(1 for entry in entries(routes) if tracker.blocked(entry) is not None)


def blocked_by_kind(tracker: QuotaTracker, routes: ChainTable) -> Counter[tuple[str, str]]:
    """Blocked entries by (provider, why): cooldown, breaker, spent quota, disabled."""
    counts: Counter[tuple[str, str]] = Counter()
    for entry in entries(routes):
        verdict = tracker.blocked(entry)
        if verdict is not None:
            counts[(entry.provider, verdict.kind)] += 1
    return counts


def next_entry(router: Router, tracker: QuotaTracker, chain: Chain, now: float) -> str | None:
    """The entry that would serve the chain now (the walk's own `order`, first with room)."""
    entry = router.serves_next(chain, tracker, now)
    return entry.key if entry is not None else None


def try_order(router: Router, tracker: QuotaTracker, chain: Chain, now: float) -> list[str]:
    """The order the chain would try its entries in now (a peek: no turn is taken)."""
    return [entry.key for entry in router.order(chain, tracker, now, peek=True)]


async def reports(tracker: QuotaTracker, entries: Iterator[Entry]) -> dict[str, EntryReport]:
    """The tracker's report on each entry, by entry key."""
    return {entry.key: await tracker.report(entry) for entry in entries}


def report_json(report: EntryReport) -> dict[str, Any]:
    """A tracker report as JSON: epoch times as ISO 8601."""
    out = dataclasses.asdict(report)
    out["available_at"] = _iso(report.available_at) if report.available_at else None
    for window in out["learned"].values():
        window["resets_at"] = _iso(window["resets_at"])
    return out


def ratelimit_report(entry_report: EntryReport, now: float) -> dict[str, Any]:
    """`/v1/ratelimits`: the tracker's report, plus the TypeScript original's fields."""
    report = report_json(entry_report)
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


def chain_capacity(chain: Chain, now: float, reports: Mapping[str, EntryReport]) -> dict[str, Any]:
    """Sums over the chain's entries, each quota counted once (entries may share one).

    A total is null when any entry's daily limit is unknown; `...LeftKnown` sums the known.
    """
    entries = []
    seen: set[str] = set()
    totals: dict[str, int | None] = {"requests": 0, "tokens": 0}
    known = {"requests": 0, "tokens": 0}
    resets: list[float] = []
    for entry in chain.entries:
        described = entry_capacity(entry, now, reports[entry.key])
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


def entry_capacity(entry: Entry, now: float, report: EntryReport) -> dict[str, Any]:
    """One entry's daily headroom: the tightest of its learned day counters and manual limits."""
    out: dict[str, Any] = {
        "entry": entry.key,
        "provider_id": entry.provider,
        "model": entry.model,
        "quota_scope": report.quota_scope,
        "state": report.state,
    }
    resets: list[float] = []
    for kind in ("requests", "tokens"):
        candidates: list[int] = []
        limits: list[int] = []
        window = report.learned.get(f"{kind}/day")
        if window is not None:
            candidates.append(window.remaining)
            if window.limit is not None:
                limits.append(window.limit)
            resets.append(now + window.resets_in_s)
        counter = report.manual.get(f"{kind}_per_day")
        if counter is not None:
            candidates.append(max(0, counter.limit - counter.used))
            limits.append(counter.limit)
            resets.append(next_daily_reset(now, entry.daily_reset))
        left = min(candidates) if candidates else None
        if report.state in NO_CAPACITY:
            left = 0
        out[f"{kind}_left"] = left
        out[f"{kind}_per_day"] = min(limits) if limits else None
    out["resets_at_epoch"] = min(resets) if resets else None
    out["resets_at"] = _iso(min(resets)) if resets else None
    return out


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")
