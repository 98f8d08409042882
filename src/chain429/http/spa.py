"""The web UI: the built single-page app (`chain429/web/dist`) served at `/`.

Registered after every API route, as the catch-all: a path no route claims is a file of the
build, or (for a page of the app, e.g. `/providers` after a reload) `index.html`, which then
routes in the browser. API paths (`/v1/...`, `/health`, `/metrics`, `/openapi.json`) are never
answered here: an unknown one stays an OpenAI-shaped JSON 404. Hashed assets are cached for a
year; `index.html` is revalidated on every load, so a new build shows at once.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
API_PREFIXES = ("/v1/", "/health", "/metrics", "/openapi.json")
ROUTE_NAME = "spa"  # the catch-all's name: not an API route, so not in the route table

# Scripts and styles only from this origin, nothing framed, no plugins. Styles allow inline
# `style` attributes: the component kit sets CSS variables at run time (never script).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
LONG_CACHE = "public, max-age=31536000, immutable"
NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>429chain</title></head><body><h1>429chain</h1>
<p>The web UI is not built. Run <code>make run</code> (it builds the UI), or
<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>.</p>
<p>The API is up: <a href="/openapi.json">/openapi.json</a>.</p></body></html>
"""


def is_api_path(path: str) -> bool:
    return path == "/v1" or path.startswith(API_PREFIXES)


def install(app: web.Application, dist: Path | None = None) -> None:
    """Add the catch-all route; call after every API route is registered."""
    root = (dist or DIST).resolve()

    async def serve(request: web.Request) -> web.StreamResponse:
        path = request.path
        if is_api_path(path) or request.method not in ("GET", "HEAD"):
            await _refuse(request)
        index = root / "index.html"
        if not index.is_file():
            return web.Response(
                text=NOT_BUILT, status=503, content_type="text/html", headers=SECURITY_HEADERS
            )
        wanted = _file(root, path)
        if wanted is not None:
            cache = LONG_CACHE if wanted.parent.name == "assets" else "no-cache"
            return web.FileResponse(wanted, headers={**SECURITY_HEADERS, "Cache-Control": cache})
        if path.startswith("/assets/") or "." in path.rsplit("/", 1)[-1]:
            raise web.HTTPNotFound()  # a missing file is not a page of the app
        return web.FileResponse(index, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    app.router.add_route("*", "/{tail:.*}", serve, name=ROUTE_NAME)


async def _refuse(request: web.Request) -> None:
    """A 405 when an API route has this path with other methods (the catch-all answers every
    method, so aiohttp would otherwise end here), else a 404. Only unmatched requests pay this.
    The error middleware makes either OpenAI-shaped."""
    for resource in request.app.router.resources():
        if resource.name == ROUTE_NAME:
            continue
        _, allowed = await resource.resolve(request)
        if allowed:
            raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def _file(root: Path, path: str) -> Path | None:
    """The build's file at `path`, never outside `root`."""
    relative = path.lstrip("/")
    if not relative:
        return None
    try:
        candidate = (root / relative).resolve()
    except (OSError, ValueError):
        return None
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate
