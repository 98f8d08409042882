"""`GET /health`: liveness and counts for anyone; config path and errors only for admins.

Without credentials the answer holds no path and no error text (either could name a file on
the server). With an admin key (`Authorization: Bearer` or `x-api-key`) it adds `config`'s
`path` and `error`, and the request log's `reason` and `last_error`. A key that is sent but
wrong is a 401, so a misconfigured monitor finds out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from chain429 import __version__
from chain429.errors import ProxyError
from chain429.http.auth import presented
from chain429.http.lifetimes import TRACKER_STATE
from chain429.http.runtime import config_status
from chain429.http.state import STATE, AppState, Runtime
from chain429.http.tracker_view import entries, unavailable


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    runtime = state.runtime
    admin = _is_admin(runtime, request.headers)
    config = config_status(state)
    if not admin:
        config = {"loaded_at": config["loaded_at"], "reload_failed": config["error"] is not None}
    else:
        config["reload_failed"] = config["error"] is not None
    return web.json_response(
        {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.monotonic() - state.started, 1),
            "providers": len(runtime.config.providers),
            "providers_disabled": len(runtime.disabled),
            "chains": len(runtime.routes.chains),
            "entries": sum(1 for _ in entries(runtime.routes)),
            "entries_unavailable": unavailable(state.tracker, runtime.routes),
            "requests": state.counts.as_dict(),
            "config": config,
            "request_log": _request_log_status(state, admin),
            "quota_state": _quota_state_status(request.app, admin),
        }
    )


def _quota_state_status(app: web.Application, admin: bool) -> dict[str, Any] | None:
    """Whether the tracker's state is kept on disk; where, and why not, for admins only."""
    status = app.get(TRACKER_STATE)
    if status is None:
        return None
    out = status.as_dict()
    if not admin:
        out = {"persisted": out["persisted"], "recreated": out["recreated"]}
    return out


def _is_admin(runtime: Runtime, headers: Mapping[str, str]) -> bool:
    """An admin key sees the details; a proxy key (a client's, a monitor's) the short form.
    A key that is neither is a 401, so a misconfigured monitor finds out."""
    if runtime.admin_keys.open:
        return True
    if presented(headers) is None:
        return False
    try:
        runtime.admin_keys.require(headers)
        return True
    except ProxyError:
        runtime.keys.require(headers)  # a proxy key: fine, the short form; else the 401
        return False


def _request_log_status(state: AppState, admin: bool) -> dict[str, Any]:
    """Drops and write failures show here, not only in /metrics: never silent."""
    if state.writer is None:
        out: dict[str, Any] = {"enabled": False}
        if admin:
            out["reason"] = state.store.error
        return out
    store = (
        "open" if state.store.store is not None else "failed" if state.store.error else "opening"
    )
    out = {"enabled": True, "store": store, **state.writer.status()}
    if admin:
        out["reason"] = state.store.error
    else:
        del out["last_error"]
    return out
