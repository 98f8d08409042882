"""The OpenAI-compatible routes: chat and legacy completions, embeddings, models.

Parse, call, render. One handler serves every operation (`engine/operations.py`); a chain
with the cache on goes through `http/cached.py` first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

from aiohttp import web

from chain429.engine.operations import CHAT, COMPLETIONS, EMBEDDINGS, Operation
from chain429.engine.relay import StreamRelay
from chain429.engine.request import ClientRequest, parse_request
from chain429.engine.walk import Served, WalkFailed
from chain429.errors import ProxyError
from chain429.http import drain
from chain429.http.body import read_body
from chain429.http.errors import error_response
from chain429.http.exchange import Exchange
from chain429.http.request_log import RequestLog
from chain429.http.state import STATE, AppState, Runtime
from chain429.http.stream_sink import StreamSink
from chain429.quota.hints import parse_duration
from chain429.vocabulary import Chain, OutcomeKind, RequestOutcome

STREAM_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await serve(request, CHAT, "/v1/chat/completions")


async def embeddings(request: web.Request) -> web.StreamResponse:
    return await serve(request, EMBEDDINGS, "/v1/embeddings")


async def completions(request: web.Request) -> web.StreamResponse:
    return await serve(request, COMPLETIONS, "/v1/completions")


async def serve(
    request: web.Request, operation: Operation, endpoint: str, exchange: Exchange | None = None
) -> web.StreamResponse:
    """Serve one request on `endpoint`; an `exchange` translates another API to chat and back."""
    state = request.app[STATE]
    runtime = state.runtime  # one config for the whole request, whatever reloads meanwhile
    log = RequestLog.of(request, state, runtime, endpoint)
    try:
        log.record.key_label = runtime.keys.require(request.headers)
    except ProxyError as err:
        log.record.key_label = "unauthenticated"
        log.failed(err, RequestOutcome.AUTH_FAILED)
        raise
    try:
        return await _chat(request, state, runtime, log, operation, exchange)
    except asyncio.CancelledError:
        if drain.cut_by_shutdown(request):
            log.failed(drain.shutdown_error(), RequestOutcome.SHUTDOWN)
            return error_response(drain.shutdown_error(), request.path)
        log.finish(499, RequestOutcome.CLIENT_DISCONNECT, "the client went away")
        raise
    except ConnectionResetError:
        log.finish(499, RequestOutcome.CLIENT_DISCONNECT, "the client went away")
        raise
    except WalkFailed as failed:
        outcome = (
            RequestOutcome.EXHAUSTED
            if failed.code == "all_providers_exhausted"
            else RequestOutcome.UPSTREAM_REJECTED
        )
        log.failed(failed, outcome)
        return error_response(failed, request.path)
    except ProxyError as err:
        log.failed(err, RequestOutcome.BAD_REQUEST)
        raise
    except Exception as exc:
        log.finish(500, RequestOutcome.INTERNAL_ERROR, type(exc).__name__)
        raise


async def _chat(
    request: web.Request,
    state: AppState,
    runtime: Runtime,
    log: RequestLog,
    operation: Operation,
    exchange: Exchange | None,
) -> web.StreamResponse:
    raw = await read_body(request, runtime.settings.max_body_bytes)
    if exchange is not None:
        raw = await exchange.prepare(raw, log.record.key_label)
    chat = parse_request(raw, operation)
    if exchange is not None:
        chat.native = exchange.native(chat)
    chain = runtime.routes.resolve(
        chat.model, request.headers.get("X-429chain-Chain"), operation.kind
    )
    if chain.kind is not operation.kind and not chain.entries[0].ad_hoc:
        raise _wrong_kind(chain, operation)
    log.request(chat, chain)
    max_wait = _max_wait(request.headers.get("X-429chain-Max-Wait"))
    if exchange is not None:
        served = await state.walker.serve(chain, chat, max_wait)
        log.served(served)
        return await _translated(request, chat, served, _headers(chain, served), log, exchange)
    if chain.cache_ttl_s is not None and state.cache is not None:
        from chain429.http.cached import serve_cached  # imports this module

        return await serve_cached(request, state, chain, chat, log, max_wait)
    served = await state.walker.serve(chain, chat, max_wait)
    # Inline, not `respond`: the path without the cache awaits nothing more than it must.
    log.served(served)
    headers = _headers(chain, served)
    if served.stream is None:
        return _whole(served, headers, log)
    return await _relay(request, served, headers, log)


async def respond(
    request: web.Request,
    chain: Chain,
    served: Served,
    log: RequestLog,
    cache: str,
    sink: StreamSink | None = None,
) -> web.StreamResponse:
    """Send what the walk got, saying what the cache did; a stream is also kept in `sink`."""
    log.served(served)
    headers = _headers(chain, served)
    headers["X-429chain-Cache"] = cache
    if served.stream is None:
        return _whole(served, headers, log)
    return await _relay(request, served, headers, log, sink)


def _headers(chain: Chain, served: Served) -> dict[str, str]:
    return {
        "X-429chain-Chain": chain.name,
        "X-429chain-Provider": served.entry.provider,
        "X-429chain-Model": served.entry.model,
        "X-429chain-Attempts": str(served.calls),
        "X-429chain-Skipped": str(served.skipped),
    }


def _whole(
    served: Served, headers: dict[str, str], log: RequestLog, body: bytes | None = None
) -> web.Response:
    """A whole answer: the upstream's, or `body` (its translation into the client's API)."""
    log.usage(served.usage)
    log.completion(served.body)
    log.finish(200, RequestOutcome.SUCCESS)
    # The header itself, not content_type=: aiohttp's setter parses and rebuilds it each time.
    headers["Content-Type"] = "application/json"
    return web.Response(body=served.body if body is None else body, headers=headers)


async def _relay(
    request: web.Request,
    served: Served,
    headers: dict[str, str],
    log: RequestLog,
    sink: StreamSink | None = None,
    translation: tuple[Exchange, bytes] | None = None,
) -> web.StreamResponse:
    """Relay a committed stream; the cache keeps what the client got in `sink`, and an
    exchange (with its opening events) turns the chat stream into the client's own API."""
    relay = served.stream
    assert relay is not None
    response = web.StreamResponse(headers=headers | STREAM_HEADERS)
    await response.prepare(request)
    try:
        async with aclosing(relay.events()) as events:
            if translation is not None:
                await _translate(response, events, *translation)
            elif sink is None:
                async for part in events:
                    await response.write(part)
            else:  # the cache keeps what the client got, to store once the stream ends well
                async for part in events:
                    sink.append(part)
                    await response.write(part)
    except asyncio.CancelledError:
        if not drain.cut_by_shutdown(request):
            raise
        event = relay.error_event(drain.shutdown_error())
        if translation is not None:
            event = await translation[0].feed(event)
        await drain.end_stream(response, event)
        log.usage(relay.usage)
        log.finish(200, RequestOutcome.SHUTDOWN, drain.MESSAGE)
        return response
    await response.write_eof()
    stopped = translation[0].stopped() if translation is not None else None
    if stopped is not None:
        log.usage(relay.usage)
        log.finish(200, RequestOutcome.STREAM_FAILED, stopped)
        return response
    return _streamed(response, relay, log)


