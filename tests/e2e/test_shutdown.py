"""SIGTERM on the real process: every answer given has its row, no key leaks, and what is still
running when the grace ends is told so (`shutdown`) rather than cut silently."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from chain429.testing import Reply, Stream, chunk

pytestmark = pytest.mark.asyncio

PROXY_KEY = "sk-proxy-shutdown-0001"
UPSTREAM_KEY = "sk-upstream-SECRET-known-0042"
GRACE_S = 10  # long enough that a doubled grace (20 s) is far from one grace plus a busy loop
CONFIG = """\
version: 1
settings:
  api_keys: ["{proxy_key}"]
  database_url: {db}
  log_level: info
providers:
  - {{id: slow, type: openai-compatible, base_url: "{slow}", api_key: "{key}"}}
  - {{id: streamy, type: openai-compatible, base_url: "{streamy}", api_key: "{key}"}}
chains:
  - {{name: slow, entries: [{{provider: slow, model: m}}]}}
  - {{name: streamy, entries: [{{provider: streamy, model: m}}]}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_healthy(url: str, session: aiohttp.ClientSession) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{url}/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.02)
    raise AssertionError("the proxy never became healthy")


async def one(session: aiohttp.ClientSession, url: str, chain: str, i: int) -> tuple[str, bytes]:
    """'answered' when a whole response came back, else why not."""
    body = {"model": chain, "messages": [{"role": "user", "content": f"q{i}"}]}
    if chain == "streamy":
        body["stream"] = True
    try:
        async with session.post(
            f"{url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {PROXY_KEY}"},
        ) as response:
            data = await response.read()
            done = chain != "streamy" or data.endswith(b"data: [DONE]\n\n")
            return ("answered" if done else "cut"), data
    except aiohttp.ClientError as exc:
        return f"refused: {type(exc).__name__}", b""


async def test_sigterm_under_load_loses_no_row_and_leaks_no_key(mocks, tmp_path: Path) -> None:
    slow = await mocks(default=Reply(200, None, delay=0.6))
    streamy = await mocks(default=Stream(interval=0.1))
    db = tmp_path / "log.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(
            proxy_key=PROXY_KEY, db=db, slow=slow.url, streamy=streamy.url, key=UPSTREAM_KEY
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "proxy.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "chain429",
            "-c",
            str(config),
            "-p",
            str(port),
            stdout=sink,
            stderr=sink,
        )
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_healthy(url, session)
        chains = ["slow", "streamy"] * 30
        tasks = [asyncio.create_task(one(session, url, c, i)) for i, c in enumerate(chains)]
        for _ in range(1000):  # wait (up to 10 s) until every request has reached its upstream
            if slow.in_flight + streamy.in_flight == len(chains):
                break
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        late = asyncio.create_task(one(session, url, "slow", 999))  # after the signal
        results = await asyncio.gather(*tasks)
        late_status, _ = await late
        code = await asyncio.wait_for(proc.wait(), 20)
    assert code in (0, -signal.SIGTERM)
    answered = sum(1 for status, _ in results if status == "answered")
    assert [s for s, _ in results if s != "answered"] == []
    # A request that arrives after the signal is either refused or answered, and logged if so.
    answered += late_status == "answered"
    with sqlite3.connect(db) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM requests").fetchone()
        (served,) = conn.execute(
            "SELECT count(*) FROM requests WHERE outcome = 'success'"
        ).fetchone()
    assert rows == answered
    assert served == answered
    # The grep of the issue: the full key is nowhere.
    for path in await asyncio.to_thread(lambda: list(tmp_path.iterdir())):
        if path.name.startswith(("log.db", "proxy.log")):
            assert UPSTREAM_KEY.encode() not in path.read_bytes(), path.name
    for _, data in results:
        assert UPSTREAM_KEY.encode() not in data
    assert b"chat completion" in log.read_bytes()  # the access log was written
    assert slow.calls + streamy.calls == answered


