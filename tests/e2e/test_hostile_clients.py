"""Clients that send what no SDK would: every answer is a JSON error, none echoes, none stalls.

A raw socket speaks to the real server (the runner `chain429 serve` uses, so aiohttp's parser
errors go through our connection handler), with mock providers on loopback.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from chain429.config.load import load_config
from chain429.http.app import create_app
from chain429.http.protocol import ProxyRunner
from chain429.testing import Reply
from tests.e2e.conftest import PROXY_KEY, make_config

pytestmark = pytest.mark.asyncio

BODY_DEADLINE_S = 0.5
MAX_BODY = 4096
AUTH = f"Authorization: Bearer {PROXY_KEY}\r\n"
CHAT = json.dumps({"model": "default", "messages": [{"role": "user", "content": "hi"}]}).encode()
READ_LIMIT_S = 10.0  # a stalled answer fails the test instead of hanging it


Start = Callable[..., Awaitable[int]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Start]:
    """Start the app on ProxyRunner; returns the port."""
    runners: list[web.AppRunner] = []

    async def start(config: dict[str, Any]) -> int:
        config["settings"] |= {"database_url": "none", "max_body_bytes": MAX_BODY}
        path = tmp_path / f"config-{len(runners)}.yaml"
        path.write_text(json.dumps(config))
        app = create_app(load_config(path, env={}), body_deadline_s=BODY_DEADLINE_S)
        runner = ProxyRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return int(runner.addresses[0][1])

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def port(serve: Start, mocks: Any) -> int:
    upstream = await mocks(default=Reply())
    return await serve(make_config({"a": upstream}, {"default": ["a/m"]}))


async def exchange(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send `head` (+ `body`); read the answer until the server closes or answers in full.

    The socket stays open for writing (a half-close makes aiohttp drop the connection), so a
    body shorter than its Content-Length is a stalled one.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        async with asyncio.timeout(READ_LIMIT_S):
            data = b""
            while not _complete(data):
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
        return data
    finally:
        writer.close()


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def parse(data: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return status, headers, json.loads(body)


def request(method: str, path: str, body: bytes, *extra: str) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        AUTH.strip(),
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_openai_error(body: dict[str, Any], code: str) -> None:
    assert set(body["error"]) == {"message", "type", "code", "param"}
    assert body["error"]["code"] == code


# -- Content-Encoding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/chat/completions"), ("PATCH", "/v1/admin/settings")]
)
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_plain_body_declared_compressed_is_a_400(
    port: int, method: str, path: str, encoding: str
) -> None:
    data = await exchange(port, request(method, path, CHAT, f"Content-Encoding: {encoding}"), CHAT)
    status, headers, body = parse(data)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert_openai_error(body, "invalid_body")


async def test_a_gzip_body_is_decoded_and_served(port: int) -> None:
    packed = gzip.compress(CHAT)
    head = request("POST", "/v1/chat/completions", packed, "Content-Encoding: gzip")
    status, _, body = parse(await exchange(port, head, packed))
    assert status == 200
    assert body["object"] == "chat.completion"


async def test_an_encoding_this_install_cannot_decode_is_a_415(port: int) -> None:
    head = request("POST", "/v1/chat/completions", CHAT, "Content-Encoding: br")
    status, _, body = parse(await exchange(port, head, CHAT))
    assert status == 415
    assert_openai_error(body, "unsupported_content_encoding")


async def test_the_decoded_size_is_what_the_limit_counts(port: int) -> None:
    big = json.dumps({"model": "default", "messages": [{"role": "user", "content": "a" * 9000}]})
    packed = gzip.compress(big.encode())
    assert len(packed) < MAX_BODY < len(big)
    head = request("POST", "/v1/chat/completions", packed, "Content-Encoding: gzip")
    status, _, body = parse(await exchange(port, head, packed))
    assert status == 413
    assert_openai_error(body, "request_too_large")


# -- size and time -----------------------------------------------------------------------------


async def test_a_declared_length_over_the_limit_is_refused_before_the_body(port: int) -> None:
    head = request("POST", "/v1/chat/completions", b"x" * (1024**3))  # 1 GiB announced
    data = await exchange(port, head)  # no byte of the body is ever sent
    status, _, body = parse(data)
    assert status == 413
    assert_openai_error(body, "request_too_large")
    assert str(MAX_BODY) in body["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/chat/completions"), ("PATCH", "/v1/admin/settings")]
)
async def test_a_stalled_body_gets_a_408_at_the_deadline(port: int, method: str, path: str) -> None:
    head = request(method, path, CHAT)
    data = await exchange(port, head, CHAT[:10])  # 10 bytes, then nothing
    status, _, body = parse(data)
    assert status == 408
    assert_openai_error(body, "request_timeout")


# -- what the HTTP parser refuses --------------------------------------------------------------

MARKER = "sk-echo-me-if-you-dare-7777"
MALFORMED = {
    "control byte in a header": (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Bad: {MARKER}\x00\r\n\r\n",
        400,
        "bad_request",
    ),
    "space in a header name": (
        f"GET /health HTTP/1.1\r\nHost: x\r\nBad Name: {MARKER}\r\n\r\n",
        400,
        "bad_request",
    ),
    "over-long header line": (
        f"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: {MARKER}{'a' * 9000}\r\n\r\n",
        431,
        "request_header_fields_too_large",
    ),
    "too many headers": (
        "GET /health HTTP/1.1\r\nHost: x\r\n"
        + "".join(f"X-{i}: {MARKER}\r\n" for i in range(200))
        + "\r\n",
        431,
        "request_header_fields_too_large",
    ),
    "unknown method": (
        f"BREW /{MARKER} HTTP/1.1\r\nHost: x\r\n\r\n",
        501,
        "method_not_implemented",
    ),
    "garbage for a request line": (f"{MARKER}\r\n\r\n", 501, "method_not_implemented"),
    "TLS on the plain port": (f"\x16\x03\x01\x02\x00\x01\x00{MARKER}", 400, "bad_request"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_parser_errors_are_json_and_echo_nothing(port: int, case: str) -> None:
    raw, expected_status, code = MALFORMED[case]
    data = await exchange(port, raw.encode())
    status, headers, body = parse(data)
    assert status == expected_status
    assert headers["content-type"].startswith("application/json")
    assert_openai_error(body, code)
    assert MARKER.encode() not in data
    assert b"aiohttp" not in data.split(b"\r\n\r\n", 1)[1]


async def test_a_flood_of_malformed_requests_costs_one_log_line(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        for raw, _, _ in MALFORMED.values():
            await exchange(port, raw.encode())
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "refused a malformed request" in lines[0].getMessage()
    assert all(r.exc_info is None and r.exc_text is None for r in caplog.records)
    assert all(MARKER not in r.getMessage() for r in caplog.records)
