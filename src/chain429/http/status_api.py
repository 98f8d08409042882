"""`GET /v1/ratelimits`: every chain entry's quota state, and who would serve each chain next."""

from __future__ import annotations

from aiohttp import web

from chain429.http.state import STATE
from chain429.http.tracker_view import (
    entries,
    next_entry,
    ratelimit_report,
    reports,
    try_order,
)


async def ratelimits(request: web.Request) -> web.Response:
    state = request.app[STATE]
    runtime = state.runtime
    runtime.keys.require(request.headers)
    now = state.walker.clock()
    known = await reports(state.tracker, entries(runtime.routes))
    chains = [
        {
            "name": chain.name,
            "strategy": chain.strategy.value,
            "entries": [entry.key for entry in chain.entries],
            "kind": chain.kind.value,
            "order": try_order(state.walker.router, state.tracker, chain, now),
            "next": next_entry(state.walker.router, state.tracker, chain, now),
        }
        for chain in runtime.routes.chains.values()
    ]
    ratelimits = [ratelimit_report(report, now) for report in known.values()]
    return web.json_response({"ratelimits": ratelimits, "chains": chains})
