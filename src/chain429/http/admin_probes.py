"""Probes from the management API: a provider's connection and model list, a chain's walk.

A failed test is a result, not an error: the reply says what the provider answered (or why it
could not be reached), with its key scrubbed from any message.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from typing import Any

import orjson
from aiohttp import web

from chain429.engine.operations import CHAT, MESSAGES
from chain429.engine.request import parse_request, upstream_body
from chain429.engine.upstream import ResponseTooLarge
from chain429.engine.walk import Attempt, Served, WalkFailed
from chain429.errors import ProxyError
from chain429.http.admin_masking import reply
from chain429.http.admin_request import admin_state, flag, read_body
from chain429.http.state import AppState
from chain429.providers.upstream import AiohttpUpstream
from chain429.redact import scrub
from chain429.vocabulary import Chain, Entry

_TEST_PROMPT = "Say hello in one word."


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
    caps = state.walker.caps
    limits = {"limit": caps.body_bytes, "error_limit": caps.error_bytes}
    async with asyncio.timeout(timeout_s):
        if isinstance(upstream, AiohttpUpstream):
            return await upstream.get(url, headers, **limits)
        client = AiohttpUpstream(connect_timeout_s=state.settings.connect_timeout_ms / 1000)
        await client.start()
        try:
            return await client.get(url, headers, **limits)
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


async def probe_provider(request: web.Request) -> web.Response:
    """Test connection: GET the models list, or with `{"model": ...}` a tiny chat completion."""
    state = admin_state(request)
    provider_id = request.match_info["id"]
    body = await read_body(request)
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
    result["latency_ms"] = latency
    return reply(state, result)


async def _chat_probe(state: AppState, entry: Entry) -> tuple[int, bytes]:
    # A provider that speaks only Anthropic's Messages API is asked in it (the body is the same).
    operation = MESSAGES if not entry.serves("chat") and entry.serves("messages") else CHAT
    ask = {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 5}
    body = upstream_body(
        parse_request(orjson.dumps(ask), operation), entry, send_stream_options=False
    )
    async with asyncio.timeout(entry.timeout_s):
        response = await state.walker.upstream.open(entry, operation.path, body)
        try:
            return response.status, await response.read(
                state.walker.caps.error_bytes, truncate=True
            )
        finally:
            response.close()


def _models_url(entry: Entry) -> str:
    return entry.preset.models_url(entry.base_url)


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
    state = admin_state(request)
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
    except ResponseTooLarge as exc:
        message = f"The provider's model list is too large: {exc} (max_response_bytes)."
        raise ProxyError(502, message, type="server_error", code="upstream_error") from None
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
    return reply(state, {"object": "list", "provider": provider_id, "data": data, "models": ids})


# -- chain tests ------------------------------------------------------------------------------


def _chat(body: dict[str, Any]) -> Any:
    return parse_request(orjson.dumps(body))


async def probe_chain(request: web.Request) -> web.Response:
    """Run the chain as a client request would (a real waterfall), or each entry on its own.

    Body (all optional): `prompt`, `max_tokens`, `stream`, `per_entry` (camelCase accepted).
    """
    state = admin_state(request)
    name = request.match_info["name"]
    body = await read_body(request)
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
    per_entry = flag(body, "per_entry", "perEntry")
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
    return reply(state, {"chain": name, "mode": mode, "stream": stream, **out, "summary": summary})


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
        "latencyMs": attempt["latency_ms"],  # the original's name, on its own route
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
