"""The request log end to end: every answered request leaves a row, and nothing leaks."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from chain429.events import RequestFinished
from chain429.testing import Hang, Pause, Reply, Stream, chunk, error_body
from tests.e2e.conftest import make_config

pytestmark = pytest.mark.asyncio

MESSAGES: Any = [{"role": "user", "content": "hi"}]


def rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, args))


async def drain(stream: Any) -> None:
    async for _ in stream:
        pass


async def logged_proxy(mocks: Any, proxy: Any, tmp_path: Path, **settings: Any) -> Any:
    a, b = await mocks(), await mocks()
    db = tmp_path / "log.db"
    config = make_config(
        {"a": a, "b": b}, {"default": ["a/m1", "b/m2"]}, {"database_url": str(db), **settings}
    )
    return a, b, await proxy(config), db


async def test_a_served_request_leaves_a_row_and_its_attempts(mocks, proxy, tmp_path) -> None:
    a, _b, p, db = await logged_proxy(mocks, proxy, tmp_path)
    a.script(Reply(429, error_body(429, "slow"), {"retry-after": "30"}))
    await p.client().chat.completions.create(model="default", messages=MESSAGES)
    await p.settled()
    (row,) = rows(
        db,
        "SELECT chain, provider, model, status, outcome, calls, skipped, "
        "rate_limited, key_label, stream, total_tokens, tokens_estimated "
        "FROM requests",
    )
    assert row[:8] == ("default", "b", "m2", 200, "success", 2, 0, 1)
    assert row[8] == "sk-…0001"  # the key's label, never the key
    assert row[9] == 0
    assert row[10] > 0 and row[11] == 0  # real usage from the mock
    attempts = rows(
        db, "SELECT seq, provider, model, outcome, status, skipped FROM attempts ORDER BY seq"
    )
    assert attempts == [(0, "a", "m1", "rate_limited", 429, 0), (1, "b", "m2", "success", 200, 0)]


async def test_every_way_a_request_ends_leaves_a_row(mocks, proxy, tmp_path) -> None:
    """...and is published once as a `RequestFinished`, which every tally takes from."""
    a, b, p, db = await logged_proxy(mocks, proxy, tmp_path)
    events: list[RequestFinished] = []

    def broken(_: RequestFinished) -> None:
        raise RuntimeError("a broken subscriber never breaks a request")

    p.state.events.subscribe(broken)
    p.state.events.subscribe(events.append)
    client = p.client()
    # exhausted chain
    a.script(Reply(429, error_body(429, "slow"), {"retry-after": "2"}))
    b.script(Reply(500, "boom"))
    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(model="default", messages=MESSAGES)
    await asyncio.sleep(2.1)
    # the client's own fault, returned by the upstream
    a.script(Reply(400, error_body(400, "bad temperature", param="temperature")))
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="default", messages=MESSAGES)
    # bad input, refused by the proxy itself
    async with aiohttp.ClientSession() as session:
        await session.post(f"{p.url}/v1/chat/completions", data=b"{nope", headers=p.auth)
    # a stream that fails after it started
    a.script(Stream([chunk(role="assistant", content="x")], done=False, reset_after=1))
    stream = await client.chat.completions.create(model="default", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        await drain(stream)
    # no key
    async with aiohttp.ClientSession() as session:
        await session.post(f"{p.url}/v1/chat/completions", json={"messages": MESSAGES})
    # a client that goes away
    a.script(Hang())
    async with aiohttp.ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(
                f"{p.url}/v1/chat/completions",
                json={"model": "default", "messages": MESSAGES},
                headers=p.auth,
                timeout=aiohttp.ClientTimeout(total=0.3),
            )
    await asyncio.sleep(0.2)
    await p.settled()
    outcomes = rows(db, "SELECT status, outcome FROM requests ORDER BY ts")
    assert outcomes == [
        (503, "exhausted"),
        (400, "upstream_rejected"),
        (400, "bad_request"),
        (200, "stream_failed"),
        (401, "auth_failed"),
        (499, "client_disconnect"),
    ]
    (label,) = rows(db, "SELECT key_label FROM requests WHERE status = 401")[0]
    assert label == "unauthenticated"
    # One event per request, the same records the writer wrote.
    assert [e.record.id for e in events] == [r[0] for r in rows(db, "SELECT id FROM requests")]
    assert [e.record.outcome for e in events] == [o for _, o in outcomes]
    assert [e.chain.name if e.chain else None for e in events] == [
        "default", "default", None, "default", None, "default"
    ]  # fmt: skip
    # The /health counts and the metrics subscribe to the same events.
    assert p.state.counts.as_dict() == {"requests": 4, "served": 1, "failed": 2}
    assert p.state.metrics is not None
    assert sum(p.state.metrics.requests.values()) == 6


async def test_a_thousand_concurrent_requests_give_a_thousand_rows(mocks, proxy, tmp_path) -> None:
    _a, _b, p, db = await logged_proxy(mocks, proxy, tmp_path)
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> int:
            async with session.post(
                f"{p.url}/v1/chat/completions",
                json={"model": "default", "messages": [{"role": "user", "content": str(i)}]},
                headers=p.auth,
            ) as response:
                await response.read()
                return response.status

        statuses = await asyncio.gather(*(one(i) for i in range(1000)))
    assert statuses.count(200) == 1000
    await p.settled()
    assert rows(db, "SELECT count(*) FROM requests") == [(1000,)]
    assert rows(db, "SELECT count(*) FROM attempts") == [(1000,)]
    assert p.state.writer.dropped == 0


async def test_shutdown_flushes_everything_accepted(mocks, proxy, tmp_path) -> None:
    a, _b, p, db = await logged_proxy(mocks, proxy, tmp_path)
    a.script(*[Stream([chunk(content="x"), Pause(0.3), chunk(finish_reason="stop")])] * 5)
    client = p.client()

    async def streamed() -> str:
        stream = await client.chat.completions.create(
            model="default", messages=MESSAGES, stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    tasks = [asyncio.create_task(streamed()) for _ in range(5)]
    async with asyncio.timeout(20):
        while len(a.requests) < 4:  # noqa: ASYNC110 - the mock's count, no event to wait on
            await asyncio.sleep(0.01)  # streams open (the fifth waits for the entry's first answer)
    # As on SIGTERM: stop accepting, let the streams finish, then flush the writer.
    results = await asyncio.gather(*tasks, p.stop(), return_exceptions=True)
    answered = sum(1 for r in results[:5] if r == "x")
    assert answered == 5
    assert rows(db, "SELECT count(*) FROM requests") == [(5,)]


async def test_logging_off_writes_nothing(mocks, proxy, tmp_path) -> None:
    _a, _b, p, _db = await logged_proxy(mocks, proxy, tmp_path, log_requests=False)
    await p.client().chat.completions.create(model="default", messages=MESSAGES)
    assert p.state.writer is None


@pytest.mark.parametrize("log_content", [False, True])
async def test_prompts_are_logged_only_when_asked(
    mocks, proxy, tmp_path, caplog, log_content
) -> None:
    caplog.set_level(logging.INFO, logger="chain429.requests")
    _a, _b, p, _db = await logged_proxy(mocks, proxy, tmp_path, log_content=log_content)
    await p.client().chat.completions.create(
        model="default", messages=[{"role": "user", "content": "the secret plan"}]
    )
    (record,) = [r for r in caplog.records if r.name == "chain429.requests"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["outcome"] == "success"
    logged = repr(fields)
    assert ("the secret plan" in logged) is log_content
    assert ("Hello!" in logged) is log_content


async def test_health_shows_the_request_log(mocks, proxy, tmp_path) -> None:
    _a, _b, p, _db = await logged_proxy(mocks, proxy, tmp_path)
    await p.client().chat.completions.create(model="default", messages=MESSAGES)
    await p.settled()
    async with aiohttp.ClientSession() as session, session.get(f"{p.url}/health") as response:
        body = await response.json()
    log = body["request_log"]
    assert log["enabled"] is True
    assert log["store"] == "open"
    assert log["written"] == 1
    assert log["dropped"] == 0


async def test_the_access_log_names_the_whole_id_the_stats_api_finds(
    mocks, proxy, tmp_path, caplog
) -> None:
    """Five requests in a row: five distinct ids in the log, each found by the stats API."""
    caplog.set_level(logging.INFO, logger="chain429.requests")
    _a, _b, p, _db = await logged_proxy(mocks, proxy, tmp_path)
    for _ in range(5):
        await p.client().chat.completions.create(model="default", messages=MESSAGES)
    await p.settled()
    ids = [
        r.fields["id"]  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "chain429.requests" and r.getMessage() == "chat completion"
    ]
    assert len(ids) == 5 and len(set(ids)) == 5
    async with aiohttp.ClientSession() as http:
        for request_id in ids:
            async with http.get(f"{p.url}/v1/stats/requests/{request_id}", headers=p.auth) as r:
                assert r.status == 200, request_id
                assert (await r.json())["id"] == request_id


async def test_every_answer_names_its_request_in_the_log(mocks, proxy, tmp_path) -> None:
    """`X-429chain-Request-Id` on served, streamed and failed answers, on every API that walks
    a chain: the id the stats API (and the live feed) knows the request by."""
    a, b, p, _db = await logged_proxy(mocks, proxy, tmp_path)
    client = p.client()
    ids: dict[str, str] = {}  # expected outcome -> id
    raw = await client.chat.completions.with_raw_response.create(model="default", messages=MESSAGES)
    ids["success"] = raw.headers["x-429chain-request-id"]
    async with client.chat.completions.with_streaming_response.create(
        model="default", messages=MESSAGES, stream=True
    ) as streamed:
        ids["success, streamed"] = streamed.headers["x-429chain-request-id"]
        await streamed.read()
    legacy = await client.completions.with_raw_response.create(model="default", prompt="hi")
    ids["success, legacy"] = legacy.headers["x-429chain-request-id"]
    a.script(Reply(429, error_body(429, "slow"), {"retry-after": "1"}))
    b.script(Reply(500, "boom"))
    with pytest.raises(openai.APIStatusError) as exhausted:
        await client.chat.completions.create(model="default", messages=MESSAGES)
    ids["exhausted"] = exhausted.value.response.headers["x-429chain-request-id"]
    async with aiohttp.ClientSession() as session:
        url = f"{p.url}/v1/chat/completions"
        async with session.post(url, data=b"{nope", headers=p.auth) as response:
            assert response.status == 400
            ids["bad_request"] = response.headers["X-429chain-Request-Id"]
        async with session.post(url, json={"messages": MESSAGES}) as response:
            assert response.status == 401
            ids["auth_failed"] = response.headers["X-429chain-Request-Id"]
        body = {"model": "default", "max_tokens": 20, "messages": MESSAGES}
        async with session.post(f"{p.url}/v1/messages", json=body, headers=p.auth) as response:
            assert response.status == 200
            ids["success, anthropic"] = response.headers["X-429chain-Request-Id"]
        # Not a walk, so no request of its own in the log: no id.
        async with session.get(f"{p.url}/v1/models", headers=p.auth) as response:
            assert "X-429chain-Request-Id" not in response.headers
    assert len(set(ids.values())) == len(ids)
    await p.settled()
    async with aiohttp.ClientSession(headers=p.auth) as http:
        for expected, request_id in ids.items():
            async with http.get(f"{p.url}/v1/stats/requests/{request_id}") as r:
                assert r.status == 200, expected
                assert (await r.json())["outcome"] == expected.partition(",")[0], expected
