"""`429chain demo`, `make run` without keys, and `429chain health`, as a newcomer runs them.

The demo is a real child process; its printed curl command and openai snippet are run as
printed. The waterfall the demo is meant to show is checked in-process against the same
simulated providers, with their latencies set to zero so it takes seconds, not a minute.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from chain429.config.load import load_config
from chain429.demo.background import Background
from chain429.demo.config import demo_config, new_keys, write_config
from chain429.demo.providers import SIMULATED, Latency
from chain429.demo.traffic import Traffic
from chain429.http.app import create_app
from tests.e2e.test_cli import child_env, free_port, health_status

REPO = Path(__file__).resolve().parents[2]


def read_banner(proc: subprocess.Popen[str], deadline: float) -> list[str]:
    """The demo's stdout up to the last line of the SDK snippet."""
    assert proc.stdout is not None
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("print(reply"):
            return lines
    raise AssertionError(f"no complete banner: {lines}")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    env = child_env()
    for name in ("GROQ_API_KEY", "OPENROUTER_API_KEY"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "chain429", "demo", "-p", str(port), "--no-traffic"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_demo_serves_what_it_prints_and_leaves_no_trace(
    demo: tuple[subprocess.Popen[str], int], tmp_path: Path
) -> None:
    proc, port = demo
    started = time.monotonic()
    lines = read_banner(proc, started + 30)
    text = "\n".join(lines)
    keys = dict(re.findall(r"^\s+(proxy key|admin key|data):\s+(\S+)", text, re.M))
    assert keys["proxy key"].startswith("sk-429chain-demo-")
    assert keys["admin key"].startswith("sk-429chain-admin-")
    assert f"http://127.0.0.1:{port}/v1" in text
    assert "UI:" in text
    data_dir = Path(keys["data"])
    assert data_dir.is_dir()
    while health_status("127.0.0.1", port) is None:
        assert time.monotonic() - started < 30, "the demo never answered /health"
        time.sleep(0.05)

    # The curl command, exactly as printed.
    curl = next(line for line in lines if line.startswith("curl "))
    if shutil.which("curl"):
        out = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60)
        answer = orjson.loads(out.stdout)
        assert answer["choices"][0]["message"]["content"], out.stdout
        served_at = time.monotonic()
        print(f"\ndemo: first request served {served_at - started:.2f}s after the spawn")
    # The openai snippet, exactly as printed.
    snippet = "\n".join(lines[lines.index(next(x for x in lines if x.startswith("from openai"))) :])
    out = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()

    # It wrote its own config into its own directory, never ./config/config.yaml.
    assert (data_dir / "config.yaml").is_file()
    assert not (tmp_path / "config").exists()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not data_dir.exists()  # a temporary data dir is removed on exit


def test_health_command_reports_up_and_down(demo: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = demo
    read_banner(proc, time.monotonic() + 30)
    url = f"http://127.0.0.1:{port}/health"

    def health() -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "chain429", "health", "--url", url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=child_env())

    deadline = time.monotonic() + 30
    while (up := health()).returncode != 0:
        assert time.monotonic() < deadline, up.stderr
        time.sleep(0.1)
    assert orjson.loads(up.stdout)["status"] == "ok"
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    down = health()
    assert down.returncode == 1
    assert url in down.stderr


