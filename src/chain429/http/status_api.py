"""`GET /v1/ratelimits`: every chain entry's quota state, and who would serve each chain next."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chain429.engine.chain import Entry
from chain429.http.state import STATE, AppState


async def ratelimits(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.keys.require(request.headers)
    entries: dict[str, Entry] = {}
    for chain in state.routes.chains.values():
        for entry in chain.entries:
            entries.setdefault(entry.key, entry)
    reports = [_report(state, entry) for entry in entries.values()]
    chains = [
        {
            "name": chain.name,
            "entries": [entry.key for entry in chain.entries],
            "next": next((e.key for e in chain.entries if state.tracker.blocked(e) is None), None),
        }
        for chain in state.routes.chains.values()
    ]
    return web.json_response({"ratelimits": reports, "chains": chains})


def _report(state: AppState, entry: Entry) -> dict[str, Any]:
    report = state.tracker.describe(entry)
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
