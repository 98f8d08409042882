"""A request to a chain with the response cache on: look up, answer a hit, store a miss.

The client steers it with `Cache-Control`: `no-cache` skips the lookup but stores the fresh
answer; `no-store` neither reads nor stores. Every answer says what happened in
`X-429chain-Cache`: `hit`, `miss`, or `bypass` (not cacheable, or `no-store`). A hit makes no
upstream call and is logged under the provider `cache`.
"""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from chain429.cache.key import cache_key
from chain429.cache.replay import assemble, synthesize
from chain429.cache.store import CachedAnswer, CacheStore
from chain429.engine.request import ClientRequest
from chain429.engine.walk import Served
from chain429.http.openai_api import STREAM_HEADERS, respond
from chain429.http.request_log import RequestLog
from chain429.http.state import AppState
from chain429.http.stream_sink import StreamSink
from chain429.storage.records import CACHE_PROVIDER
from chain429.vocabulary import Chain, OutcomeKind, RequestOutcome


async def serve_cached(
    request: web.Request,
    state: AppState,
    chain: Chain,
    chat: ClientRequest,
    log: RequestLog,
    max_wait: float | None,
) -> web.StreamResponse:
    store = state.cache
    ttl = chain.cache_ttl_s
    assert store is not None and ttl is not None
    control = _directives(request.headers.get("Cache-Control"))
    key = None
    if "no-store" not in control:
        key = cache_key(
            chat.operation.name,
            chain.name,
            chat.body,
            generates=chat.operation.generates,
            nondeterministic=chain.cache_nondeterministic,
        )
    if key is None:
        served = await state.walker.serve(chain, chat, max_wait)
        return await respond(request, chain, served, log, cache="bypass")
    if "no-cache" not in control:
        hit = await store.get(key)
        if hit is not None:
            return await _answer_hit(request, chain, chat, hit, log)
    served = await state.walker.serve(chain, chat, max_wait)
    entry = served.entry
    if served.stream is None:
        response = await respond(request, chain, served, log, cache="miss")
        answer = CachedAnswer(served.body, entry.provider, entry.model, served.usage, time.time())
        await store.put(key, answer, ttl)
        return response
    # What the cache could keep, and what a whole answer may be: a stream past it is relayed
    # on to the client but not held in memory, and not stored.
    settings = state.settings
    sink = StreamSink(min(settings.cache.max_bytes, settings.max_response_bytes))
    response = await respond(request, chain, served, log, cache="miss", sink=sink)
    await _store_stream(store, key, ttl, chat, served, sink)
    return response


async def _store_stream(
    store: CacheStore, key: str, ttl: float, chat: ClientRequest, served: Served, sink: StreamSink
) -> None:
    """Keep a streamed answer only if it ended cleanly (a cut-off one would be served whole)
    and fitted in the sink."""
    relay = served.stream
    if relay is None or relay.outcome is None or relay.outcome.kind is not OutcomeKind.SUCCESS:
        return
    streamed = sink.body()
    if streamed is None:
        return
    answer = assemble(chat.operation.name, streamed, relay.usage)
    if answer is None:
        return
    entry = served.entry
    body = orjson.dumps(answer)
    await store.put(
        key, CachedAnswer(body, entry.provider, entry.model, relay.usage, time.time()), ttl
    )


async def _answer_hit(
    request: web.Request, chain: Chain, chat: ClientRequest, hit: CachedAnswer, log: RequestLog
) -> web.StreamResponse:
    log.cached(hit.provider, hit.model)
    log.usage(hit.usage)
    headers = {
        "X-429chain-Chain": chain.name,
        "X-429chain-Provider": CACHE_PROVIDER,
        "X-429chain-Model": f"{hit.provider}/{hit.model}",
        "X-429chain-Attempts": "0",
        "X-429chain-Skipped": "0",
        "X-429chain-Cache": "hit",
    }
    if not chat.stream:
        log.completion(hit.body)
        log.finish(200, RequestOutcome.SUCCESS)
        return web.Response(body=hit.body, content_type="application/json", headers=headers)
    parts = synthesize(chat.operation.name, orjson.loads(hit.body), chat.include_usage)
    response = web.StreamResponse(headers=headers | STREAM_HEADERS)
    await response.prepare(request)
    log.record.ttft_ms = log.elapsed_ms()
    for part in parts:
        await response.write(part)
    await response.write_eof()
    log.finish(200, RequestOutcome.SUCCESS)
    return response


def _directives(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    return frozenset(part.strip().lower().partition("=")[0] for part in value.split(","))