async def test_what_outlives_the_grace_is_ended_with_a_shutdown_error(
    mocks, tmp_path: Path
) -> None:
    """A 3 s grace: the stream goes on through it, then gets an error event, not [DONE]; an
    Anthropic stream on /v1/messages gets Anthropic's error event, not message_stop. The cut
    comes after one grace, not two (aiohttp's own shutdown waited twice)."""
    slow = await mocks(default=Reply(200, None, delay=60))
    long_stream = [chunk(role="assistant", content="x"), *[chunk(content="x")] * 600]
    streamy = await mocks(default=Stream(long_stream, interval=0.1))  # a minute of chunks
    db = tmp_path / "log.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(
            proxy_key=PROXY_KEY, db=db, slow=slow.url, streamy=streamy.url, key=UPSTREAM_KEY
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "proxy.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "chain429",
            "-c",
            str(config),
            "-p",
            str(port),
            "--shutdown-grace",
            str(GRACE_S),
            stdout=sink,
            stderr=sink,
        )
    headers = {"Authorization": f"Bearer {PROXY_KEY}"}
    signalled = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        await wait_healthy(url, session)

        async def stream() -> tuple[list[bytes], int, float]:
            body = {"model": "streamy", "messages": [{"role": "user", "content": "q"}]}
            events, after_signal, last_at = [], 0, 0.0
            async with session.post(
                f"{url}/v1/chat/completions", json=body | {"stream": True}, headers=headers
            ) as response:
                async for line in response.content:
                    if line.startswith(b"data: "):
                        events.append(line.strip())
                        after_signal += signalled.is_set()
                        last_at = time.monotonic()
            return events, after_signal, last_at

        async def non_stream() -> tuple[int, dict[str, object]]:
            body = {"model": "slow", "messages": [{"role": "user", "content": "q"}]}
            async with session.post(
                f"{url}/v1/chat/completions", json=body, headers=headers
            ) as response:
                return response.status, await response.json()

        async def anthropic_stream() -> list[bytes]:
            body = {"model": "streamy", "max_tokens": 50, "stream": True}
            body["messages"] = [{"role": "user", "content": "q"}]
            async with session.post(f"{url}/v1/messages", json=body, headers=headers) as response:
                return [line.strip() async for line in response.content if line.strip()]

        streaming = asyncio.create_task(stream())
        waiting = asyncio.create_task(non_stream())
        translated = asyncio.create_task(anthropic_stream())
        for _ in range(3000):
            if slow.in_flight == 1 and streamy.in_flight == 2:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the three requests were not all in flight before SIGTERM")
        signalled_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        signalled.set()
        (events, after_signal, cut_at), (status, answer), anthropic_lines = await asyncio.wait_for(
            asyncio.gather(streaming, waiting, translated), 60
        )
        code = await asyncio.wait_for(proc.wait(), 30)  # the upstreams would take a minute
    assert code in (0, -signal.SIGTERM)
    # The stream went on during the grace, then ended with an OpenAI-shaped error event.
    assert after_signal >= 2
    # One grace, not two. The cut cannot come before the grace (the clock started before the
    # signal was sent). Past it, only the signal's delivery and the loop's scheduling remain:
    # milliseconds when idle, so a bound of grace + 8 s leaves a busy machine 100x that. A
    # doubled grace cuts at 20 s or later, past the bound by at least 2 s.
    assert GRACE_S <= cut_at - signalled_at < 2 * GRACE_S - 2
    assert b"[DONE]" not in b"".join(events)
    last = json.loads(events[-1].removeprefix(b"data: "))
    assert last["error"]["code"] == "shutdown"
    assert set(last["error"]) == {"message", "type", "code", "param"}
    assert (status, answer["error"]["code"]) == (503, "shutdown")  # type: ignore[index]
    assert anthropic_lines[0] == b"event: message_start"
    assert anthropic_lines[-2] == b"event: error"
    assert json.loads(anthropic_lines[-1].removeprefix(b"data: "))["type"] == "error"
    assert b"event: message_stop" not in anthropic_lines
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT chain, status, outcome, endpoint FROM requests ORDER BY chain, endpoint"
        ).fetchall()
    assert rows == [
        ("slow", 503, "shutdown", "/v1/chat/completions"),
        ("streamy", 200, "shutdown", "/v1/chat/completions"),
        ("streamy", 200, "shutdown", "/v1/messages"),
    ]
    assert b"Traceback" not in log.read_bytes()
