"""`python -m bench.components`: what each part of 429chain's request path costs, in process.

The issue-7 question "where does the other half go?" answered part by part: each step the
non-stream chat path takes for one request (auth, parse, routing, ordering, the tracker's
reserve and settle, building the upstream body, reading the answer, the request record, the
metrics, the SQLite write, the attempt's timeout) is run alone, many times, on the real objects
of an app built from a one-entry config, and timed in CPU µs per request. The sum is what our
code adds on top of what aiohttp costs both 429chain and the bare pass-through; `make bench`
measures that whole difference, so the two can be compared.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import orjson
from multidict import CIMultiDict

from chain429.config.load import parse_config
from chain429.engine.deadline import Deadline
from chain429.engine.operations import CHAT
from chain429.engine.request import parse_request, upstream_body
from chain429.engine.settle import settle
from chain429.events import EventHub, RequestFinished
from chain429.http.app import create_app
from chain429.http.request_log import RequestLog
from chain429.http.state import STATE
from chain429.storage.records import AttemptRecord, RequestRecord
from chain429.storage.store import Store
from chain429.vocabulary import SUCCESS, RequestOutcome, Ticket

CONFIG = """\
version: 1
settings: {api_keys: ["bench-proxy-key"], database_url: none, log_level: warning}
providers:
  - {id: mock, type: openai-compatible, api_key: mock-upstream-key,
     base_url: "http://127.0.0.1:9/v1"}
chains:
  - {name: default, entries: [{provider: mock, model: mock-model}]}
"""
BODY = orjson.dumps(
    {
        "model": "default",
        "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
        "max_tokens": 32,
    }
)
ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "mock-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there, friend!"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
)
HEADERS = CIMultiDict(
    {"Content-Type": "application/json", "Authorization": "Bearer bench-proxy-key"}
)
UPSTREAM_HEADERS = CIMultiDict({"Content-Type": "application/json", "Content-Length": "300"})


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _timed(step: Callable[[], Awaitable[object] | object], rounds: int) -> float:
    """CPU µs per call of `step` (awaited when it returns an awaitable)."""
    for _ in range(rounds // 10):  # warm caches and the allocator
        result = step()
        if isinstance(result, Awaitable):
            await result
    started = _cpu()
    for _ in range(rounds):
        result = step()
        if isinstance(result, Awaitable):
            await result
    return (_cpu() - started) / rounds * 1e6


async def measure(rounds: int) -> tuple[list[tuple[str, float]], float]:
    app = create_app(parse_config(CONFIG, {}))
    state = app[STATE]
    runtime = state.runtime
    chain = runtime.routes.resolve("default")
    entry = chain.entries[0]
    chat = parse_request(BODY, CHAT)
    tracker, router = state.tracker, state.walker.router
    metrics, counts = state.metrics, state.counts
    assert metrics is not None
    # The record's own cost, apart: its subscribers (metrics, the /health counts; the request
    # log's writer once it runs) are timed as rows of their own.
    state.events = EventHub()

    async def reserve_and_settle() -> None:
        ticket = await tracker.reserve(entry, chat.tokens_for(entry))
        if isinstance(ticket, Ticket):  # a one-entry chain with no limits: always a ticket
            await tracker.settle(ticket, SUCCESS, None, 17)

    async def attempt_timeout() -> None:
        started = asyncio.get_running_loop().time()
        async with Deadline(started + 30) as deadline:  # as Walker._call: first byte, then all
            deadline.extend(started + 60)

    async def stdlib_timeout() -> None:  # what Walker._call used before `Deadline`
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(30) as timeout:  # noqa: ASYNC100 (its cost is the point)
            timeout.reschedule(loop.time() + 60)

    def record() -> None:
        log = RequestLog(state, runtime, "/v1/chat/completions")
        log.record.key_label = "sk-…-key"
        log.request(chat, chain)
        log.record.provider, log.record.model = entry.provider, entry.model
        log.record.attempts = [
            AttemptRecord(0, entry.provider, entry.model, "success", 200, 1.0, "served", False)
        ]
        log.usage({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17})
        log.finish(200, RequestOutcome.SUCCESS)

    finished = _finished_record()
    parts: list[tuple[str, Callable[[], Awaitable[object] | object]]] = [
        ("auth: KeyCheck.require", lambda: runtime.keys.require(HEADERS)),
        ("parse the request (JSON, checks, estimate)", lambda: parse_request(BODY, CHAT)),
        ("route: Routes.resolve", lambda: runtime.routes.resolve("default")),
        ("order: Router.order", lambda: router.order(chain, tracker, time.time())),
        ("tracker: reserve + settle", reserve_and_settle),
        (
            "upstream body",
            lambda: upstream_body(chat, entry, send_stream_options=True),
        ),
        (
            "settle the answer (headers, JSON, usage)",
            lambda: settle(entry, 200, UPSTREAM_HEADERS, ANSWER, time.time(), operation=CHAT),
        ),
        ("attempt timeout (engine.deadline.Deadline)", attempt_timeout),
        ("request record + RequestFinished event (no subscribers)", record),
        ("metrics: Metrics.observe", lambda: metrics.observe(finished.record)),
        ("/health counts: RequestCounts.on_finished", lambda: counts.on_finished(finished)),
    ]
    results = [(name, await _timed(step, rounds)) for name, step in parts]
    results.append(("request log: SQLite write, per row", await _sqlite_row_cost()))
    stdlib = await _timed(stdlib_timeout, rounds)
    return results, stdlib


def _finished_record() -> RequestFinished:
    record = RequestRecord(
        id="0" * 32,
        ts=time.time(),
        key_label="sk-…-key",
        chain="default",
        requested_model="default",
        provider="mock",
        model="mock-model",
        stream=False,
        status=200,
        outcome=RequestOutcome.SUCCESS,
        prompt_tokens=12,
        completion_tokens=5,
        total_tokens=17,
        latency_ms=1.2,
        calls=1,
        attempts=[AttemptRecord(0, "mock", "mock-model", "success", 200, 0.9, "served", False)],
        endpoint="/v1/chat/completions",
    )
    return RequestFinished(record)


async def _sqlite_row_cost(rows: int = 6_000, batch: int = 300) -> float:
    """A record as the writer stores it (batched, one attempt): CPU µs per row, both threads."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(str(Path(tmp) / "log.db"))
        try:
            template = _finished_record().record
            records = [replace(template, id=f"{n:032x}") for n in range(rows)]
            started = _cpu()
            for start in range(0, rows, batch):
                await store.insert(records[start : start + batch])
            return (_cpu() - started) / rows * 1e6
        finally:
            await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    opts = parser.parse_args(argv)
    results, stdlib = asyncio.run(measure(opts.rounds))
    width = max(len(name) for name, _ in results)
    print(f"{'part of the non-stream chat path':<{width}}  CPU µs per request")
    for name, cost in results:
        print(f"{name:<{width}}  {cost:8.1f}")
    print(f"{'sum':<{width}}  {sum(cost for _, cost in results):8.1f}")
    print(f"(asyncio.timeout + reschedule, for comparison: {stdlib:.1f} µs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
