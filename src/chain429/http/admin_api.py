"""The management API: the config with keys masked, safe edits, provider and chain tests.

Every route needs an admin key. Edits go through `runtime.edit_config`: validated, written
atomically, then served. Keys never leave in full: each response is scrubbed of every key the
config holds, as a last line of defence behind the masking of known key fields.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from aiohttp import web

from chain429.config.save import ConfigDocument, camelized, canonical, canonical_path
from chain429.config.schema import ChainConfig, Config, ProviderConfig, Settings
from chain429.engine.chain import Chain, Entry
from chain429.engine.request import parse_chat_request, upstream_body
from chain429.engine.walk import Attempt, Served, WalkFailed
from chain429.errors import ProxyError
from chain429.http.runtime import Edited, config_status, edit_config
from chain429.http.state import STATE, AppState
from chain429.providers.upstream import AiohttpUpstream
from chain429.redact import mask_secret, scrub

logger = logging.getLogger("chain429.admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_SECRET_NAME = re.compile(r"key|token|secret|password|auth|cookie", re.IGNORECASE)
_REF_DEFAULT = re.compile(r"(\$\{[A-Za-z_][A-Za-z0-9_]*:-)([^}]*)(\})")
_TEST_PROMPT = "Say hello in one word."
_MISSING: Any = object()


# -- plumbing ---------------------------------------------------------------------------------


def _admin(request: web.Request) -> AppState:
    state = request.app[STATE]
    state.admin_keys.require(request.headers)
    return state


async def _body(request: web.Request) -> dict[str, Any]:
    """The JSON object sent (an empty body is `{}`); anything else is a 400."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProxyError(400, "The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ProxyError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def _reply(state: AppState, data: Any, status: int = 200) -> web.Response:
    """JSON, with every key of the served config masked wherever it might appear."""
    text = orjson.dumps(data).decode()
    for secret in _secrets(state):
        if secret in text:
            text = text.replace(secret, mask_secret(secret))
    return web.Response(text=text, status=status, content_type="application/json")


def _secrets(state: AppState) -> list[str]:
    settings = state.settings
    found = [p.api_key for p in state.config.providers if p.api_key]
    found += [*settings.api_keys, *(settings.admin_keys or [])]
    return sorted({s for s in found if len(s) >= 8}, key=len, reverse=True)


def _camel(request: web.Request, body: dict[str, Any] | None = None) -> bool:
    """Answer in the TypeScript original's camelCase if asked, or if the request used it."""
    if request.query.get("case") == "camel":
        return True
    return body is not None and any(k != k.lower() for k in body)


def _flag(body: dict[str, Any], snake: str, camel: str) -> bool:
    return body.get(snake, body.get(camel)) is True


# -- the config, masked -----------------------------------------------------------------------


def config_view(state: AppState) -> dict[str, Any]:
    """The served config as JSON: `${VAR}` fields as written, every key masked."""
    data: dict[str, Any] = state.config.model_dump(mode="json")
    for display, text in state.env_refs.items():
        _put(data, canonical_path(display), text)
    masked: dict[str, Any] = _masked(data)
    return masked


def _put(data: Any, path: tuple[str | int, ...], value: str) -> None:
    """Set `value` at `path` in plain JSON data, if the path exists."""
    if not path:
        return
    for part in path[:-1]:
        data = _child(data, part)
    last = path[-1]
    if _child(data, last) is not None or (isinstance(data, dict) and isinstance(last, str)):
        data[last] = value


def _child(data: Any, part: str | int) -> Any:
    if isinstance(data, dict) and isinstance(part, str):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and part < len(data):
        return data[part]
    return None


def _masked(value: Any, secret: bool = False) -> Any:
    """Key-like fields masked (a reference shows as written, its default masked); URLs too."""
    if isinstance(value, dict):
        return {
            k: _masked_url(v)
            if k.endswith("_url")
            else _masked(v, secret or bool(_SECRET_NAME.search(k)))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v, secret) for v in value]
    if secret and isinstance(value, str):
        if "${" in value:
            return _REF_DEFAULT.sub(lambda m: m[1] + mask_secret(m[2]) + m[3], value)
        return mask_secret(value)
    return value


