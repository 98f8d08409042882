"""The UI at `/` (http/spa.py): history fallback, caching, security headers, and API paths
that the UI never shadows. A stand-in build in tmp_path: no Node needed for these."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from chain429.config.load import parse_config
from chain429.http.app import create_app

KEY = "sk-serving-test-key-0001"
INDEX = '<!doctype html><script type="module" src="/assets/app-1a2b3c.js"></script>'
CONFIG = f'{{"version": 1, "settings": {{"api_keys": ["{KEY}"], "database_url": "none"}}}}'

Start = Callable[[Path | None], Awaitable[str]]


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "favicon.svg").write_text("<svg/>")
    script = b"console.log('app');" * 50
    (root / "assets" / "app-1a2b3c.js").write_bytes(script)
    (root / "assets" / "app-1a2b3c.js.gz").write_bytes(gzip.compress(script))
    (tmp_path / "secret.txt").write_text("outside the build")
    return root


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    runners: list[web.AppRunner] = []

    async def run(dist: Path | None) -> str:
        app = create_app(parse_config(CONFIG, env={}), env={}, ui_dist=dist)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield run
    for runner in runners:
        await runner.cleanup()


async def test_pages_fall_back_to_index_with_security_headers(start: Start, dist: Path) -> None:
    url = await start(dist)
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/providers", "/chains/fast", "/settings?x=1"):
            async with http.get(url + path) as r:
                assert r.status == 200, path
                assert await r.text() == INDEX
                assert r.headers["Cache-Control"] == "no-cache"
                csp = r.headers["Content-Security-Policy"]
                assert "default-src 'self'" in csp and "script-src 'self'" in csp
                assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
                assert "frame-ancestors 'none'" in csp
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Referrer-Policy"] == "no-referrer"
                assert r.headers["X-Frame-Options"] == "DENY"


async def test_hashed_assets_are_cached_long_and_sent_gzipped(start: Start, dist: Path) -> None:
    url = await start(dist)
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(
            url + "/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip"}
        ) as r:
            assert r.status == 200
            assert "immutable" in r.headers["Cache-Control"]
            assert "max-age=31536000" in r.headers["Cache-Control"]
            assert r.headers["Content-Type"].startswith(
                ("text/javascript", "application/javascript")
            )
            assert r.headers.get("Content-Encoding") == "gzip"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with http.get(url + "/favicon.svg") as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"


async def test_a_missing_file_or_a_path_outside_the_build_is_a_404(
    start: Start, dist: Path
) -> None:
    url = await start(dist)
    async with aiohttp.ClientSession() as http:
        for path in ("/assets/gone-123.js", "/robots.txt", "/../secret.txt", "/%2e%2e/secret.txt"):
            async with http.get(url + path) as r:
                assert r.status == 404, path
                assert "outside the build" not in await r.text()


async def test_api_paths_are_never_shadowed(start: Start, dist: Path) -> None:
    url = await start(dist)
    async with aiohttp.ClientSession() as http:
        for method, path in (("GET", "/v1/nope"), ("POST", "/v1/nope/deeper"), ("GET", "/v1")):
            async with http.request(method, url + path) as r:
                assert r.status == 404, path
                body = await r.json()
                assert body["error"]["code"] == "not_found"
                assert set(body["error"]) >= {"message", "type", "code", "param"}
        async with http.get(url + "/health") as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
        async with http.get(url + "/openapi.json") as r:
            assert (await r.json())["openapi"].startswith("3.1")
        async with http.get(url + "/metrics") as r:
            assert r.status == 401  # still the metrics route, asking for its key
        async with http.get(url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}) as r:
            assert r.status == 200 and (await r.json())["object"] == "list"
        async with http.post(url + "/providers") as r:
            assert r.status == 404  # pages answer GET only
        async with http.get(url + "/v1/chat/completions") as r:
            assert r.status == 405  # the route exists, for POST
            assert (await r.json())["error"]["code"] == "method_not_allowed"


async def test_without_a_build_the_page_says_how_to_build_it(start: Start, tmp_path: Path) -> None:
    url = await start(tmp_path / "no-build")
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/") as r:
            assert r.status == 503
            assert "make run" in await r.text()
            assert "<script" not in await r.text()
        async with http.get(url + "/health") as r:
            assert r.status == 200