async def _translate(
    response: web.StreamResponse, events: AsyncIterator[bytes], exchange: Exchange, opening: bytes
) -> None:
    await response.write(opening)
    async for part in events:
        out = await exchange.feed(part)
        if out:
            await response.write(out)
        if exchange.stopped() is not None:
            return  # the client's stream has ended: leaving closes the upstream
    await response.write(await exchange.end())


async def _translated(
    request: web.Request,
    chat: ClientRequest,
    served: Served,
    headers: dict[str, str],
    log: RequestLog,
    exchange: Exchange,
) -> web.StreamResponse:
    """Send what the walk got in the client's own API."""
    if served.native:  # an entry that speaks the client's API answered in it: pass it on
        if served.stream is None:
            return _whole(served, headers, log)
        return await _relay(request, served, headers, log)
    if served.stream is not None:
        return await _relay(
            request, served, headers, log, translation=(exchange, exchange.begin(chat))
        )
    return _whole(served, headers, log, await exchange.whole(served.body))


def _streamed(
    response: web.StreamResponse, relay: StreamRelay, log: RequestLog
) -> web.StreamResponse:
    log.usage(relay.usage)
    outcome = relay.outcome
    if outcome is None or outcome.kind is OutcomeKind.SUCCESS:
        log.finish(200, RequestOutcome.SUCCESS)
    else:
        log.finish(200, RequestOutcome.STREAM_FAILED, outcome.message)
    return response


def _wrong_kind(chain: Chain, operation: Operation) -> ProxyError:
    path = {"chat": "/v1/chat/completions", "embeddings": "/v1/embeddings"}
    return ProxyError(
        400,
        f"The chain '{chain.name}' serves {chain.kind.value}, not {operation.name}; send "
        f"{chain.kind.value} requests to {path[chain.kind.value]}, or pick a "
        f"{operation.kind.value} chain.",
        code="wrong_chain_kind",
        param="model",
    )


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


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    runtime = state.runtime
    runtime.keys.require(request.headers)
    data = [_model(model_id, state, runtime) for model_id in runtime.routes.model_ids()]
    return web.json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    state = request.app[STATE]
    runtime = state.runtime
    runtime.keys.require(request.headers)
    model_id = request.match_info["model_id"]
    if model_id not in runtime.routes.model_ids():
        raise ProxyError(
            404, f"The model '{model_id}' does not exist.", code="model_not_found", param="model"
        )
    return web.json_response(_model(model_id, state, runtime))


def _model(model_id: str, state: AppState, runtime: Runtime) -> dict[str, object]:
    return {
        "id": model_id,
        "object": "model",
        "created": int(state.started_wall),
        "owned_by": "429chain" if model_id in runtime.routes.chains else model_id.split("/")[0],
        "kind": runtime.routes.kind_of(model_id).value,
    }
