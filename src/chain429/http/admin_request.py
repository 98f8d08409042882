"""Reading a management request: the admin key, the JSON body, and the case to answer in."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from chain429.errors import ProxyError
from chain429.http import body as request_body
from chain429.http.state import STATE, AppState


def admin_state(request: web.Request) -> AppState:
    """The app's state, once the request has shown an admin key (a 401 otherwise)."""
    state = request.app[STATE]
    state.admin_keys.require(request.headers)
    return state


async def read_body(request: web.Request) -> dict[str, Any]:
    """The JSON object sent (an empty body is `{}`); anything else is a 400."""
    raw = await request_body.read_body(request, request.app[STATE].settings.max_body_bytes)
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProxyError(400, "The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ProxyError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def wants_camel(request: web.Request, body: dict[str, Any] | None = None) -> bool:
    """Answer in the TypeScript original's camelCase if asked, or if the request used it."""
    if request.query.get("case") == "camel":
        return True
    return body is not None and any(k != k.lower() for k in body)


def flag(body: dict[str, Any], snake: str, camel: str) -> bool:
    return body.get(snake, body.get(camel)) is True
