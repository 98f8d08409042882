"""The live request feed (GET /v1/admin/events), the presets and the config-file view."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chain429.config.load import load_config
from chain429.http.app import create_app
from chain429.http.openapi import document
from chain429.providers.presets import load_presets
from chain429.testing.mock_provider import MockProvider
from chain429.testing.steps import Reply

KEY = "sk-feed-test-key-000001"
UPSTREAM_KEY = "sk-upstream-secret-feed-9876"
YAML = """\
# top comment
version: 1
settings:
  api_keys:
    - {key}   # the admin key
  database_url: none
providers:
  - id: a   # first
    type: openai-compatible
    base_url: {a}
    api_key: {upstream}
  - id: b
    type: openai-compatible
    base_url: {b}
    api_key: "sk-b-quoted-secret-000"
chains:
  - name: c
    entries: [{{provider: a, model: m}}, {{provider: b, model: m}}]
"""


class Server:
    def __init__(self, url: str, runner: web.AppRunner, a: MockProvider) -> None:
        self.url, self.runner, self.a = url, runner, a

    async def chat(self) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                self.url + "/v1/chat/completions",
                json={"model": "c", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {KEY}"},
            ) as r,
        ):
            assert r.status == 200


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with MockProvider() as a, MockProvider() as b:
        path = tmp_path / "config.yaml"
        path.write_text(YAML.format(key=KEY, a=a.url, b=b.url, upstream=UPSTREAM_KEY))
        app = create_app(load_config(path, env={}), env={})
        # A long shutdown timeout: the feed must end itself, not wait it out.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=600)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        server = Server(f"http://127.0.0.1:{runner.addresses[0][1]}", runner, a)
        yield server
        await runner.cleanup()


async def events(response: aiohttp.ClientResponse, count: int) -> list[tuple[str, Any]]:
    """The next `count` events (comments skipped)."""
    out: list[tuple[str, Any]] = []
    name = "message"
    while len(out) < count:
        line = (await asyncio.wait_for(response.content.readline(), 30)).decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[6:])))
    return out


async def test_the_feed_needs_an_admin_key(server: Server) -> None:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/v1/admin/events") as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "missing_api_key"


async def test_each_finished_request_arrives_with_its_attempt_trail(server: Server) -> None:
    server.a.script(Reply(429, headers={"Retry-After": "30"}))
    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.url + "/v1/admin/events", headers=headers) as feed,
    ):
        assert feed.headers["Content-Type"] == "text/event-stream"
        assert await events(feed, 1) == [("ready", {})]
        await server.chat()
        [(name, request)] = await events(feed, 1)
    assert name == "request"
    assert request["chain_name"] == "c" and request["provider_id"] == "b"
    assert request["fallback"] is True and request["http_status"] == 200
    trail = [(a["provider_id"], a["http_status"], a["outcome"]) for a in request["attempt_log"]]
    assert trail == [("a", 429, "rate_limited"), ("b", 200, "success")]
    assert "retry in 30s" in request["attempt_log"][0]["reason"]


async def test_a_new_reader_gets_the_recent_requests_first(server: Server) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "/v1/admin/events", headers=headers) as first:
            await events(first, 1)
            await server.chat()
            await server.chat()
            await events(first, 2)
        async with http.get(server.url + "/v1/admin/events", headers=headers) as second:
            got = await events(second, 3)
    assert [name for name, _ in got] == ["ready", "request", "request"]


async def test_shutdown_ends_open_feeds(server: Server) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.url + "/v1/admin/events", headers=headers) as feed,
    ):
        await events(feed, 1)
        # Without ending the feed, cleanup would wait for it (shutdown_timeout=600 s).
        await asyncio.wait_for(server.runner.cleanup(), 60)
        assert (await feed.content.read()).strip() == b""  # ended cleanly, nothing more


async def test_presets_are_listed_with_what_the_ui_fills_in(server: Server) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.url + "/v1/admin/presets", headers={"Authorization": f"Bearer {KEY}"}) as r,
    ):
        body = await r.json()
    names = [p["name"] for p in body["presets"]]
    assert sorted(names) == sorted(load_presets())
    groq = next(p for p in body["presets"] if p["name"] == "groq")
    assert groq["base_url"].startswith("https://api.groq.com")
    assert groq["dialect"] == "groq" and groq["limits"]["requests_per_day"]


async def test_the_config_file_is_shown_as_on_disk_with_keys_masked(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            server.url + "/v1/admin/config/file", headers={"Authorization": f"Bearer {KEY}"}
        ) as r:
            body = await r.json()
        async with http.get(server.url + "/v1/admin/config/file") as r:
            assert r.status == 401
    text = body["text"]
    assert "# top comment" in text and "# first" in text and "# the admin key" in text
    for secret in (KEY, UPSTREAM_KEY, "sk-b-quoted-secret-000"):
        assert secret not in text
    assert "sk-…9876" in text and "sk-…-000" in text


def test_the_feed_is_documented_as_server_sent_events() -> None:
    op = document()["paths"]["/v1/admin/events"]["get"]
    content = op["responses"]["200"]["content"]
    assert list(content) == ["text/event-stream"]
    assert content["text/event-stream"]["schema"]["$ref"].endswith("/RequestDetail")
    assert op["security"] == [{"adminBearer": []}, {"adminApiKey": []}]
