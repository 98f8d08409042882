"""The built distribution, as a user installs it: sdist -> wheel -> a fresh venv -> the command.

`uv build` makes the sdist and builds the wheel from it (so both must carry the example config
and, when it was built, the web UI). The wheel goes into a new venv that cannot see the source
tree; uv's cache keeps the install to a few seconds. Runs in `make test` (marker `packaging`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

import chain429
from chain429.testing import MockProvider

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
UI_DIST = REPO / "src" / "chain429" / "web" / "dist"
PROXY_KEY = "sk-proxy-wheel-test-0001"


def uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("uv is needed to build the wheel (make setup installs it)")
    return found


@dataclass
class Installed:
    wheel: Path
    sdist: Path
    venv: Path
    built_s: float
    installed_s: float

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("CHAIN429_CONFIG", "VIRTUAL_ENV")}
        return subprocess.run(
            [self.bin("429chain"), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    started = time.monotonic()
    out = root / "dist"
    subprocess.run([uv(), "build", "--out-dir", str(out), str(REPO)], check=True, timeout=300)
    built = time.monotonic()
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    venv = root / "venv"
    subprocess.run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        timeout=300,
    )
    done = time.monotonic()
    print(f"\nwheel: built in {built - started:.1f}s, installed in {done - built:.1f}s")
    return Installed(wheel, sdist, venv, built - started, done - built)


def test_the_wheel_carries_the_data_files_and_the_ui_when_built(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert {
        "chain429/config/example.yaml",
        "chain429/providers/presets.yaml",
        "chain429/py.typed",
        "chain429/demo/run.py",
    } <= names
    if (UI_DIST / "index.html").is_file():
        assert "chain429/web/dist/index.html" in names
        assets = {p.relative_to(UI_DIST).as_posix() for p in UI_DIST.rglob("*") if p.is_file()}
        assert {f"chain429/web/dist/{a}" for a in assets} <= names
    else:
        assert not any(n.startswith("chain429/web/dist/") for n in names)


def test_commands_of_the_installed_wheel(installed: Installed, tmp_path: Path) -> None:
    where = subprocess.run(
        [installed.bin("python"), "-c", "import chain429; print(chain429.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(installed.venv) in where  # the wheel, not the source tree
    version = installed.run("--version", cwd=tmp_path)
    assert version.stdout.strip() == f"429chain {chain429.__version__}"
    init = installed.run("init", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "config" / "config.yaml").is_file()
    check = installed.run("check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "OK" in check.stdout
    demo = installed.run("demo", "--help", cwd=tmp_path)
    assert demo.returncode == 0
    assert "--no-traffic" in demo.stdout


@pytest.fixture
async def upstream() -> AsyncIterator[MockProvider]:
    async with MockProvider(reply_text="Served through the installed wheel.") as mock:
        yield mock


async def test_the_installed_proxy_serves(
    installed: Installed, upstream: MockProvider, tmp_path: Path
) -> None:
    config = {
        "version": 1,
        "settings": {"api_keys": [PROXY_KEY], "port": 0, "database_url": "none"},
        "providers": [
            {"id": "up", "type": "openai-compatible", "base_url": upstream.url, "api_key": "k"}
        ],
        "chains": [{"name": "default", "entries": [{"provider": "up", "model": "m"}]}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    log = tmp_path / "proxy.log"
    port = free_port()
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            installed.bin("429chain"), "-c", str(path), "-p", str(port),
            cwd=tmp_path, stdout=sink, stderr=sink,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            health = await until_healthy(session, base, proc, log)
            assert health["version"] == chain429.__version__
            headers = {"Authorization": f"Bearer {PROXY_KEY}"}
            body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
            async with session.post(
                f"{base}/v1/chat/completions", json=body, headers=headers
            ) as resp:
                assert resp.status == 200, await resp.text()
                answer = await resp.json()
            assert answer["choices"][0]["message"]["content"] == upstream.reply_text
            assert upstream.calls == 1
            if not (UI_DIST / "index.html").is_file():
                pytest.skip(
                    "the web UI is not built (cd web && npm ci && npm run build): "
                    "the proxy was checked, the UI index and asset were not"
                )
            async with session.get(f"{base}/") as resp:
                assert resp.status == 200
                assert "text/html" in resp.headers["Content-Type"]
            asset = next(p for p in (UI_DIST / "assets").iterdir() if p.is_file())
            async with session.get(f"{base}/assets/{asset.name}") as resp:
                assert resp.status == 200
                assert await resp.read() == asset.read_bytes()
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)


def free_port() -> int:
    """A free loopback port (closed again before the proxy binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until_healthy(
    session: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process, log: Path
) -> dict[str, object]:
    async with asyncio.timeout(30):
        while True:
            if proc.returncode is not None:
                raise AssertionError(f"the proxy exited; its log is {log}")
            try:
                async with session.get(f"{base}/health") as resp:
                    if resp.status == 200:
                        health: dict[str, object] = await resp.json()
                        return health
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
