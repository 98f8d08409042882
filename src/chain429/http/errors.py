"""Every error leaves the server OpenAI-shaped, whatever raised it; Anthropic-shaped on
`/v1/messages`, where Anthropic's SDKs (and Claude Code) expect their own envelope."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from chain429.dialects import anthropic
from chain429.errors import ProxyError

logger = logging.getLogger("chain429.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    404: ("not_found", "The path {path} does not exist on this server."),
    405: ("method_not_allowed", "The method {method} is not allowed on {path}."),
    413: ("request_too_large", "The request body is larger than the configured limit."),
}


ANTHROPIC_PATH = "/v1/messages"  # and its sub-paths (count_tokens)


def error_response(err: ProxyError, path: str = "") -> web.Response:
    """The error in the envelope of the API `path` belongs to."""
    body = err.body()
    if path.startswith(ANTHROPIC_PATH):
        body = anthropic.error_body(err.status, err.message)
    return web.json_response(body, status=err.status, headers=err.headers)


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProxyError as err:
        return error_response(err, request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, template = _HTTP_CODES.get(exc.status, ("http_error", exc.reason))
        message = template.format(path=request.path, method=request.method)
        return error_response(ProxyError(exc.status, message, code=code), request.path)
    except Exception:
        logger.exception("unexpected error serving %s %s", request.method, request.path)
        error = ProxyError(
            500, "Internal error in 429chain.", type="server_error", code="internal_error"
        )
        return error_response(error, request.path)
