"""`/v1/stats/*`: usage, the request log, time series, provider health, savings and capacity.

Every route needs an admin key. The routes that read the request log answer 503
`store_unavailable` while the store is not open (or logging is off); `/v1/stats/capacity` reads
only the quota tracker. Bad query parameters are a 400 naming the parameter.

Filters accepted by the aggregate routes (summary, providers, chains, models, keys, savings,
timeseries): `since`, `until` (epoch seconds, epoch milliseconds or ISO 8601; `until` is
exclusive), `chain`, `provider`, `model`, `key` (a key label). `/v1/stats/requests` adds
`outcome`, `status` (the HTTP status answered, exactly), `q` (error text), `limit` (default 50,
at most 500) and `offset`.

`storage.queries` (SQLAlchemy: ~0.5 s to import) is imported by the handlers on first use, so
importing this module at startup stays cheap; `stats_shapes` turns its rows into the JSON. A
handler imports it only once the store's opening is over (`_settled`): that opening imports
SQLAlchemy in a worker thread, and SQLAlchemy's modules, half-made meanwhile, answered a 500.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import TYPE_CHECKING

from aiohttp import web

from chain429.errors import ProxyError
from chain429.http import stats_shapes as shape
from chain429.http.schemas.stats import (
    Capacity,
    ChainDetail,
    ChainsReply,
    HealthReply,
    KeysReply,
    ModelsReply,
    ProviderDetail,
    ProvidersReply,
    RequestDetail,
    RequestPage,
    Savings,
    SummaryReply,
    Timeseries,
)
from chain429.http.state import STATE, AppState
from chain429.http.tracker_view import chain_capacity, entries, reports
from chain429.providers.presets import Preset, get_preset
from chain429.storage.store import Store

if TYPE_CHECKING:
    from chain429.storage.queries import Filters

DEFAULT_SPAN = {"minute": 60, "hour": 24, "day": 30}  # buckets shown when `since` is not given
MAX_POINTS = 10_000


# -- usage -----------------------------------------------------------------------------------


async def summary(request: web.Request) -> web.Response:
    _, store, filters = await _open(request)
    from chain429.storage import queries

    return SummaryReply.reply({"summary": shape.summary(await queries.summary(store, filters))})


async def providers(request: web.Request) -> web.Response:
    _, store, filters = await _open(request)
    from chain429.storage import queries

    return ProvidersReply.reply(
        {"providers": shape.groups(await queries.providers(store, filters))}
    )


async def provider(request: web.Request) -> web.Response:
    _, store, filters = await _open(request)
    from chain429.storage import queries

    provider_id = request.match_info["provider_id"]
    usage = await queries.provider(store, provider_id, filters)
    if usage is None:
        raise _not_found(f"No usage data for provider '{provider_id}'.", "provider_not_found")
    return ProviderDetail.reply(shape.group(usage, "models"))


async def chains(request: web.Request) -> web.Response:
    _, store, filters = await _open(request)
    from chain429.storage import queries

    return ChainsReply.reply({"chains": shape.groups(await queries.chains(store, filters))})


async def chain(request: web.Request) -> web.Response:
    _, store, filters = await _open(request)
    from chain429.storage import queries

    name = request.match_info["chain_name"]
    usage = await queries.chain(store, name, filters)
    if usage is None:
        raise _not_found(f"No usage data for chain '{name}'.", "chain_not_found")
    return ChainDetail.reply(shape.group(usage, "providers"))


async def models(request: web.Request) -> web.Response:
    _, store, filters = await _open(request)
    from chain429.storage import queries

    return ModelsReply.reply({"models": shape.groups(await queries.models(store, filters))})


async def keys(request: web.Request) -> web.Response:
    _, store, filters = await _open(request)
    from chain429.storage import queries

    return KeysReply.reply({"keys": shape.groups(await queries.keys(store, filters))})


# -- the request log ---------------------------------------------------------------------------


async def requests(request: web.Request) -> web.Response:
    state = await _settled(request)
    from chain429.storage import queries

    filters = _filters(request)
    limit = _int_param(request, "limit", 50)
    offset = _int_param(request, "offset", 0)
    outcome = request.query.get("outcome") or None
    status = _status_param(request)
    q = request.query.get("q") or None
    store = await _store(state)
    page = await queries.request_page(
        store, filters, outcome=outcome, status=status, q=q, limit=limit, offset=offset
    )
    return RequestPage.reply(shape.request_page(page))


async def request_detail(request: web.Request) -> web.Response:
    state = await _settled(request)
    from chain429.storage import queries

    store = await _store(state)
    request_id = request.match_info["request_id"]
    detail = await queries.request_detail(store, request_id)
    if detail is None:
        raise _not_found(f"No request '{request_id}' in the log.", "request_not_found")
    return RequestDetail.reply(shape.request_detail(*detail))


# -- series, health, money, capacity -----------------------------------------------------------


async def timeseries(request: web.Request) -> web.Response:
    state = await _settled(request)
    from chain429.storage import queries

    filters = _filters(request)
    name = request.query.get("bucket", "hour")
    if name not in queries.BUCKETS:
        raise _bad("bucket", f"must be one of {', '.join(queries.BUCKETS)}, not '{name}'")
    size = queries.BUCKETS[name]
    until = filters.until if filters.until is not None else time.time()
    since = filters.since
    if since is None:
        since = math.floor(until / size) * size - (DEFAULT_SPAN[name] - 1) * size
    if (until - since) / size > MAX_POINTS:
        raise _bad("since", f"the range holds more than {MAX_POINTS} {name} buckets")
    store = await _store(state)
    points = await queries.timeseries(store, filters, size, since, until)
    return Timeseries.reply(
        {
            "bucket": name,
            "bucket_seconds": size,
            "since": int(since * 1000),
            "until": int(until * 1000),
            "points": [shape.time_point(point) for point in points],
        }
    )


async def health(request: web.Request) -> web.Response:
    state = await _settled(request)
    from chain429.storage import queries

    known = [p.id for p in state.runtime.config.providers]
    store = await _store(state)
    now = time.time()
    report = [shape.provider_health(p) for p in await queries.health(store, now, known)]
    return HealthReply.reply({"generated_at": int(now * 1000), "providers": report})


async def savings(request: web.Request) -> web.Response:
    state = await _settled(request)
    from chain429.storage import queries

    config = state.runtime.config  # read once: a reload while the query runs changes nothing
    filters = _filters(request)
    store = await _store(state)
    presets: dict[str, Preset] = {}
    for configured in config.providers:
        try:
            presets[configured.id] = get_preset(configured.type)
        except KeyError:
            continue
    prices = config.settings.prices
    return Savings.reply(shape.savings(await queries.savings(store, filters, presets, prices)))


async def capacity(request: web.Request) -> web.Response:
    """Requests and tokens left before each chain's daily resets, from the quota tracker."""
    state = _admin(request)
    now = state.walker.clock()
    routes = state.runtime.routes
    known = await reports(state.tracker, entries(routes))
    report = [chain_capacity(chain, now, known) for chain in routes.chains.values()]
    return Capacity.reply({"generated_at": int(now * 1000), "chains": report})


