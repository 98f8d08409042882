"""An in-memory upstream and a hand-moved clock: the walk, tested with no sockets and no sleeps."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from chain429.config.schema import RateLimits
from chain429.engine.upstream import ResponseTooLarge
from chain429.providers.presets import get_preset
from chain429.vocabulary import Chain, Entry

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeResponse:
    """One scripted answer. `chunks` makes it a stream; `on_chunk` runs as each is read."""

    status: int = 200
    body: bytes | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None
    raises: BaseException | None = None  # instead of answering
    on_chunk: Callable[[int], None] | None = None
    closed: bool = False

    async def read(self, limit: int, *, truncate: bool = False) -> bytes:
        body = self.body if isinstance(self.body, bytes) else orjson.dumps(self.body)
        if len(body) > limit:
            if truncate:
                return body[:limit]
            raise ResponseTooLarge(f"the answer passed the {limit}-byte cap")
        return body

    async def chunks_iter(self) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(self.chunks or []):
            if self.on_chunk is not None:
                self.on_chunk(index)
            yield chunk

    def close(self) -> None:
        self.closed = True


class _Adapter:
    """`FakeResponse` through the `UpstreamResponse` protocol (which names a method `chunks`)."""

    def __init__(self, fake: FakeResponse) -> None:
        self.fake = fake
        self.status = fake.status
        self.headers: Mapping[str, str] = fake.headers

    async def read(self, limit: int, *, truncate: bool = False) -> bytes:
        return await self.fake.read(limit, truncate=truncate)

    def chunks(self) -> AsyncIterator[bytes]:
        return self.fake.chunks_iter()

    def close(self) -> None:
        self.fake.close()


@dataclass
class Call:
    entry: str
    url: str
    body: dict[str, Any]


class FakeUpstream:
    """Answers each entry from its own queue of scripted responses; records every call."""

    def __init__(self) -> None:
        self.scripts: dict[str, deque[FakeResponse]] = defaultdict(deque)
        self.calls: list[Call] = []

    def script(self, entry_key: str, *responses: FakeResponse) -> None:
        self.scripts[entry_key].extend(responses)

    async def open(self, entry: Entry, path: str, body: bytes) -> _Adapter:
        self.calls.append(Call(entry.key, entry.url(path), orjson.loads(body)))
        queue = self.scripts[entry.key]
        response = queue.popleft() if queue else FakeResponse(body=completion(entry.model))
        if response.raises is not None:
            raise response.raises
        return _Adapter(response)

    def called(self) -> list[str]:
        return [call.entry for call in self.calls]


def completion(model: str = "m", text: str = "ok", tokens: int = 7) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": tokens},
    }


def chunk(text: str, finish: str | None = None) -> bytes:
    event = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(event) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def entry(
    provider: str = "a",
    model: str = "m",
    preset: str = "openai-compatible",
    *,
    limits: RateLimits | None = None,
    ad_hoc: bool = False,
    timeout_s: float = 30.0,
) -> Entry:
    return Entry(
        provider,
        model,
        get_preset(preset),
        f"http://{provider}.test/v1",
        {},
        timeout_s,
        limits,
        ad_hoc=ad_hoc,
    )


def chain(*entries: Entry, name: str = "c") -> Chain:
    return Chain(name, tuple(entries))
