"""The composition root: `create_app` builds every collaborator and wires the routes."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from chain429.cache.store import MemoryCache
from chain429.config.load import LoadedConfig
from chain429.engine.order import Router
from chain429.engine.upstream import Upstream
from chain429.engine.walk import Walker
from chain429.http import feed_api, spa
from chain429.http.body import BODY_DEADLINE, BODY_DEADLINE_S
from chain429.http.cors import add_cors_headers, cors
from chain429.http.errors import Handler, openai_errors
from chain429.http.from_settings import (
    caps_for,
    key_checks,
    routes_for,
    timeouts_for,
)
from chain429.http.lifetimes import request_log, state_path, tracker_persistence
from chain429.http.metrics import Metrics
from chain429.http.request_log import add_request_id
from chain429.http.routes import Route, route_table
from chain429.http.runtime import watch_config
from chain429.http.state import STATE, AppState, Runtime
from chain429.providers.upstream import AiohttpUpstream
from chain429.quota.tracker import QuotaTracker, tracker_for
from chain429.storage.responses import MemoryResponses, SqlResponses


def create_app(
    loaded: LoadedConfig,
    *,
    tracker: QuotaTracker | None = None,
    upstream: Upstream | None = None,
    clock: Callable[[], float] = time.time,
    env: Mapping[str, str] | None = None,  # for ${VAR} on reload and edits; None: os.environ
    on_secrets: Callable[[Iterable[str]], None] | None = None,  # told of keys after each change
    body_deadline_s: float = BODY_DEADLINE_S,  # a body still arriving after this is a 408
    router: Router | None = None,  # ranks candidates per strategy (tests inject randomness)
    ui_dist: Path | None = None,  # the built web UI; None: the one in the package
) -> web.Application:
    config = loaded.config
    settings = config.settings
    routes = routes_for(loaded)
    tracker = tracker or tracker_for(settings, clock)
    own_upstream = upstream is None
    client = AiohttpUpstream(connect_timeout_s=settings.connect_timeout_ms / 1000)
    walker = Walker(
        tracker,
        upstream or client,
        timeouts_for(settings),
        caps=caps_for(settings),
        normalize=settings.normalize_responses,
        clock=clock,
        router=router,
    )
    keys, admin_keys = key_checks(settings)
    runtime = Runtime(
        config,
        routes,
        keys,
        admin_keys,
        disabled=dict(loaded.disabled_providers),
        env_refs=dict(loaded.env_refs),
        config_path=loaded.path,
        config_env=env,
    )
    state = AppState(runtime, walker, tracker, on_secrets=on_secrets, clock=clock)
    state.metrics = Metrics(state)
    state.cache = MemoryCache(settings.cache.max_entries, settings.cache.max_bytes, clock)
    state.responses = SqlResponses(state.store, MemoryResponses(clock=clock), clock)
    # Every finished request is told to these once; the request log writer subscribes when
    # it starts (lifetimes.request_log).
    state.events.subscribe(state.metrics.on_finished)
    state.events.subscribe(state.counts.on_finished)
    middlewares: list[Middleware] = [openai_errors]
    if settings.cors_origins:
        middlewares.append(cors(settings.cors_origins))
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app[STATE] = state
    app[BODY_DEADLINE] = body_deadline_s
    app.on_response_prepare.append(add_request_id)
    if settings.cors_origins:
        app.on_response_prepare.append(add_cors_headers)

    async def upstream_lifetime(_: web.Application) -> AsyncIterator[None]:
        if own_upstream:
            await client.start()
        yield
        if own_upstream:
            await client.close()

    app.cleanup_ctx.append(upstream_lifetime)
    watch_config(app, state, loaded, env)
    app.cleanup_ctx.append(tracker_persistence(tracker, state_path(settings)))
    app.cleanup_ctx.append(request_log(state))
    _add_routes(app, route_table())
    feed_api.install(app)
    spa.install(app, ui_dist)  # last: the catch-all for the UI's pages
    return app


def _add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    """One resource per path, each also answering a CORS preflight."""
    methods: dict[str, list[tuple[str, Handler]]] = defaultdict(list)
    for route in routes:
        methods[route.path].append((route.method, route.handler))
    for path, pairs in methods.items():
        resource = app.router.add_resource(path)
        for method, handler in pairs:
            resource.add_route(method, handler)
        resource.add_route("OPTIONS", _preflight_without_cors)


async def _preflight_without_cors(request: web.Request) -> web.Response:
    """No origin is allowed unless configured: answer, but grant nothing."""
    return web.Response(status=204)
