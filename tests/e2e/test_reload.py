"""Hot reload end to end: hand edits are served, broken ones are reported and not served."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from chain429.testing import Reply, completion, error_body
from tests.e2e.conftest import PROXY_KEY, Proxy

pytestmark = pytest.mark.asyncio

CONFIG = """\
# hand-written config
settings:
  api_keys: [{key}]
  database_url: none
providers:
  - id: a
    type: openai-compatible
    api_key: sk-upstream-a-secret-0001
    base_url: {url_a}
  - id: b
    type: openai-compatible
    api_key: ${{B_KEY}}
    base_url: {url_b}
chains:
  - name: one
    entries:
      - provider: a
        model: m
"""
CHAIN_B = """\
  - name: two
    entries:
      - provider: b
        model: m
"""
MESSAGES: Any = [{"role": "user", "content": "hi"}]


async def start(mocks: Any, yaml_proxy: Any) -> tuple[Any, Any, Proxy, str]:
    a, b = await mocks(), await mocks()
    text = CONFIG.format(key=PROXY_KEY, url_a=a.url, url_b=b.url)
    return a, b, await yaml_proxy(text, env={"B_KEY": "sk-upstream-b-secret-0002"}), text


def edit(path: Path, text: str) -> None:
    """Write as an editor would: in place, no rename."""
    path.write_text(text)


async def until(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the reload"
        await asyncio.sleep(0.05)


async def health(p: Proxy) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(p.url + "/health", headers=p.auth) as response,
    ):
        data: dict[str, Any] = await response.json()
        return data


async def test_a_hand_edit_is_served_within_seconds(mocks, yaml_proxy) -> None:
    _, b, p, text = await start(mocks, yaml_proxy)
    loaded_at = (await health(p))["config"]["loaded_at"]
    edit(p.config_path, text + CHAIN_B)
    await until(lambda: "two" in p.state.routes.chains, timeout_s=15)  # polled each second
    reply = await p.client().chat.completions.with_raw_response.create(
        model="two", messages=MESSAGES
    )
    assert reply.headers["x-429chain-provider"] == "b"
    assert b.requests[-1].headers["authorization"] == "Bearer sk-upstream-b-secret-0002"
    status = (await health(p))["config"]
    assert status["error"] is None and status["path"] == str(p.config_path)
    assert status["loaded_at"] >= loaded_at


async def test_a_broken_edit_keeps_the_old_config_and_says_why(mocks, yaml_proxy, caplog) -> None:
    caplog.set_level(logging.INFO)
    _, _, p, text = await start(mocks, yaml_proxy)
    served = p.state.config
    edit(p.config_path, text + "  - name: [unclosed\n")
    await until(lambda: p.state.config_error is not None)
    error = (await health(p))["config"]["error"]
    assert "YAML syntax error" in error and "line" in error
    assert p.state.config is served
    reply = await p.client().chat.completions.create(model="one", messages=MESSAGES)
    assert reply.choices[0].message.content
    # Valid YAML, invalid config: also refused, also reported.
    edit(p.config_path, text.replace("provider: a", "provider: nope"))
    await until(lambda: "nope" in (p.state.config_error or ""))
    assert p.state.config is served
    # Emptied, or stripped of its keys: refused too, rather than opening the proxy.
    edit(p.config_path, "")
    await until(lambda: "empty" in (p.state.config_error or ""))
    edit(p.config_path, text.replace(f"api_keys: [{PROXY_KEY}]", "api_keys: []"))
    await until(lambda: "api_keys would be empty" in (p.state.config_error or ""))
    assert p.state.config is served
    # Fixed: served again, and the error is gone.
    edit(p.config_path, text + CHAIN_B)
    await until(lambda: "two" in p.state.routes.chains)
    assert (await health(p))["config"]["error"] is None
    assert "Still serving the previous config" in caplog.text
    assert "sk-upstream-a-secret-0001" not in caplog.text


async def test_a_request_in_flight_during_a_reload_completes(mocks, yaml_proxy) -> None:
    a, _, p, text = await start(mocks, yaml_proxy)
    release = asyncio.Event()

    async def held(_: web.Request) -> web.Response:  # answers once the reload has happened
        await release.wait()
        return web.json_response(completion())

    a.script(held)
    call = asyncio.create_task(p.client().chat.completions.create(model="one", messages=MESSAGES))
    await until(lambda: a.in_flight == 1)
    # The chain now points at b; the request already on a must still be answered by a.
    edit(p.config_path, text.replace("provider: a", "provider: b"))
    await until(lambda: p.state.routes.chains["one"].entries[0].provider == "b")
    assert not call.done()
    release.set()
    reply = await call
    assert reply.choices[0].message.content


async def test_tracker_state_survives_a_reload_for_unchanged_entries(mocks, yaml_proxy) -> None:
    a, _, p, text = await start(mocks, yaml_proxy)
    a.script(Reply(429, error_body(429, "slow down"), {"retry-after": "600"}))
    with pytest.raises(openai.RateLimitError):
        await p.client().chat.completions.create(model="one", messages=MESSAGES)
    entry = p.state.routes.chains["one"].entries[0]
    assert p.state.tracker.blocked(entry) is not None
    edit(p.config_path, text + CHAIN_B)
    await until(lambda: "two" in p.state.routes.chains)
    same = p.state.routes.chains["one"].entries[0]
    assert same is not entry  # rebuilt, but keyed the same: still cooling down
    verdict = p.state.tracker.blocked(same)
    assert verdict is not None and verdict.free_at is not None
    assert verdict.free_at - time.time() > 500


async def test_an_api_edit_is_not_loaded_a_second_time(mocks, yaml_proxy) -> None:
    _, _, p, _ = await start(mocks, yaml_proxy)
    headers = {"Authorization": f"Bearer {PROXY_KEY}"}
    body = {"entries": ["b/m"]}
    async with aiohttp.ClientSession() as session:
        url = p.url + "/v1/admin/chains/two"
        async with session.put(url, json=body, headers=headers) as response:
            assert response.status == 201
    config, loaded_at = p.state.config, p.state.loaded_at
    await asyncio.sleep(1.5)  # more than a poll
    assert p.state.config is config and p.state.loaded_at == loaded_at
    assert p.state.config_error is None


class HookedEnv(dict[str, str]):
    """The environment, with a hook run whenever `${B_KEY}` is resolved: during validation.

    Validation is the slow step of an edit or a reload, between reading the file and
    renaming the new version over it: the hook stands in for a big config (by sleeping) or a
    person saving the file from an editor at that moment.
    """

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.hook: Callable[[], None] | None = None
        self.threads: list[threading.Thread] = []

    def get(self, key: str, default: Any = None) -> Any:
        if key == "B_KEY" and self.hook is not None:
            self.threads.append(threading.current_thread())
            self.hook()
        return super().get(key, default)


async def start_hooked(mocks: Any, yaml_proxy: Any) -> tuple[Proxy, HookedEnv]:
    a, b = await mocks(), await mocks()
    env = HookedEnv({"B_KEY": "sk-upstream-b-secret-0002"})
    text = CONFIG.format(key=PROXY_KEY, url_a=a.url, url_b=b.url)
    return await yaml_proxy(text, env=env), env


async def put_chain_two(p: Proxy) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {PROXY_KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            p.url + "/v1/admin/chains/two", json={"entries": ["b/m"]}, headers=headers
        ) as response,
    ):
        body: dict[str, Any] = await response.json()
        return response.status, body


async def test_an_edit_validates_off_the_event_loop(mocks, yaml_proxy) -> None:
    p, env = await start_hooked(mocks, yaml_proxy)
    ticks = 0
    during: list[int] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    def slow_validation() -> None:  # a big config: validation takes a while
        before = ticks
        time.sleep(0.3)
        during.append(ticks - before)

    env.hook = slow_validation
    task = asyncio.ensure_future(ticker())
    try:
        status, _ = await put_chain_two(p)
    finally:
        task.cancel()
    assert status == 201
    assert env.threads and threading.main_thread() not in env.threads
    assert during and min(during) >= 3  # the loop kept running while the edit validated


async def test_a_reload_validates_off_the_event_loop(mocks, yaml_proxy) -> None:
    p, env = await start_hooked(mocks, yaml_proxy)
    env.hook = lambda: None
    edit(p.config_path, p.config_path.read_text() + CHAIN_B)
    await until(lambda: p.state.config.chain("two") is not None)
    assert env.threads and threading.main_thread() not in env.threads


async def test_a_hand_edit_saved_during_an_api_edit_is_kept(mocks, yaml_proxy) -> None:
    p, env = await start_hooked(mocks, yaml_proxy)
    path = p.config_path

    def hand_edit() -> None:
        env.hook = None  # once
        text = path.read_text().replace("# hand-written config", "# hand-written, edited")
        path.write_text(text.replace("        model: m\n", "        model: m2\n", 1))

    env.hook = hand_edit
    status, _ = await put_chain_two(p)
    assert status == 201
    text = path.read_text()
    assert "# hand-written, edited" in text and "model: m2" in text and "name: two" in text
    chain_one = p.state.config.chain("one")
    assert chain_one is not None and chain_one.entries[0].model == "m2"
    assert p.state.config.chain("two") is not None


async def test_a_file_that_keeps_changing_answers_409_and_keeps_the_hand_edit(
    mocks, yaml_proxy
) -> None:
    p, env = await start_hooked(mocks, yaml_proxy)
    path = p.config_path
    edits = iter(range(100))

    def hand_edit() -> None:
        path.write_text(path.read_text() + f"# hand edit {next(edits)}\n")

    env.hook = hand_edit
    status, body = await put_chain_two(p)
    env.hook = None
    assert status == 409
    assert body["error"]["code"] == "config_changed"
    text = path.read_text()
    assert "# hand edit 2" in text and "name: two" not in text


async def test_a_reload_refuses_a_file_over_1_mb_or_without_chains(mocks, yaml_proxy) -> None:
    _, _, p, text = await start(mocks, yaml_proxy)
    config = p.state.config
    edit(p.config_path, text + "# " + "x" * (1024 * 1024) + "\n")
    await until(lambda: p.state.config_error is not None)
    assert "over the limit of 1048576 bytes" in p.state.config_error
    edit(p.config_path, text[: text.index("chains:")])
    await until(lambda: "none are defined" in (p.state.config_error or ""))
    assert p.state.config is config
