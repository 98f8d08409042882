"""Every error leaves the server OpenAI-shaped, whatever raised it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from chain429.errors import ProxyError, error_body

logger = logging.getLogger("chain429.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    404: ("not_found", "The path {path} does not exist on this server."),
    405: ("method_not_allowed", "The method {method} is not allowed on {path}."),
    413: ("request_too_large", "The request body is larger than the configured limit."),
}


def error_response(err: ProxyError) -> web.Response:
    return web.json_response(err.body(), status=err.status, headers=err.headers)


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProxyError as err:
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, template = _HTTP_CODES.get(exc.status, ("http_error", exc.reason))
        message = template.format(path=request.path, method=request.method)
        body = error_body(message, code=code)
        return web.json_response(body, status=exc.status)
    except Exception:
        logger.exception("unexpected error serving %s %s", request.method, request.path)
        body = error_body("Internal error in 429chain.", type="server_error", code="internal_error")
        return web.json_response(body, status=500)