# -- plumbing --------------------------------------------------------------------------------


def _admin(request: web.Request) -> AppState:
    state = request.app[STATE]
    state.runtime.admin_keys.require(request.headers)
    return state


async def _settled(request: web.Request) -> AppState:
    """The admin check, then the wait for the store's opening to be over (bounded): until it
    is, no handler may import SQLAlchemy, which a worker thread is still importing."""
    state = _admin(request)
    await state.store.get()
    if not state.store.ready:
        raise _unavailable(state)
    return state


async def _store(state: AppState) -> Store:
    store = await state.store.get()
    if store is None:
        raise _unavailable(state)
    return store


def _unavailable(state: AppState) -> ProxyError:
    detail = f": {state.store.error}" if state.store.error else ""
    return ProxyError(
        503,
        f"The request log store is not available{detail}.",
        type="server_error",
        code="store_unavailable",
    )


async def _open(request: web.Request) -> tuple[AppState, Store, Filters]:
    """Admin check, then the filters (400s before 503s), then the store."""
    state = await _settled(request)
    filters = _filters(request)
    return state, await _store(state), filters


def _filters(request: web.Request) -> Filters:
    from chain429.storage.queries import Filters

    query = request.query
    since = _time_param(request, "since")
    until = _time_param(request, "until")
    if since is not None and until is not None and since >= until:
        raise _bad("since", "must be before 'until'")
    return Filters(
        since=since,
        until=until,
        chain=query.get("chain") or None,
        provider=query.get("provider") or None,
        model=query.get("model") or None,
        key_label=query.get("key") or None,
    )


def _time_param(request: web.Request, name: str) -> float | None:
    """Epoch seconds, epoch milliseconds (> 1e11), or ISO 8601 (UTC unless it says otherwise)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise _bad(name, "must be epoch seconds, epoch milliseconds or ISO 8601") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    if not math.isfinite(value) or value < 0:
        raise _bad(name, "must be a non-negative time")
    return value / 1000 if value > 1e11 else value


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, "must be an integer") from None
    if value < 0:
        raise _bad(name, "must not be negative")
    return value


def _status_param(request: web.Request) -> int | None:
    """An HTTP status to match exactly (499: the client went away), or None for any."""
    raw = request.query.get("status")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise _bad("status", "must be an integer HTTP status such as 429") from None
    if not 100 <= value <= 599:
        raise _bad("status", "must be an HTTP status, 100 to 599")
    return value


def _bad(param: str, problem: str) -> ProxyError:
    return ProxyError(
        400, f"Invalid '{param}' parameter: {problem}.", code="invalid_parameter", param=param
    )


def _not_found(message: str, code: str) -> ProxyError:
    return ProxyError(404, message, code=code)
