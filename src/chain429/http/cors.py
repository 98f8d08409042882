"""CORS for configured origins only; browsers get nothing when none are configured."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from chain429.http.errors import Handler

ALLOWED_HEADERS = "Authorization, Content-Type, x-api-key, X-429chain-Chain, X-429chain-Max-Wait"
CORS_ORIGIN = web.RequestKey("cors_origin", str)
EXPOSED_HEADERS = (
    "X-429chain-Chain, X-429chain-Provider, X-429chain-Model, X-429chain-Attempts, "
    "X-429chain-Skipped, X-429chain-Request-Id, Retry-After"
)


def cors(origins: list[str]) -> Middleware:
    allowed = set(origins)
    any_origin = "*" in allowed

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        granted = origin is not None and (any_origin or origin in allowed)
        if request.method == "OPTIONS" and granted:
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": origin or "*",
                    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
        if granted and origin is not None:
            request[CORS_ORIGIN] = origin
        return await handler(request)

    return middleware


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Runs just before headers go out, so streamed responses carry them too."""
    origin = request.get(CORS_ORIGIN)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response.headers["Vary"] = "Origin"
