"""The OpenAI-compatible routes: chat completions, models, health. Parse, call, render."""

from __future__ import annotations

import logging
import time
from contextlib import aclosing

from aiohttp import web

from chain429 import __version__
from chain429.engine.request import parse_chat_request
from chain429.engine.walk import Served, WalkFailed
from chain429.errors import ProxyError
from chain429.http.errors import error_response
from chain429.http.state import STATE, AppState
from chain429.quota.hints import parse_duration

logger = logging.getLogger("chain429.requests")

STREAM_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.keys.require(request.headers)
    started = time.monotonic()
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ProxyError(
            413,
            f"The request body exceeds {state.settings.max_body_bytes} bytes.",
            code="request_too_large",
        ) from None
    chat = parse_chat_request(raw)
    chain = state.routes.resolve(chat.model, request.headers.get("X-429chain-Chain"))
    state.counters["requests"] += 1
    max_wait = _max_wait(request.headers.get("X-429chain-Max-Wait"))
    try:
        served = await state.walker.serve(chain, chat, max_wait)
    except WalkFailed as failed:
        state.counters["failed"] += 1
        _log(chain.name, None, failed.status, started, len(failed.attempts), failed.message)
        return error_response(failed)
    state.counters["served"] += 1
    headers = {
        "X-429chain-Chain": chain.name,
        "X-429chain-Provider": served.entry.provider,
        "X-429chain-Model": served.entry.model,
        "X-429chain-Attempts": str(served.calls),
        "X-429chain-Skipped": str(served.skipped),
    }
    if served.stream is None:
        _log(chain.name, served, 200, started, len(served.attempts))
        return web.Response(body=served.body, content_type="application/json", headers=headers)
    return await _relay(request, served, headers, chain.name, started)


def _max_wait(value: str | None) -> float | None:
    if value is None:
        return None
    seconds = parse_duration(value.strip())
    if seconds is None or seconds < 0:
        raise ProxyError(
            400,
            f"X-429chain-Max-Wait must be a duration such as '20s' or '1500ms', not {value!r}.",
            code="invalid_header",
            param="X-429chain-Max-Wait",
        )
    return seconds


async def _relay(
    request: web.Request, served: Served, headers: dict[str, str], chain: str, started: float
) -> web.StreamResponse:
    assert served.stream is not None
    response = web.StreamResponse(headers=headers | STREAM_HEADERS)
    await response.prepare(request)
    async with aclosing(served.stream.events()) as events:
        async for part in events:
            await response.write(part)
    await response.write_eof()
    outcome = served.stream.outcome
    message = None if outcome is None or outcome.kind == "success" else outcome.message
    _log(chain, served, 200, started, len(served.attempts), message)
    return response


def _log(
    chain: str,
    served: Served | None,
    status: int,
    started: float,
    attempts: int,
    error: str | None = None,
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    fields: dict[str, object] = {
        "chain": chain,
        "status": status,
        "ms": round((time.monotonic() - started) * 1000, 1),
        "entries": attempts,
    }
    if served is not None:
        fields["served"] = served.entry.key
        fields["stream"] = served.stream is not None
    if error:
        fields["error"] = error
    logger.info("chat completion", extra={"fields": fields})


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.keys.require(request.headers)
    data = [_model(model_id, state) for model_id in state.routes.model_ids()]
    return web.json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.keys.require(request.headers)
    model_id = request.match_info["model_id"]
    if model_id not in state.routes.model_ids():
        raise ProxyError(
            404, f"The model '{model_id}' does not exist.", code="model_not_found", param="model"
        )
    return web.json_response(_model(model_id, state))


def _model(model_id: str, state: AppState) -> dict[str, object]:
    return {
        "id": model_id,
        "object": "model",
        "created": int(state.started_wall),
        "owned_by": "429chain" if model_id in state.routes.chains else model_id.split("/")[0],
    }


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    entries = {e.key: e for chain in state.routes.chains.values() for e in chain.entries}
    cooling = sum(1 for entry in entries.values() if state.tracker.blocked(entry) is not None)
    return web.json_response(
        {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.monotonic() - state.started, 1),
            "providers": len(state.config.providers),
            "providers_disabled": len(state.disabled),
            "chains": len(state.routes.chains),
            "entries": len(entries),
            "entries_unavailable": cooling,
            "requests": dict(state.counters),
        }
    )
