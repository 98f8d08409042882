"""`GET /v1/ratelimits`: every chain entry's quota state, and who would serve each chain next."""

from __future__ import annotations

from aiohttp import web

from chain429.http.state import STATE
from chain429.http.tracker_view import entries, next_entry, ratelimit_report


async def ratelimits(request: web.Request) -> web.Response:
    state = request.app[STATE]
    runtime = state.runtime
    runtime.keys.require(request.headers)
    now = state.walker.clock()
    reports = [ratelimit_report(state.tracker, e, now) for e in entries(runtime.routes)]
    chains = [
        {
            "name": chain.name,
            "entries": [entry.key for entry in chain.entries],
            "next": next_entry(state.tracker, chain),
        }
        for chain in runtime.routes.chains.values()
    ]
    return web.json_response({"ratelimits": reports, "chains": chains})
