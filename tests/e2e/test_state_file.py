"""A broken tracker state file: the proxy still starts, keeps state in memory, and says why."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from chain429.testing.mock_provider import MockProvider
from tests.e2e.conftest import Proxy, make_config


async def health(proxy: Proxy) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/health") as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_a_corrupt_state_file_falls_back_to_memory(
    tmp_path: Path,
    mocks: Callable[..., Awaitable[MockProvider]],
    proxy: Callable[..., Awaitable[Proxy]],
) -> None:
    bad = tmp_path / "state.db"
    bad.write_bytes(b"garbage, not SQLite\n" * 300)
    mock = await mocks()
    config = make_config(
        {"p": mock}, {"c": ["p/m"]}, {"database_url": str(bad), "log_requests": False}
    )
    started = await proxy(config)
    quota_state = (await health(started))["quota_state"]
    assert quota_state["persisted"] is False
    assert "in memory only" in quota_state["error"]
    reply = await started.client().chat.completions.create(
        model="c", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices
    await started.stop()
    assert bad.read_bytes().startswith(b"garbage")  # left for a human to look at


async def test_a_good_state_file_shows_as_persisted(
    tmp_path: Path,
    mocks: Callable[..., Awaitable[MockProvider]],
    proxy: Callable[..., Awaitable[Proxy]],
) -> None:
    mock = await mocks()
    path = tmp_path / "ok.db"
    config = make_config({"p": mock}, {"c": ["p/m"]}, {"database_url": str(path)})
    started = await proxy(config)
    quota_state = (await health(started))["quota_state"]
    assert quota_state == {"path": str(path), "persisted": True, "error": None, "recreated": 0}