def test_demo_with_a_data_dir_keeps_it(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "kept"
    args = ["demo", "-p", str(port), "--no-traffic", "--data-dir", str(data)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "chain429", *args],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        read_banner(proc, time.monotonic() + 30)
        deadline = time.monotonic() + 30
        while health_status("127.0.0.1", port) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert code == 0
    assert (data / "config.yaml").is_file()
    assert (data / "429chain.db").is_file()


# -- what the demo shows, in-process and fast ------------------------------------------------


async def test_the_chain_falls_to_its_third_entry_and_recovers(tmp_path: Path) -> None:
    """Groq-like runs out per minute, OpenRouter-like hits its daily cap, the flaky third entry
    serves, and Groq-like serves again once its cooldown ends."""
    instant = Latency((0.0, 0.0), 0.0)
    specs = [replace(s, latency=instant, error_rate=0.0, stall_rate=0.0) for s in SIMULATED]
    background = Background(specs, random.Random(7))
    urls = background.start()
    runner: web.AppRunner | None = None
    try:
        keys = new_keys()
        path = tmp_path / "config.yaml"
        write_config(path, demo_config(specs, urls, keys, tmp_path, "127.0.0.1", 0))
        runner = web.AppRunner(create_app(load_config(path, env={})), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        served: list[str] = []
        headers = {"Authorization": f"Bearer {keys.proxy}"}
        body: dict[str, Any] = {
            "model": "default",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 50,
        }
        async with aiohttp.ClientSession(headers=headers) as session:

            async def ask() -> str:
                async with session.post(f"{url}/v1/chat/completions", json=body) as resp:
                    assert resp.status == 200, await resp.text()
                    return resp.headers["X-429chain-Provider"]

            for _ in range(25):
                served.append(await ask())
                if served[-1] == "flaky":
                    break
            assert served[0] == "groq"
            assert "openrouter" in served
            assert served[-1] == "flaky"  # the third entry
            assert served.index("groq") < served.index("openrouter") < served.index("flaky")
            # Recovery: Groq-like's per-minute bucket refills in seconds.
            async with asyncio.timeout(40):
                while await ask() != "groq":  # noqa: ASYNC110 - polling the proxy itself
                    await asyncio.sleep(0.5)
    finally:
        if runner is not None:
            await runner.cleanup()
        background.stop()


async def test_the_traffic_generator_sends_gently_until_stopped(tmp_path: Path) -> None:
    instant = Latency((0.0, 0.0), 0.0)
    specs = [replace(s, latency=instant, error_rate=0.0, stall_rate=0.0) for s in SIMULATED]
    background = Background(specs, random.Random(3))
    urls = background.start()
    runner: web.AppRunner | None = None
    try:
        keys = new_keys()
        path = tmp_path / "config.yaml"
        write_config(path, demo_config(specs, urls, keys, tmp_path, "127.0.0.1", 0))
        runner = web.AppRunner(create_app(load_config(path, env={})), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        traffic = Traffic(url, keys.proxy, random.Random(3), interval_s=0.02, burst_every=3)
        task = asyncio.create_task(traffic.run())
        async with asyncio.timeout(20):
            while traffic.answered.get(200, 0) < 8:  # noqa: ASYNC110 - a counter, no event
                await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert traffic.in_flight == 0
        assert traffic.sent == sum(traffic.answered.values())
        assert traffic.in_flight <= traffic.max_in_flight
    finally:
        if runner is not None:
            await runner.cleanup()
        background.stop()


# -- make run -----------------------------------------------------------------------------------


def make_run(tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    base = child_env()
    for name in re.findall(
        r"\$\{([A-Z0-9_]+)\}", (REPO / "src/chain429/config/example.yaml").read_text()
    ):
        if name.endswith(("_KEY", "_TOKEN")):
            base.pop(name, None)
    base.update(env)
    return subprocess.Popen(
        # -o ui: never (re)build the UI here; `make test` built it, and tests/ui serves it.
        ["make", "-s", "-o", "ui", "-C", str(REPO), "run", f"ARGS=-p {free_port()}"],
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop_group(proc: subprocess.Popen[str], *, kill: bool = True) -> str:
    """Stop `make run` and what it started (SIGTERM to its process group); its output."""
    if kill and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out


def first_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline()


def line_starting(proc: subprocess.Popen[str], prefix: str) -> str:
    """The first line that starts with `prefix`, past any UI build's output (`make run`
    builds a stale UI first); "" if the output ends before it."""
    for _ in range(1000):
        line = first_line(proc)
        if line.startswith(prefix) or not line:
            return line
    return ""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_without_config_or_keys_is_the_demo(tmp_path: Path) -> None:
    proc = make_run(tmp_path, CHAIN429_CONFIG=str(tmp_path / "absent.yaml"))
    try:
        line = line_starting(proc, "make run: ")
        assert line.startswith("make run: no ")
        assert "running the demo" in line
        assert "export GROQ_API_KEY=" in line
        assert first_line(proc).startswith("429chain demo: simulated free tiers")
    finally:
        stop_group(proc)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_with_a_key_or_a_config_serves_the_real_one(tmp_path: Path) -> None:
    # A key set: the real start (here: an explicitly named config that is missing, an error).
    proc = make_run(tmp_path, CHAIN429_CONFIG=str(tmp_path / "absent.yaml"), GROQ_API_KEY="gsk_x")
    out = stop_group(proc, kill=False)  # it exits on its own
    assert proc.returncode != 0
    assert "demo" not in out
    assert "absent.yaml" in out
    # A config present: it is served, no demo.
    config = tmp_path / "config.yaml"
    subprocess.run(
        [sys.executable, "-m", "chain429", "init", str(config)], check=True, capture_output=True
    )
    proc = make_run(tmp_path, CHAIN429_CONFIG=str(config))
    seen: list[str] = []
    try:
        while not seen or "listening on" not in seen[-1]:
            seen.append(first_line(proc))
            assert seen[-1], seen  # output ended before the proxy listened
    finally:
        stop_group(proc)
    assert not any("demo" in line for line in seen)
