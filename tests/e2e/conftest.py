"""The e2e rig: mock providers and the proxy, both real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from chain429.config.load import load_config
from chain429.http.app import create_app
from chain429.http.state import STATE, AppState
from chain429.testing import Reply, error_body
from chain429.testing.mock_provider import MockProvider

PROXY_KEY = "sk-proxy-test-key-0001"


@dataclass
class Proxy:
    url: str
    app: web.Application
    config_path: Path
    runner: web.AppRunner
    clients: list[openai.AsyncOpenAI] = field(default_factory=list)

    async def stop(self) -> None:
        """Shut down as on SIGTERM: in-flight requests finish, then the app flushes its state."""
        await self.runner.cleanup()
        for client in self.clients:
            await client.close()
        self.clients.clear()

    @property
    def state(self) -> AppState:
        return self.app[STATE]

    def client(self, **kw: Any) -> openai.AsyncOpenAI:
        """An SDK client, closed with the proxy."""
        client = openai.AsyncOpenAI(
            base_url=f"{self.url}/v1", api_key=PROXY_KEY, max_retries=0, **kw
        )
        self.clients.append(client)
        return client

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {PROXY_KEY}"}

    async def settled(self) -> None:
        """Wait until the request log's writer has written everything it was given."""
        writer = self.state.writer
        assert writer is not None, "request logging is off"
        for _ in range(800):  # up to 20 s: the store opens after start-up (SQLAlchemy import)
            if writer.queued == 0 and self.state.store.store is not None:
                break
            await asyncio.sleep(0.025)
        else:
            pytest.fail("the request log's writer did not catch up within 20 s")
        await asyncio.sleep(0.05)

    async def logged(self) -> list[dict[str, Any]]:
        """The request log's rows (`/v1/stats/requests`), once the writer has caught up."""
        await self.settled()
        async with (
            aiohttp.ClientSession(headers=self.auth) as http,
            http.get(f"{self.url}/v1/stats/requests") as response,
        ):
            assert response.status == 200, await response.text()
            rows: list[dict[str, Any]] = (await response.json())["requests"]
        assert rows, "nothing was logged"
        return rows


def make_config(
    providers: dict[str, MockProvider | str],
    chains: dict[str, list[str]],
    settings: dict[str, Any] | None = None,
    provider_extra: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A config dict: providers by id -> mock (or URL), chains as lists of 'provider/model'."""
    extra = provider_extra or {}
    return {
        "version": 1,
        "settings": {"api_keys": [PROXY_KEY], **(settings or {})},
        "providers": [
            {
                "id": pid,
                "type": "openai-compatible",
                "api_key": f"sk-upstream-{pid}-secret",
                "base_url": mock if isinstance(mock, str) else mock.url,
                **extra.get(pid, {}),
            }
            for pid, mock in providers.items()
        ],
        "chains": [
            {
                "name": name,
                "entries": [
                    {"provider": e.partition("/")[0], "model": e.partition("/")[2]} for e in entries
                ],
            }
            for name, entries in chains.items()
        ],
    }


def too_many(retry_after: str | None = None, message: str = "Rate limit exceeded") -> Reply:
    """A provider's per-minute 429, OpenAI-shaped; with a `retry-after` when given."""
    headers = {"retry-after": retry_after} if retry_after else {}
    return Reply(429, error_body(429, message, "requests", "rate_limit_exceeded"), headers)


async def two_entries(
    mocks: Any, proxy: Any, *, texts: tuple[str, str] | None = None, **settings: Any
) -> tuple[MockProvider, MockProvider, Proxy]:
    """Mocks `a` and `b` behind one chain, `default` = [a/m1, b/m2]; `texts` are their replies."""
    a_kw, b_kw = ({"reply_text": t} for t in texts) if texts else ({}, {})
    a, b = await mocks(**a_kw), await mocks(**b_kw)
    config = make_config({"a": a, "b": b}, {"default": ["a/m1", "b/m2"]}, settings)
    return a, b, await proxy(config)


@pytest.fixture
async def mocks() -> AsyncIterator[Callable[..., Awaitable[MockProvider]]]:
    started: list[MockProvider] = []

    async def make(**kw: Any) -> MockProvider:
        mock = MockProvider(**kw)
        await mock.start()
        started.append(mock)
        return mock

    yield make
    for mock in started:
        await mock.close()


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Proxy]]]:
    runners: list[web.AppRunner] = []
    proxies: list[Proxy] = []

    async def start(config: dict[str, Any], **app_kw: Any) -> Proxy:
        config.setdefault("settings", {}).setdefault(
            "database_url", str(tmp_path / f"state-{len(runners)}.db")
        )
        path = tmp_path / f"config-{len(runners)}.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        app = create_app(load_config(path, env={}), **app_kw)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        proxies.append(Proxy(f"http://127.0.0.1:{port}", app, path, runner))
        return proxies[-1]

    yield start
    for started in proxies:
        for client in started.clients:
            await client.close()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def yaml_proxy(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Proxy]]]:
    """A proxy started from YAML text as written (comments and all), loaded with `env`.

    The app gets the same `env`, so edits through the admin API and hot reloads resolve
    `${VAR}` as start-up did. The text should set `database_url` (e.g. `none`).
    """
    proxies: list[Proxy] = []

    async def start(text: str, env: dict[str, str] | None = None, **app_kw: Any) -> Proxy:
        path = tmp_path / f"edited-{len(proxies)}.yaml"
        path.write_text(text)
        env = env or {}
        app = create_app(load_config(path, env=env), env=env, **app_kw)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        proxies.append(Proxy(f"http://127.0.0.1:{port}", app, path, runner))
        return proxies[-1]

    yield start
    for started in proxies:
        await started.stop()