def _masked_url(value: Any) -> Any:
    """A password in the URL, or a key in its query string (`?key=`), masked."""
    if not isinstance(value, str) or "://" not in value:
        return value
    parts = urlsplit(value)
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", ":…@")
    query = urlencode(
        [(k, mask_secret(v) if _SECRET_NAME.search(k) else v) for k, v in parse_qsl(parts.query)]
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _provider_view(state: AppState, provider_id: str, camel: bool) -> dict[str, Any] | None:
    view = next((p for p in config_view(state)["providers"] if p["id"] == provider_id), None)
    return camelized(ProviderConfig, view) if camel and view else view


async def get_config(request: web.Request) -> web.Response:
    state = _admin(request)
    view = config_view(state)
    body = camelized(Config, view) if _camel(request) else view
    body["file"] = {**config_status(state), "editable": state.config_path is not None}
    body["disabled_providers"] = state.disabled
    return _reply(state, body)


# -- edits ------------------------------------------------------------------------------------


def _echo(value: Any, raw: Any, resolved: str | None) -> bool:
    """Is `value` the existing key sent back as GET showed it (masked, or as its reference)?

    The TypeScript original showed every key as `***`; that is an echo too.
    """
    if not isinstance(value, str) or raw is None:
        return False
    shown = {str(raw), mask_secret(str(raw)), "***"}
    if resolved:
        shown.add(mask_secret(resolved))
    return value in shown


def _refuse_masked(name: str, value: Any) -> None:
    if isinstance(value, str) and ("…" in value or value.strip("*") == ""):
        raise ProxyError(
            400,
            f"'{name}' looks masked. Send the real key, or leave '{name}' out to keep the "
            "current one.",
            code="masked_key",
            param=name,
        )


def _edit_response(
    state: AppState, edited: Edited[Any], body: dict[str, Any], status: int = 200
) -> web.Response:
    body["warnings"] = edited.loaded.warnings
    body["restart_required"] = edited.restart_required
    return _reply(state, body, status)


async def put_provider(request: web.Request) -> web.Response:
    return await _save_provider(request, replace=True)


async def patch_provider(request: web.Request) -> web.Response:
    return await _save_provider(request, replace=False)


async def _save_provider(request: web.Request, *, replace: bool) -> web.Response:
    """PUT replaces (fields left out are removed), PATCH merges (null removes a field).

    Either way, an `api_key` left out, or sent back masked as GET showed it, keeps the key.
    """
    state = _admin(request)
    provider_id = request.match_info["id"]
    body = await _body(request)
    fields = canonical(ProviderConfig, body)
    if fields.pop("id", provider_id) != provider_id:
        raise ProxyError(400, "The id in the body must match the path.", param="id")
    key = fields.pop("api_key", _MISSING)
    served = state.config.provider(provider_id)

    def change(doc: ConfigDocument) -> bool:
        node = doc.provider(provider_id)
        if node is None and not replace:
            raise ProxyError(
                404, f"There is no provider '{provider_id}'.", code="provider_not_found"
            )
        raw = doc.value(node, ProviderConfig, "api_key") if node is not None else None
        new = dict(fields)
        keep: tuple[str, ...] = ()
        if key is _MISSING or _echo(key, raw, served.api_key if served else None):
            keep = ("api_key",)
        else:
            _refuse_masked("api_key", key)
            new["api_key"] = key
        return doc.put_provider(provider_id, new, replace=replace, keep=keep)

    edited = await edit_config(state, change)
    logger.info("provider %s %s", provider_id, "created" if edited.result else "updated")
    view = _provider_view(state, provider_id, _camel(request, body))
    body_out = {"provider": view, "created": edited.result}
    return _edit_response(state, edited, body_out, 201 if edited.result else 200)


async def delete_provider(request: web.Request) -> web.Response:
    """409 while chains use the provider; `?force=true` also removes its entries from them."""
    state = _admin(request)
    provider_id = request.match_info["id"]
    force = request.query.get("force", "").lower() in ("1", "true", "yes")
    edited = await edit_config(state, lambda doc: doc.delete_provider(provider_id, force=force))
    logger.info("provider %s deleted", provider_id)
    return _edit_response(state, edited, {"deleted": provider_id, "chains_edited": edited.result})


async def put_chain(request: web.Request) -> web.Response:
    """Create or replace a chain: `{"entries": [{"provider", "model"} or "provider/model"]}`."""
    state = _admin(request)
    name = request.match_info["name"]
    body = await _body(request)
    fields = canonical(ChainConfig, body)
    if fields.pop("name", name) != name:
        raise ProxyError(400, "The name in the body must match the path.", param="name")
    entries = fields.get("entries")
    if not isinstance(entries, list):
        raise ProxyError(400, "'entries' is required and must be a list.", param="entries")
    fields["entries"] = [_entry_fields(e) for e in entries]
    edited = await edit_config(state, lambda doc: doc.put_chain(name, fields))
    logger.info("chain %s %s", name, "created" if edited.result else "updated")
    view = next((c for c in config_view(state)["chains"] if c["name"] == name), None)
    if view is not None and _camel(request, body):
        view = camelized(ChainConfig, view)
    return _edit_response(
        state, edited, {"chain": view, "created": edited.result}, 201 if edited.result else 200
    )


def _entry_fields(entry: Any) -> Any:
    if isinstance(entry, str) and "/" in entry:
        provider, _, model = entry.partition("/")
        return {"provider": provider, "model": model}
    return entry


async def delete_chain(request: web.Request) -> web.Response:
    """The default chain cannot be deleted (409)."""
    state = _admin(request)
    name = request.match_info["name"]
    edited = await edit_config(state, lambda doc: doc.delete_chain(name))
    logger.info("chain %s deleted", name)
    return _edit_response(state, edited, {"deleted": name})


async def patch_settings(request: web.Request) -> web.Response:
    """Merge into settings (null resets a setting to its default); masked keys are kept."""
    state = _admin(request)
    body = await _body(request)
    fields = canonical(Settings, body)

    def change(doc: ConfigDocument) -> None:
        new = dict(fields)
        for name in ("api_keys", "admin_keys"):
            if isinstance(new.get(name), list):
                new[name] = _keep_masked_keys(doc, state, name, new[name])
        doc.patch_settings(new)

    edited = await edit_config(state, change)
    logger.info("settings updated: %s", ", ".join(sorted(fields)))
    view = config_view(state)["settings"]
    out = camelized(Settings, view) if _camel(request, body) else view
    return _edit_response(state, edited, {"settings": out})


def _keep_masked_keys(
    doc: ConfigDocument, state: AppState, name: str, keys: list[Any]
) -> list[Any]:
    """Keys sent back masked (or as their reference) are swapped for what the file holds."""
    node = doc.value(doc.settings(), Settings, name)
    raw = list(node) if isinstance(node, list) else []
    resolved: list[str] = list(getattr(state.settings, name) or [])
    used: set[int] = set()
    out = []
    for position, value in enumerate(keys):
        echoes = [
            i
            for i, r in enumerate(raw)
            if i not in used and _echo(value, r, resolved[i] if i < len(resolved) else None)
        ]
        if not echoes:
            _refuse_masked(name, value)
            out.append(value)
            continue
        # Short keys all mask to "…": prefer the key at the same place in the list.
        index = position if position in echoes else echoes[0]
        used.add(index)
        out.append(raw[index])
    return out


# -- provider tests ---------------------------------------------------------------------------


def _provider_entry(state: AppState, provider_id: str, model: str) -> Entry:
    if state.config.provider(provider_id) is None:
        raise ProxyError(404, f"There is no provider '{provider_id}'.", code="provider_not_found")
    return state.routes.resolve(f"{provider_id}/{model}").entries[0]


async def _get(
    state: AppState, url: str, headers: dict[str, str], timeout_s: float
) -> tuple[int, bytes]:
    """A GET through the app's pooled client (a short-lived one if the app was given another)."""
    upstream = state.walker.upstream
    async with asyncio.timeout(timeout_s):
        if isinstance(upstream, AiohttpUpstream):
            return await upstream.get(url, headers)
        client = AiohttpUpstream(connect_timeout_s=state.settings.connect_timeout_ms / 1000)
        await client.start()
        try:
            return await client.get(url, headers)
        finally:
            await client.close()


def _upstream_error(status: int | None, raw: bytes, key: str | None) -> str:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    text = message if isinstance(message, str) else raw.decode("utf-8", "replace")
    return scrub(f"HTTP {status}: {text.strip()[:300]}", key)


async def test_provider(request: web.Request) -> web.Response:
    """Test connection: GET the models list, or with `{"model": ...}` a tiny chat completion."""
    state = _admin(request)
    provider_id = request.match_info["id"]
    body = await _body(request)
    model = body.get("model")
    entry = _provider_entry(state, provider_id, model if isinstance(model, str) else "-")
    result: dict[str, Any] = {
        "provider": provider_id,
        "method": "chat" if isinstance(model, str) else "models",
        "model": model if isinstance(model, str) else None,
        "ok": False,
        "status": None,
        "error": None,
    }
    started = time.monotonic()
    if entry.disabled:
        result["error"] = f"disabled: {entry.disabled}"
    else:
        try:
            if isinstance(model, str):
                status, raw = await _chat_probe(state, entry)
            else:
                status, raw = await _get(
                    state, _models_url(entry), _get_headers(entry), entry.timeout_s
                )
                result["models"] = len(_model_ids(raw))
            result["status"] = status
            result["ok"] = 200 <= status < 300
            if not result["ok"]:
                result["error"] = _upstream_error(status, raw, entry.api_key)
        except TimeoutError:
            result["error"] = f"timed out after {entry.timeout_s:g}s"
        except Exception as exc:  # a refused connection, DNS, TLS: all are test results
            result["error"] = scrub(f"{type(exc).__name__}: {exc}", entry.api_key)
    latency = round((time.monotonic() - started) * 1000, 1)
    result["latency_ms"] = result["latencyMs"] = latency
    return _reply(state, result)


async def _chat_probe(state: AppState, entry: Entry) -> tuple[int, bytes]:
    chat = _chat({"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 5})
    body = upstream_body(chat, entry, send_stream_options=False)
    async with asyncio.timeout(entry.timeout_s):
        response = await state.walker.upstream.open(entry, body)
        try:
            return response.status, await response.read()
        finally:
            response.close()


def _models_url(entry: Entry) -> str:
    return entry.preset.models_url(entry.url.removesuffix("/chat/completions"))


def _get_headers(entry: Entry) -> dict[str, str]:
    return {k: v for k, v in entry.headers.items() if k.lower() != "content-type"}


def _model_ids(raw: bytes) -> list[str]:
    """Model ids from an OpenAI-style `data: [{id}]` or a Gemini-style `models: [{name}]`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    items = data.get("data", data.get("models")) if isinstance(data, dict) else data
    ids = []
    for item in items if isinstance(items, list) else []:
        value = item.get("id", item.get("name")) if isinstance(item, dict) else item
        if isinstance(value, str):
            ids.append(value.removeprefix("models/"))
    return ids


async def list_provider_models(request: web.Request) -> web.Response:
    """The provider's own model list (its `/models`), as ids."""
    state = _admin(request)
    provider_id = request.match_info["id"]
    entry = _provider_entry(state, provider_id, "-")
    try:
        status, raw = await _get(state, _models_url(entry), _get_headers(entry), entry.timeout_s)
    except TimeoutError:
        raise ProxyError(
            504,
            "The provider did not answer in time.",
            type="server_error",
            code="upstream_timeout",
        ) from None
    except Exception as exc:
        message = scrub(f"Could not reach the provider: {type(exc).__name__}: {exc}", entry.api_key)
        raise ProxyError(502, message, type="server_error", code="upstream_error") from None
    if not 200 <= status < 300:
        message = "The provider refused the model list: " + _upstream_error(
            status, raw, entry.api_key
        )
        raise ProxyError(502, message, type="server_error", code="upstream_error")
    ids = _model_ids(raw)
    data = [{"id": i, "object": "model", "owned_by": provider_id} for i in ids]
    return _reply(state, {"object": "list", "provider": provider_id, "data": data, "models": ids})


# -- chain tests ------------------------------------------------------------------------------


def _chat(body: dict[str, Any]) -> Any:
    return parse_chat_request(orjson.dumps(body))


async def test_chain(request: web.Request) -> web.Response:
    """Run the chain as a client request would (a real waterfall), or each entry on its own.

    Body (all optional): `prompt`, `max_tokens`, `stream`, `per_entry` (camelCase accepted).
    """
    state = _admin(request)
    name = request.match_info["name"]
    body = await _body(request)
    chain = state.routes.chains.get(name)
    if chain is None:
        raise ProxyError(404, f"There is no chain '{name}'.", code="chain_not_found")
    prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else _TEST_PROMPT
    stream = body.get("stream") is True
    chat = _chat(
        {
            "model": name,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": body.get("max_tokens", body.get("maxTokens", 50)),
            "stream": stream,
        }
    )
    per_entry = _flag(body, "per_entry", "perEntry")
    if per_entry:
        runs = [await _run(state, Chain(name, (entry,)), chat) for entry in chain.entries]
        results = [run["results"][-1] | {"attempts": run["attempts"]} for run in runs]
        out: dict[str, Any] = {"ok": all(r["ok"] for r in runs), "results": results}
    else:
        out = await _run(state, chain, chat)
    ok_count = sum(1 for r in out["results"] if r["status"] == "ok")
    summary = {
        "total": len(out["results"]),
        "ok": ok_count,
        "failed": len(out["results"]) - ok_count,
    }
    mode = "per_entry" if per_entry else "waterfall"
    return _reply(state, {"chain": name, "mode": mode, "stream": stream, **out, "summary": summary})


async def _run(state: AppState, chain: Chain, chat: Any) -> dict[str, Any]:
    """One walk: its outcome, the answer, and per-entry results in the TS original's shape."""
    started = time.monotonic()
    try:
        served = await state.walker.serve(chain, chat, 0.0)
    except WalkFailed as failed:
        attempts = [_attempt(a) for a in failed.attempts]
        return {
            "ok": False,
            "served_by": None,
            "response": None,
            "error": failed.message,
            "status": failed.status,
            "latency_ms": _ms(started),
            "attempts": attempts,
            "results": [_result(a) for a in attempts],
        }
    text, usage, error = await _answer(served)
    attempts = [_attempt(a) for a in served.attempts]
    results = [_result(a) for a in attempts]
    if results:
        results[-1].update(response=text, tokens=_tokens(usage))
        if error:
            results[-1].update(status="error", ok=False, error=error)
    return {
        "ok": error is None,
        "served_by": served.entry.key,
        "response": text,
        "usage": usage,
        "error": error,
        "status": 200,
        "latency_ms": _ms(started),
        "attempts": attempts,
        "results": results,
    }


async def _answer(served: Served) -> tuple[str, dict[str, Any] | None, str | None]:
    """The answer's text and usage; for a stream, also how it ended if not cleanly."""
    if served.stream is None:
        data = orjson.loads(served.body)
        choices = data.get("choices") or [{}]
        message = choices[0].get("message") or {}
        text = message.get("content") or message.get("reasoning_content") or ""
        return str(text), served.usage, None
    pieces: list[str] = []
    usage: dict[str, Any] | None = None
    buffer = b""
    async with aclosing(served.stream.events()) as events:
        async for part in events:
            buffer += part
    for line in buffer.splitlines():
        if not line.startswith(b"data:") or line.strip() == b"data: [DONE]":
            continue
        try:
            event = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            continue
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            pieces.append(delta.get("content") or delta.get("reasoning_content") or "")
        usage = event.get("usage") or usage
    outcome = served.stream.outcome
    error = None if outcome is None or outcome.kind == "success" else outcome.message
    return "".join(pieces), usage, error


def _attempt(attempt: Attempt) -> dict[str, Any]:
    provider, _, model = attempt.entry.partition("/")
    latency = round(attempt.latency_ms, 1)
    return {
        "entry": attempt.entry,
        "provider": provider,
        "model": model,
        "outcome": str(attempt.kind),
        "status": attempt.status,
        "reason": attempt.reason,
        "skipped": attempt.skipped,
        "latency_ms": latency,
    }


def _result(attempt: dict[str, Any]) -> dict[str, Any]:
    """One entry as the TypeScript original reported it: status ok / error (or skipped)."""
    ok = attempt["outcome"] == "success"
    status = "ok" if ok else "skipped" if attempt["skipped"] else "error"
    result = {
        "provider": attempt["provider"],
        "model": attempt["model"],
        "status": status,
        "ok": ok,
        "latencyMs": attempt["latency_ms"],
        "latency_ms": attempt["latency_ms"],
    }
    if not ok:
        result["error"] = attempt["reason"]
    return result


def _tokens(usage: dict[str, Any] | None) -> dict[str, int] | None:
    if not usage:
        return None
    names = ("prompt", "completion", "total")
    return {n: int(usage.get(f"{n}_tokens") or 0) for n in names}


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


# -- routes -----------------------------------------------------------------------------------

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/v1/admin/config", get_config),
    ("PATCH", "/v1/admin/settings", patch_settings),
    ("PUT", "/v1/admin/providers/{id}", put_provider),
    ("PATCH", "/v1/admin/providers/{id}", patch_provider),
    ("DELETE", "/v1/admin/providers/{id}", delete_provider),
    ("POST", "/v1/admin/providers/{id}/test", test_provider),
    ("GET", "/v1/admin/providers/{id}/models", list_provider_models),
    ("PUT", "/v1/admin/chains/{name}", put_chain),
    ("DELETE", "/v1/admin/chains/{name}", delete_chain),
    ("POST", "/v1/test/chain/{name}", test_chain),
]


def add_routes(app: web.Application, preflight: Handler) -> None:
    """Register the admin routes, one resource per path, each answering OPTIONS too."""
    by_path: dict[str, list[tuple[str, Handler]]] = defaultdict(list)
    for method, path, handler in ROUTES:
        by_path[path].append((method, handler))
    for path, routes in by_path.items():
        resource = app.router.add_resource(path)
        for method, handler in routes:
            resource.add_route(method, handler)
        resource.add_route("OPTIONS", preflight)
