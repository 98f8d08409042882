"""The real `429chain` process: CLI commands, start-up, flags, signals, logs and the sync SDK.

Every test runs `python -m chain429 ...` as a child process and talks to it over loopback, with
MockProvider upstreams running in the test's event loop. A serving proxy is stopped with SIGTERM;
aiohttp turns that into a graceful shutdown, so the exit code is 0 (-15 is accepted as well, for a
signal that lands before the handlers are installed).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

import chain429
from chain429.providers.presets import load_presets
from chain429.testing import MockProvider, Reply, Stream, chunk, completion, error_body

PROXY_KEY = "sk-proxy-cli-test-0001"
UPSTREAM_KEY = "sk-upstream-SECRET-abcdef123456"
CLEAN_EXIT = (0, -signal.SIGTERM)
STOP_TIMEOUT_S = 15.0  # an idle stop takes well under 1 s; a 30 s grace wait must fail
MESSAGES: Any = [{"role": "user", "content": "hi"}]


# -- helpers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CHAIN429_CONFIG"}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command that ends on its own (version, init, check, a refused start)."""
    return subprocess.run(
        [sys.executable, "-m", "chain429", *args],
        cwd=cwd,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def write_config(
    path: Path,
    providers: dict[str, str],
    chains: dict[str, list[str]],
    settings: dict[str, Any] | None = None,
    api_key: str = UPSTREAM_KEY,
) -> Path:
    """Providers by id -> base URL; chains as lists of 'provider/model'. JSON is YAML."""
    state_db = str(path.with_suffix(".db"))  # tracker state: never shared between tests
    config = {
        "version": 1,
        "settings": {"api_keys": [PROXY_KEY], "database_url": state_db, **(settings or {})},
        "providers": [
            {"id": pid, "type": "openai-compatible", "base_url": url, "api_key": api_key}
            for pid, url in providers.items()
        ],
        "chains": [
            {
                "name": name,
                "entries": [
                    {"provider": e.split("/", 1)[0], "model": e.split("/", 1)[1]} for e in es
                ],
            }
            for name, es in chains.items()
        ],
    }
    path.write_text(json.dumps(config, indent=2))
    return path


def simple_config(tmp_path: Path, url: str = "http://127.0.0.1:9/v1", **settings: Any) -> Path:
    return write_config(tmp_path / "config.yaml", {"up": url}, {"default": ["up/m1"]}, settings)


def assert_no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


def health_status(host: str, port: int) -> tuple[int, bytes] | None:
    """GET /health once; None while nothing listens yet."""
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return None
    finally:
        conn.close()


@dataclass
class ProxyProcess:
    """A `429chain` child process; its output goes to files, so no pipe ever fills up."""

    proc: subprocess.Popen[bytes]
    port: int
    host: str
    out_path: Path
    err_path: Path
    spawned_at: float

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def wait_healthy(self, timeout: float = 10.0) -> tuple[float, dict[str, Any]]:
        """Poll /health every 10 ms; return (seconds since spawn, body) at the first 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = health_status(self.host, self.port)
            if reply is not None and reply[0] == 200:
                return time.perf_counter() - self.spawned_at, json.loads(reply[1])
            if self.proc.poll() is not None:
                raise AssertionError(f"429chain exited with {self.proc.returncode}: {self.err}")
            time.sleep(0.01)
        raise AssertionError(f"429chain was not healthy within {timeout}s: {self.err}")

    async def healthy(self) -> dict[str, Any]:
        return (await asyncio.to_thread(self.wait_healthy))[1]

    def stop(self) -> int:
        """SIGTERM, then the exit code; the shutdown must be quick and clean."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"429chain ignored SIGTERM for {STOP_TIMEOUT_S}s") from None
        assert_no_traceback(self.out, self.err)
        return code

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")


class Spawner:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[ProxyProcess] = []

    def __call__(
        self,
        *args: str,
        port: int | None = None,
        host: str = "127.0.0.1",
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> ProxyProcess:
        port = free_port() if port is None else port
        n = len(self.procs)
        out_path, err_path = self.tmp_path / f"proxy{n}.out", self.tmp_path / f"proxy{n}.err"
        argv = [sys.executable, "-m", "chain429", *args]
        if "-p" not in args and "--port" not in args:
            argv += ["-p", str(port)]
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(
                argv,
                cwd=cwd or self.tmp_path,  # never the checkout: a proxy writes ./data/ there
                env=child_env(**(env or {})),
                stdout=out,
                stderr=err,
            )
        spawned = ProxyProcess(proc, port, host, out_path, err_path, started)
        self.procs.append(spawned)
        return spawned

    def cleanup(self) -> None:
        for spawned in self.procs:
            if spawned.proc.poll() is None:
                spawned.proc.kill()
            spawned.proc.wait()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawner]:
    spawner = Spawner(tmp_path)
    yield spawner
    spawner.cleanup()


@pytest.fixture
async def mock() -> Any:
    started: list[MockProvider] = []

    async def make(**kw: Any) -> MockProvider:
        provider = MockProvider(**kw)
        await provider.start()
        started.append(provider)
        return provider

    yield make
    for provider in started:
        await provider.close()


# -- version, init, check ----------------------------------------------------------------------


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"429chain {chain429.__version__}"
    assert chain429.__version__ == version("429chain")  # the package metadata agrees


def test_init_writes_a_private_commented_config_covering_every_preset(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "config.yaml"
    result = run_cli("init", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "api_key: ${GROQ_API_KEY}" in text
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) > 40
    types = set(re.findall(r"^\s+type: (\S+)", text, re.MULTILINE))
    assert set(load_presets()) <= types
    # The next steps name the file and the generated proxy key, which the file holds.
    assert "Next steps" in result.stdout
    assert str(path) in result.stdout
    key = re.search(r"sk-429chain-\S+", result.stdout)
    assert key is not None
    assert json.dumps(key.group(0)) in text
    assert run_cli("check", "-c", str(path), cwd=tmp_path).returncode == 0

    # A second init never overwrites, whichever way the path is given.
    before = path.read_bytes()
    for args in (("init", str(path)), ("init", "-c", str(path))):
        again = run_cli(*args, cwd=tmp_path)
        assert again.returncode != 0
        assert "already exists" in again.stderr
        assert_no_traceback(again.stdout, again.stderr)
    assert path.read_bytes() == before


def test_check_accepts_a_good_config(tmp_path: Path) -> None:
    result = run_cli("check", "-c", str(simple_config(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert_no_traceback(result.stdout, result.stderr)


def test_check_refuses_an_empty_config(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    result = run_cli("check", "-c", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert "chains: none are defined" in result.stderr
    assert "OK" not in result.stdout
    assert_no_traceback(result.stdout, result.stderr)


def test_check_reports_an_unterminated_quote_where_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "quote.yaml"
    path.write_text(
        "providers:\n"  # 1
        "  - id: up\n"  # 2
        "    type: openai-compatible\n"  # 3
        "    base_url: http://127.0.0.1:9/v1\n"  # 4
        '    name: "never closed\n'  # 5
        "chains:\n"  # 6
        "  - name: default\n"  # 7
        "    entries:\n"  # 8
        "      - {provider: up, model: m1}\n"  # 9
    )
    result = run_cli("check", "-c", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert "YAML syntax error" in result.stderr and "(line 5)" in result.stderr, result.stderr


def test_check_lists_every_problem_with_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "version: 1\n"  # 1
        "settings:\n"  # 2
        "  default_chain: defualt\n"  # 3
        "providers:\n"  # 4
        "  - id: groq\n"  # 5
        "    type: openai-compatible\n"  # 6
        "    base_url: http://127.0.0.1:9/v1\n"  # 7
        "chains:\n"  # 8
        "  - name: default\n"  # 9
        "    entries:\n"  # 10
        "      - {provider: groq, model: m}\n"  # 11
        "  - name: default\n"  # 12
        "    entries:\n"  # 13
        "      - {provider: grok, model: m}\n"  # 14
    )
    result = run_cli("check", "-c", str(path), cwd=tmp_path)
    assert result.returncode != 0
    assert_no_traceback(result.stdout, result.stderr)
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert problems == [
        "  - settings.default_chain: chain 'defualt' does not exist; did you mean 'default'? "
        "(line 3)",
        "  - chains[1].name: duplicate name 'default' (first used at chains[0]) (line 12)",
        "  - chains[1].entries[0].provider: unknown provider 'grok'; did you mean 'groq'? "
        "(line 14)",
    ]
    assert "3 problems" in result.stderr


# -- refusing to start -------------------------------------------------------------------------


def _broken_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nchains:\n  - name: a\n    entries: [{provider: nope, model: m}]\n")
    return path


def _bad_syntax(tmp_path: Path) -> Path:
    path = tmp_path / "syntax.yaml"
    path.write_text("settings:\n  port: [3429\n")
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: tmp / "missing.yaml", "file not found"),
        (_broken_yaml, "unknown provider 'nope'"),
        (_bad_syntax, "YAML syntax error"),
    ],
    ids=["missing", "broken", "syntax"],
)
def test_serving_a_missing_or_broken_config_explains_on_one_screen(
    tmp_path: Path, make: Any, expected: str
) -> None:
    path: Path = make(tmp_path)
    for args, env in ((("-c", str(path)), {}), ((), {"CHAIN429_CONFIG": str(path)})):
        result = run_cli(*args, "-p", str(free_port()), cwd=tmp_path, **env)
        assert result.returncode != 0
        assert_no_traceback(result.stdout, result.stderr)
        assert expected in result.stderr
        assert str(path) in result.stderr
        assert len(result.stderr.splitlines()) <= 25
    assert not (tmp_path / "config").exists()  # an explicit path is never replaced by a default


def test_refuses_to_bind_all_interfaces_without_proxy_keys(tmp_path: Path) -> None:
    path = simple_config(tmp_path, api_keys=[])
    result = run_cli("-c", str(path), "--host", "0.0.0.0", "-p", str(free_port()), cwd=tmp_path)
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert_no_traceback(result.stdout, result.stderr)


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("-c", str(simple_config(tmp_path)), "-p", str(port), cwd=tmp_path)
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert_no_traceback(result.stdout, result.stderr)


# -- serving -----------------------------------------------------------------------------------


def test_a_corrupt_state_file_does_not_stop_the_proxy(tmp_path: Path, spawn: Spawner) -> None:
    path = simple_config(tmp_path)
    (tmp_path / "config.db").write_bytes(b"not a database\n" * 500)
    proxy = spawn("-c", str(path))
    _, body = proxy.wait_healthy()
    assert body["quota_state"] == {"persisted": False, "recreated": 0}  # no path for strangers
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=5)
    conn.request("GET", "/health", headers={"Authorization": f"Bearer {PROXY_KEY}"})
    admin = json.loads(conn.getresponse().read())
    conn.close()
    assert "in memory only" in admin["quota_state"]["error"]
    assert proxy.stop() in CLEAN_EXIT


def test_health_answers_once_started(tmp_path: Path, spawn: Spawner) -> None:
    # How soon it answers is a figure, not a verdict: `python -m bench.startup` measures it.
    proxy = spawn("-c", str(simple_config(tmp_path)))
    _, body = proxy.wait_healthy()
    assert body["status"] == "ok"
    assert body["version"] == chain429.__version__
    assert isinstance(body["uptime_s"], int | float)
    assert proxy.stop() in CLEAN_EXIT


def test_no_config_at_the_default_path_writes_one_and_serves(
    tmp_path: Path, spawn: Spawner
) -> None:
    proxy = spawn(cwd=tmp_path)  # no -c, no CHAIN429_CONFIG
    proxy.wait_healthy()
    written = tmp_path / "config" / "config.yaml"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    key = re.search(r"sk-429chain-\S+", proxy.err)
    assert key is not None
    assert json.dumps(key.group(0)) in written.read_text()
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {key.group(0)}"})
    response = conn.getresponse()
    models = json.loads(response.read())
    conn.close()
    assert response.status == 200
    assert {"default", "fast", "coding"} <= {m["id"] for m in models["data"]}
    assert proxy.stop() in CLEAN_EXIT


def test_port_host_and_config_from_the_environment(tmp_path: Path, spawn: Spawner) -> None:
    # CHAIN429_CONFIG names the config; -p wins over settings.port; --host picks the address.
    configured, port = free_port(), free_port()
    path = write_config(
        tmp_path / "env.yaml",
        {"up": "http://127.0.0.1:9/v1"},
        {"from-env": ["up/m"]},
        {"port": configured},
    )
    proxy = spawn(
        "--host", "127.0.0.2", port=port, env={"CHAIN429_CONFIG": str(path)}, host="127.0.0.2"
    )
    proxy.wait_healthy()
    assert health_status("127.0.0.1", port) is None  # bound to 127.0.0.2 only
    assert health_status("127.0.0.2", configured) is None
    conn = http.client.HTTPConnection("127.0.0.2", port, timeout=5)
    conn.request("GET", "/v1/models", headers={"x-api-key": PROXY_KEY})
    ids = [m["id"] for m in json.loads(conn.getresponse().read())["data"]]
    conn.close()
    assert ids == ["from-env", "up/m"]
    assert proxy.stop() in CLEAN_EXIT
    assert f"listening on http://127.0.0.2:{port}/v1" in proxy.err


def test_log_format_json_writes_json_lines(tmp_path: Path, spawn: Spawner) -> None:
    proxy = spawn(
        "-c", str(simple_config(tmp_path)), "--log-format", "json", "--log-level", "debug"
    )
    proxy.wait_healthy()
    assert proxy.stop() in CLEAN_EXIT
    lines = [json.loads(line) for line in proxy.err.splitlines() if line.strip()]
    assert lines
    assert all({"ts", "level", "msg"} <= line.keys() for line in lines)
    assert any("listening on" in line["msg"] and line["level"] == "info" for line in lines)


def test_sigterm_stops_the_proxy_quickly(tmp_path: Path, spawn: Spawner) -> None:
    proxy = spawn("-c", str(simple_config(tmp_path)))
    proxy.wait_healthy()
    code = proxy.stop()  # fails if the proxy ignores SIGTERM for STOP_TIMEOUT_S
    assert code in CLEAN_EXIT
    assert health_status("127.0.0.1", proxy.port) is None


# -- the official sync SDK against the real process ---------------------------------------------

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
}


def _sync_client_calls(base_url: str) -> dict[str, Any]:
    """Runs in a worker thread: the sync client blocks, the mocks keep serving on the loop."""
    seen: dict[str, Any] = {}
    with openai.OpenAI(base_url=base_url, api_key=PROXY_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="default", messages=MESSAGES)
        seen["plain"] = raw.parse().choices[0].message.content
        seen["plain_headers"] = {k: v for k, v in raw.headers.items() if k.startswith("x-429chain")}
        stream = client.chat.completions.create(model="default", messages=MESSAGES, stream=True)
        seen["stream"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        tool = client.chat.completions.create(model="default", messages=MESSAGES, tools=TOOLS)
        seen["tool_calls"] = tool.choices[0].message.tool_calls
        streamed = client.chat.completions.create(
            model="default", messages=MESSAGES, tools=TOOLS, stream=True
        )
        deltas = [c.choices[0].delta.tool_calls for c in streamed if c.choices]
        seen["tool_deltas"] = [d for ds in deltas if ds for d in ds]
        try:
            client.chat.completions.create(model="exhausted", messages=MESSAGES)
        except openai.RateLimitError as err:
            seen["exhausted"] = (err.status_code, err.response.headers.get("retry-after"))
    return seen


async def test_sync_openai_client_through_the_process(
    tmp_path: Path, spawn: Spawner, mock: Any
) -> None:
    limited = await mock(default=Reply(429, error_body(429), {"retry-after": "30"}))
    serving = await mock()
    serving.script(
        Reply(),
        Stream(),
        Reply(body=completion(None, tool_calls=[TOOL_CALL])),
        Stream(
            events=[
                chunk(role="assistant", tool_calls=[{"index": 0, **TOOL_CALL}]),
                chunk(finish_reason="tool_calls"),
            ]
        ),
    )
    path = write_config(
        tmp_path / "sdk.yaml",
        {"limited": limited.url, "serving": serving.url},
        {"default": ["limited/m1", "serving/m2"], "exhausted": ["limited/m3"]},
    )
    proxy = spawn("-c", str(path))
    await proxy.healthy()
    seen = await asyncio.to_thread(_sync_client_calls, f"{proxy.url}/v1")

    assert seen["plain"] == "Hello! This is the mock provider answering."
    assert seen["plain_headers"]["x-429chain-provider"] == "serving"
    assert seen["plain_headers"]["x-429chain-attempts"] == "2"
    assert seen["stream"] == "Hello! This is the mock provider answering."
    assert seen["tool_calls"][0].function.name == "get_weather"
    assert seen["tool_deltas"][0].function.arguments == '{"city":"Oslo"}'
    status, retry_after = seen["exhausted"]
    assert status == 429
    assert retry_after is not None
    assert int(retry_after) >= 1
    tool_requests = [r.json for r in serving.requests if r.json and "tools" in r.json]
    assert [r["tools"] for r in tool_requests] == [TOOLS, TOOLS]
    assert all(r["model"] == "m2" for r in tool_requests)
    assert proxy.stop() in CLEAN_EXIT


# -- secrets -----------------------------------------------------------------------------------


def _echo_key(status: int) -> Any:
    """A careless upstream that quotes the key it was sent back in its error message."""

    async def handler(request: web.Request) -> web.Response:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = error_body(status, f"Incorrect API key provided: {sent}. Key {sent} is no good.")
        return web.json_response(body, status=status)

    return handler


@pytest.mark.parametrize(
    "key",
    [
        UPSTREAM_KEY,
        "Xk9Qw3Zr7Lm2Np5Tv8Yb4Hc6Jd1Fg0Sa",  # a Mistral-style key: no recognisable prefix
    ],
    ids=["sk-prefixed", "no-prefix"],
)
async def test_upstream_keys_never_reach_the_logs(
    tmp_path: Path, spawn: Spawner, mock: Any, key: str
) -> None:
    bad_key = await mock(default=_echo_key(401))
    broken = await mock(default=_echo_key(500))
    limited = await mock(default=_echo_key(429))
    path = write_config(
        tmp_path / "secret.yaml",
        {"bad": bad_key.url, "broken": broken.url, "limited": limited.url},
        {"default": ["bad/m", "broken/m", "limited/m"], "quota": ["limited/m2"]},
        api_key=key,
    )
    proxy = spawn("-c", str(path), "--log-level", "debug")
    await proxy.healthy()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {PROXY_KEY}"}) as http_:
        for model, stream in (("default", False), ("default", True), ("quota", False)):
            body = {"model": model, "messages": MESSAGES, "stream": stream}
            async with http_.post(f"{proxy.url}/v1/chat/completions", json=body) as response:
                assert response.status in (429, 503)
                error = (await response.json())["error"]
                assert error["code"] == "all_providers_exhausted"
    assert bad_key.calls >= 1
    assert broken.calls >= 1
    assert limited.calls >= 1
    assert proxy.stop() in CLEAN_EXIT
    logs = proxy.out + proxy.err
    assert "Tried 3: bad/m (401 invalid API key)" in logs  # the failures were logged ...
    assert key not in logs  # ... without the key
    assert key[-12:] not in logs


STATS_PATHS = (
    "/v1/stats/requests",
    "/v1/stats/summary?since=0",
    "/v1/stats/timeseries?bucket=minute",
    "/v1/stats/health",
    "/v1/stats/savings",
)

# Loaded by the child through PYTHONPATH: logs each import (thread, module, time), and holds the
# first import of SQLAlchemy in a worker thread (the request log's opening) at a gate: it writes
# its thread id to the file `at_gate`, and goes on once the file `go` exists.
IMPORT_WATCH = """
import os, sys, threading, time
_dir = %r
_log = open(os.path.join(_dir, "imports.log"), "a", buffering=1)
_held = []
def _watch(event, args):
    if event != "import":
        return
    name = args[0]
    _log.write(f"{threading.get_ident()} {time.monotonic()} {name}\\n")
    worker = threading.current_thread() is not threading.main_thread()
    if worker and name.startswith("sqlalchemy") and not _held:
        _held.append(name)
        with open(os.path.join(_dir, "at_gate"), "w") as gate:
            gate.write(str(threading.get_ident()))
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(_dir, "go")) and time.monotonic() < deadline:
            time.sleep(0.01)
sys.addaudithook(_watch)
"""

SQL_MODULES = ("sqlalchemy", "chain429.storage.queries", "chain429.storage.tables")


def test_stats_asked_while_the_log_opens_wait_for_it(tmp_path: Path, spawn: Spawner) -> None:
    # The log store imports SQLAlchemy in a worker thread after the server listens. A stats
    # handler that imported the queries meanwhile met SQLAlchemy's modules half-made: a 500, seen
    # in CI's container test. Here the worker's import is held open while stats requests come
    # in; no other thread may import SQLAlchemy (or what needs it) until it is done.
    watch = tmp_path / "watch"
    watch.mkdir()
    (watch / "sitecustomize.py").write_text(IMPORT_WATCH % str(watch))
    path = os.pathsep.join(filter(None, [str(watch), os.environ.get("PYTHONPATH")]))
    proxy = spawn("-c", str(simple_config(tmp_path)), env={"PYTHONPATH": path})
    proxy.wait_healthy(timeout=60)
    imports = watch / "imports.log"

    def sql_imports_outside(worker: str) -> list[str]:
        events = [line.split(" ", 2) for line in imports.read_text().splitlines()]
        return [n for thread, _, n in events if thread != worker and n.startswith(SQL_MODULES)]

    async def ask_all() -> list[tuple[str, int]]:
        headers = {"Authorization": f"Bearer {PROXY_KEY}"}
        async with aiohttp.ClientSession(proxy.url, headers=headers) as session:

            async def ask(path: str) -> tuple[str, int]:
                async with session.get(path) as response:
                    await response.read()
                    return path, response.status

            asked = asyncio.gather(*(ask(p) for p in STATS_PATHS * 2))
            for _ in range(6000):  # the worker reaches the gate (up to 60 s)
                if (watch / "at_gate").exists():
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the request log's opening never imported SQLAlchemy")
            worker = (watch / "at_gate").read_text()
            for _ in range(200):  # give the requests 2 s to reach their handlers; a handler
                if sql_imports_outside(worker):  # that imports SQLAlchemy shows up at once
                    break
                await asyncio.sleep(0.01)
            (watch / "go").touch()
            return await asked

    answers = asyncio.run(asyncio.wait_for(ask_all(), 120))
    assert [status for _, status in answers] == [200] * len(answers), answers
    assert proxy.stop() in CLEAN_EXIT
    assert_no_traceback(proxy.err)
    events = [line.split(" ", 2) for line in imports.read_text().splitlines()]
    worker = next(thread for thread, _, name in events if name.startswith("sqlalchemy.ext.async"))
    held = [float(t) for thread, t, _ in events if thread == worker]
    meanwhile = [
        name
        for thread, t, name in events
        if thread != worker and min(held) <= float(t) <= max(held) and name.startswith(SQL_MODULES)
    ]
    assert meanwhile == []
