"""`GET /v1/ratelimits`: every chain entry's quota state, and who would serve each chain next."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from aiohttp import web

from chain429.engine.order import serves_next
from chain429.http.state import STATE, AppState
from chain429.quota.report import EntryReport
from chain429.vocabulary import Entry


async def ratelimits(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.keys.require(request.headers)
    entries: dict[str, Entry] = {}
    for chain in state.routes.chains.values():
        for entry in chain.entries:
            entries.setdefault(entry.key, entry)
    reports = [await _report(state, entry) for entry in entries.values()]
    now = state.walker.clock()
    chains = []
    for chain in state.routes.chains.values():
        next_entry = serves_next(chain, state.tracker, now)
        chains.append(
            {
                "name": chain.name,
                "strategy": chain.strategy.value,
                "entries": [entry.key for entry in chain.entries],
                "next": next_entry.key if next_entry else None,
            }
        )
    return web.json_response({"ratelimits": reports, "chains": chains})


def report_json(report: EntryReport) -> dict[str, Any]:
    """A tracker report as JSON: epoch times as ISO 8601."""
    out = dataclasses.asdict(report)
    out["available_at"] = _iso(report.available_at) if report.available_at else None
    for window in out["learned"].values():
        window["resets_at"] = _iso(window["resets_at"])
    return out


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


async def _report(state: AppState, entry: Entry) -> dict[str, Any]:
    report = report_json(await state.tracker.report(entry))
    learned = report["learned"]
    requests = _first(learned, "requests")
    tokens = _first(learned, "tokens")
    left = report["cooldown_left_s"]
    # The TypeScript original's fields, kept so its dashboards keep working.
    report["status"] = report["state"]
    report["cooldownUntil"] = (
        int((state.walker.clock() + left) * 1000) if left is not None else None
    )
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
