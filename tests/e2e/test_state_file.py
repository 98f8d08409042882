"""A broken tracker state file: the proxy still starts, keeps state in memory, and says why."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp

from chain429.testing.mock_provider import MockProvider
from tests.e2e.conftest import Proxy, make_config


async def health(proxy: Proxy) -> dict[str, Any]:
    """/health as an admin sees it (paths and errors are for admins only)."""
    async with (
        aiohttp.ClientSession(headers=proxy.auth) as http,
        http.get(f"{proxy.url}/health") as resp,
    ):
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


def tables_and_rows(path: Path) -> tuple[set[str], int]:
    if not path.exists():
        return set(), 0
    with closing(sqlite3.connect(path)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        rows = (
            db.execute("SELECT count(*) FROM requests").fetchone()[0] if "requests" in tables else 0
        )
    return tables, rows


def delete_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def until(check: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    for _ in range(int(timeout_s / 0.05)):
        result = check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_a_database_deleted_while_running_is_made_again(
    tmp_path: Path,
    mocks: Callable[..., Awaitable[MockProvider]],
    proxy: Callable[..., Awaitable[Proxy]],
) -> None:
    mock = await mocks()
    path = tmp_path / "log.db"
    started = await proxy(make_config({"p": mock}, {"c": ["p/m"]}, {"database_url": str(path)}))
    client = started.client()
    messages: Any = [{"role": "user", "content": "hi"}]
    await client.chat.completions.create(model="c", messages=messages)
    await until(lambda: tables_and_rows(path)[1] == 1)
    delete_database(path)
    await until(lambda: {"requests", "tracker_state"} <= tables_and_rows(path)[0])
    await client.chat.completions.create(model="c", messages=messages)
    await until(lambda: tables_and_rows(path)[1] == 1)  # logged into the new file
    body = await health(started)
    assert body["request_log"]["store"] == "open"
    assert body["quota_state"]["recreated"] >= 1
    assert body["quota_state"]["error"] is None
