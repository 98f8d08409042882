"""A minimal, fast OpenAI-compatible upstream for the benchmark: asyncio.Protocol on uvloop.

It must be much faster than the proxy under test, so it parses only what it needs (where the
headers end, Content-Length, the request line) and answers from canned bytes built once:

- `POST /v1/chat/completions`: a small `chat.completion` JSON; with `"stream": true` in the
  body, an SSE stream of N `chat.completion.chunk` events (chunked transfer-encoding, keep-alive),
  a usage chunk when `"include_usage": true` appears, then `data: [DONE]`;
- `GET /health`: `ok`; `GET /stats`: JSON counters (requests, streams), to check the proxy
  called upstream once per request.

Run it alone with `python -m bench.fastmock --port 8001`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
from dataclasses import dataclass
from typing import Literal, cast

import orjson

from chain429.testing.responses import chunk, completion, usage_chunk

StreamWrites = Literal["each", "burst"]

_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
_USAGE_RE = re.compile(rb'"include_usage"\s*:\s*true')
_WORDS = ("Hello", "!", " This", " is", " the", " fast", " mock", " answering", ".")
PROMPT_TOKENS = 12


def _head(status: str, content_type: str, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}"]
    if length is None:
        lines += ["Transfer-Encoding: chunked", "Cache-Control: no-cache"]
    else:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _plain(status: str, content_type: str, body: bytes) -> bytes:
    return _head(status, content_type, len(body)) + body


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(payload: object) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


@dataclass(frozen=True, slots=True)
class Canned:
    """Every response the mock sends, encoded once."""

    completion: bytes
    stream_head: bytes
    events: tuple[bytes, ...]  # each an HTTP chunk holding one SSE event
    usage: bytes
    done: bytes  # `data: [DONE]` plus the last (empty) HTTP chunk
    health: bytes
    not_found: bytes

    @classmethod
    def build(cls, chunks: int = 20) -> Canned:
        words = [_WORDS[i % len(_WORDS)] for i in range(chunks)]
        body = orjson.dumps(completion("".join(words), usage=(PROMPT_TOKENS, chunks)))
        events = []
        for i, word in enumerate(words):
            payload = chunk(
                word,
                role="assistant" if i == 0 else None,
                finish_reason="stop" if i == chunks - 1 else None,
            )
            events.append(_http_chunk(_event(payload)))
        return cls(
            completion=_plain("200 OK", "application/json", body),
            stream_head=_head("200 OK", "text/event-stream", None),
            events=tuple(events),
            usage=_http_chunk(_event(usage_chunk(PROMPT_TOKENS, chunks))),
            done=_http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n",
            health=_plain("200 OK", "text/plain", b"ok"),
            not_found=_plain("404 Not Found", "text/plain", b"not found"),
        )


@dataclass(slots=True)
class Stats:
    requests: int = 0
    streams: int = 0


class MockProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; pipelined requests are answered in order."""

    __slots__ = ("_buf", "_canned", "_stats", "_transport", "_writes")

    def __init__(self, canned: Canned, stats: Stats, writes: StreamWrites) -> None:
        self._canned = canned
        self._stats = stats
        self._writes = writes
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            length = _content_length(head)
            total = end + 4 + length
            if len(buf) < total:
                return
            body = bytes(buf[end + 4 : total])
            del buf[:total]
            close = b"\r\nconnection: close" in head
            self._answer(head, body)
            if close and self._transport is not None:
                self._transport.close()
                return

    def _answer(self, head: bytes, body: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        canned = self._canned
        line = head[: head.find(b"\r\n")]
        if line.startswith(b"post ") and b"/chat/completions" in line:
            self._stats.requests += 1
            if _STREAM_RE.search(body) is None:
                transport.write(canned.completion)
                return
            self._stats.streams += 1
            tail = [canned.usage, canned.done] if _USAGE_RE.search(body) else [canned.done]
            if self._writes == "burst":
                transport.write(b"".join([canned.stream_head, *canned.events, *tail]))
                return
            transport.write(canned.stream_head)
            for part in canned.events:
                transport.write(part)  # one send per event, as a real upstream would
            transport.write(b"".join(tail))
        elif line.startswith(b"get /health"):
            transport.write(canned.health)
        elif line.startswith(b"get /stats"):
            stats = orjson.dumps({"requests": self._stats.requests, "streams": self._stats.streams})
            transport.write(_plain("200 OK", "application/json", stats))
        else:
            transport.write(canned.not_found)


def _content_length(head: bytes) -> int:
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    start = at + len(b"\r\ncontent-length:")
    stop = head.find(b"\r\n", start)
    return int(head[start : stop if stop >= 0 else len(head)])


async def serve(
    host: str, port: int, *, chunks: int = 20, writes: StreamWrites = "each"
) -> asyncio.Server:
    """Start the mock; the caller owns the returned server."""
    canned = Canned.build(chunks)
    stats = Stats()
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: MockProtocol(canned, stats, writes), host, port, backlog=2048, reuse_address=True
    )


async def _main(args: argparse.Namespace) -> None:
    server = await serve(args.host, args.port, chunks=args.chunks, writes=args.stream_writes)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fastmock", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--chunks", type=int, default=20, help="content events per stream")
    parser.add_argument(
        "--stream-writes",
        choices=["each", "burst"],
        default="each",
        help="one socket write per SSE event (each), or the whole stream at once (burst)",
    )
    parser.add_argument("--cpu", type=int, help="pin this process to one CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    import uvloop

    uvloop.run(_main(args))


if __name__ == "__main__":
    main()
