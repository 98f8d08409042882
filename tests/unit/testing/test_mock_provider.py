"""The mock provider over real sockets: every step type, recording, budgets, the openai SDK."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy
from openai import AsyncOpenAI

from chain429.providers.sse import SSEEvent, SSEParser
from chain429.testing import (
    Budget,
    Drop,
    Hang,
    MockProvider,
    Pause,
    Reply,
    Stream,
    chunk,
    completion,
    error_body,
)

CHAT = {"model": "mock-model", "messages": [{"role": "user", "content": "Say hello, please."}]}


@pytest.fixture
async def mp() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def post(
    session: aiohttp.ClientSession, mp: MockProvider, body: dict[str, Any] | None = None, **kw: Any
) -> tuple[int, CIMultiDictProxy[str], bytes]:
    async with session.post(f"{mp.url}/chat/completions", json=body or CHAT, **kw) as resp:
        return resp.status, resp.headers, await resp.read()


async def stream_events(
    session: aiohttp.ClientSession, mp: MockProvider, body: dict[str, Any] | None = None
) -> list[tuple[float, SSEEvent]]:
    """Each event with the time it arrived, parsed as the proxy would."""
    parser = SSEParser()
    out: list[tuple[float, SSEEvent]] = []
    async with session.post(f"{mp.url}/chat/completions", json=body or CHAT) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        async for data in resp.content.iter_any():
            now = time.perf_counter()
            out += [(now, event) for event in parser.feed(data)]
    return out + [(time.perf_counter(), event) for event in parser.close()]


async def until(condition: Callable[[], bool]) -> None:
    """Poll briefly: the server notices a disconnect a moment after the client does."""
    async with asyncio.timeout(10):  # a moment when idle; a busy machine is slower
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(0.01)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


# -- plain replies ----------------------------------------------------------------------------


async def test_default_reply_is_a_completion_for_the_requested_model(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    status, headers, raw = await post(session, mp, {**CHAT, "model": "llama-3.3-70b"})
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    body = orjson.loads(raw)
    assert body["object"] == "chat.completion"
    assert body["model"] == "llama-3.3-70b"
    assert body["choices"][0]["message"]["content"] == mp.reply_text
    assert body["usage"]["prompt_tokens"] == 5  # 18 characters of prompt, four to a token
    assert mp.calls == 1
    assert mp.status_counts == {200: 1}


async def test_reply_with_status_body_and_headers(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    body = error_body(429, "Rate limit reached", "requests", "rate_limit_exceeded")
    mp.script(Reply(429, body, headers={"retry-after": "2", "x-ratelimit-remaining-requests": "0"}))
    status, headers, raw = await post(session, mp)
    assert status == 429
    assert headers["retry-after"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert orjson.loads(raw) == {
        "error": {
            "message": "Rate limit reached",
            "type": "requests",
            "code": "rate_limit_exceeded",
            "param": None,
        }
    }
    assert mp.status_counts == {429: 1}


async def test_reply_error_status_without_body_gets_an_openai_error(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(Reply(503))
    status, _, raw = await post(session, mp)
    assert status == 503
    assert orjson.loads(raw)["error"]["type"] == "server_error"


async def test_text_body_and_content_type_override(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(
        Reply(403, "error code: 1010"),
        Reply(200, b"{not json", headers={"content-type": "application/json"}),
    )
    status, headers, raw = await post(session, mp)
    assert (status, raw) == (403, b"error code: 1010")
    assert headers["Content-Type"].startswith("text/plain")
    status, headers, raw = await post(session, mp)
    assert (status, raw) == (200, b"{not json")
    assert headers["Content-Type"] == "application/json"


async def test_reply_delay(mp: MockProvider, session: aiohttp.ClientSession) -> None:
    mp.script(Reply(delay=0.2))
    started = time.perf_counter()
    await post(session, mp)
    assert time.perf_counter() - started >= 0.18


async def test_script_runs_in_order_then_falls_back_to_default(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(Reply(500), Reply(body=completion("scripted")))
    assert mp.pending == 2
    statuses = [(await post(session, mp))[0] for _ in range(3)]
    assert statuses == [500, 200, 200]
    assert mp.pending == 0
    mp.default = Reply(502)
    assert (await post(session, mp))[0] == 502


async def test_every_response_carries_provider_wide_headers(
    session: aiohttp.ClientSession,
) -> None:
    async with MockProvider(headers={"x-provider": "mock"}) as mp:
        mp.script(Reply(headers={"X-Provider": "step wins"}))
        assert (await post(session, mp))[1]["x-provider"] == "step wins"
        assert (await post(session, mp))[1]["x-provider"] == "mock"


# -- recording ----------------------------------------------------------------------------------


async def test_requests_are_recorded_with_lowercase_headers(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    await post(
        session, mp, {**CHAT, "model": "upstream-name"}, headers={"Authorization": "Bearer k1"}
    )
    async with session.get(f"{mp.url}/models"):
        pass
    first, second = mp.requests
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.headers["authorization"] == "Bearer k1"
    assert first.json["model"] == "upstream-name"
    assert orjson.loads(first.raw) == first.json
    assert (second.method, second.path, second.json) == ("GET", "/v1/models", None)
    assert mp.calls == 1  # only chat completions count as calls


async def test_recording_can_be_switched_off_for_benchmarks(
    session: aiohttp.ClientSession,
) -> None:
    async with MockProvider(record=False, reply_text="Quick.") as mp:
        _, _, raw = await post(session, mp)
    assert orjson.loads(raw)["choices"][0]["message"]["content"] == "Quick."
    assert (mp.requests, mp.calls) == ([], 1)


async def test_api_key_is_checked_when_set(session: aiohttp.ClientSession) -> None:
    async with MockProvider(api_key="sk-right") as mp:
        status, _, raw = await post(session, mp, headers={"Authorization": "Bearer sk-wrong"})
        assert status == 401
        assert orjson.loads(raw)["error"]["code"] == "invalid_api_key"
        status, _, _ = await post(session, mp, headers={"Authorization": "Bearer sk-right"})
        assert status == 200


async def test_bad_json_is_a_400(mp: MockProvider, session: aiohttp.ClientSession) -> None:
    async with session.post(f"{mp.url}/chat/completions", data=b"{oops") as resp:
        assert resp.status == 400
        assert "error" in await resp.json()
    assert mp.requests[0].json is None
    assert mp.requests[0].raw == b"{oops"


async def test_models_list_is_configurable(session: aiohttp.ClientSession) -> None:
    async with (
        MockProvider(models=["a", "b:free"]) as mp,
        session.get(f"{mp.url}/models") as resp,
    ):
        body = await resp.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["a", "b:free"]


async def test_unknown_path_is_an_openai_404(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    async with session.post(f"{mp.url}/audio/speech", json={}) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "unknown_url"


# -- streams ------------------------------------------------------------------------------------


async def test_default_stream_assembles_the_reply(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    events = [e for _, e in await stream_events(session, mp, {**CHAT, "stream": True})]
    assert events[-1].is_done
    chunks = [orjson.loads(e.data or "") for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == mp.reply_text
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)


async def test_default_stream_honours_include_usage(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    events = [e for _, e in await stream_events(session, mp, body)]
    assert events[-1].is_done
    *chunks, last = [orjson.loads(e.data or "") for e in events[:-1]]
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 5, "completion_tokens": 11, "total_tokens": 16}
    assert all(c["usage"] is None and c["choices"] for c in chunks)


async def test_scripted_events_with_pauses_are_spaced_in_time(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(Stream([chunk("a"), Pause(0.2), '{"raw": "text"}', Pause(0.2), chunk("c")]))
    timed = await stream_events(session, mp)
    assert [orjson.loads(e.data or "") for _, e in timed[:-1]][1] == {"raw": "text"}
    times = [t for t, _ in timed]
    # Half the pause: a client that reads late compresses a gap, it never stretches one away.
    assert times[1] - times[0] >= 0.1
    assert times[2] - times[1] >= 0.1
    assert timed[-1][1].is_done


async def test_interval_spaces_every_event(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(Stream(["1", "2", "3"], interval=0.1, done=False))
    timed = await stream_events(session, mp)
    assert [e.data for _, e in timed] == ["1", "2", "3"]
    assert timed[2][0] - timed[0][0] >= 0.1  # 0.2 s sent; a late reader compresses it


async def test_delay_first_sends_headers_before_the_first_event(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(Stream(["x"], delay_first=60))
    started = time.perf_counter()
    async with session.post(f"{mp.url}/chat/completions", json=CHAT) as resp:
        headers_at = time.perf_counter() - started
        assert resp.content.total_bytes == 0  # the headers came, no event yet
    assert headers_at < 10  # long before the 60 s delay


async def test_crlf_line_endings_on_the_wire(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(Stream([chunk("hi")], line_ending="\r\n"))
    _, _, raw = await post(session, mp)
    assert raw.endswith(b"\r\n\r\ndata: [DONE]\r\n\r\n")
    assert b"\n\n" not in raw.replace(b"\r\n", b"")
    events = SSEParser().feed(raw)
    assert [e.is_done for e in events] == [False, True]


async def test_raw_bytes_go_out_verbatim(mp: MockProvider, session: aiohttp.ClientSession) -> None:
    mp.script(
        Stream([b": OPENROUTER PROCESSING\n\n", b"data: a\ndata: b\n\n", "multi\nline"], done=False)
    )
    _, _, raw = await post(session, mp)
    assert raw == b": OPENROUTER PROCESSING\n\ndata: a\ndata: b\n\ndata: multi\ndata: line\n\n"


async def test_stream_status_and_headers(mp: MockProvider, session: aiohttp.ClientSession) -> None:
    mp.script(Stream(["x"], status=200, headers={"x-ratelimit-remaining-requests": "7"}))
    status, headers, _ = await post(session, mp)
    assert (status, headers["x-ratelimit-remaining-requests"]) == (200, "7")


async def test_reset_after_breaks_the_stream_mid_body(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(Stream([chunk("a"), chunk("b"), chunk("c")], reset_after=2))
    parser = SSEParser()
    seen: list[SSEEvent] = []

    async def read_all(resp: aiohttp.ClientResponse) -> None:
        async for data in resp.content.iter_any():
            seen.extend(parser.feed(data))

    async with session.post(f"{mp.url}/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await read_all(resp)
    assert len(seen) == 2
    assert not any(e.is_done for e in seen)


async def test_reset_after_zero_resets_right_after_the_headers(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(Stream(reset_after=0))
    async with session.post(f"{mp.url}/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


# -- failures without a response ------------------------------------------------------------


async def test_hang_times_out_on_the_client_and_frees_the_handler(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(Hang())
    with pytest.raises(TimeoutError):
        await post(session, mp, timeout=aiohttp.ClientTimeout(total=0.3))
    assert mp.calls == 1
    await until(lambda: mp.in_flight == 0)  # the disconnect reaches the server a moment later


async def test_close_cuts_a_hanging_request_promptly(session: aiohttp.ClientSession) -> None:
    mp = MockProvider()
    await mp.start()
    mp.script(Hang())
    pending = asyncio.create_task(post(session, mp))
    await until(lambda: mp.in_flight == 1)
    started = time.perf_counter()
    await mp.close()
    assert time.perf_counter() - started < 10  # not the runner's 60 s shutdown wait
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pending


async def test_drop_closes_without_a_response(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    mp.script(Drop())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(session, mp)
    assert mp.status_counts == {}
    assert (await post(session, mp))[0] == 200  # the next request is served normally


async def test_callable_step(mp: MockProvider, session: aiohttp.ClientSession) -> None:
    async def teapot(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return web.json_response({"echo": body["model"]}, status=418)

    mp.script(teapot)
    status, _, raw = await post(session, mp)
    assert (status, orjson.loads(raw)) == (418, {"echo": "mock-model"})
    assert mp.status_counts == {418: 1}


# -- budgets -------------------------------------------------------------------------------------


async def test_rpm_budget_is_enforced_with_429_and_headers(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    # The OpenAI dialect's per-minute limits are token buckets: 2 RPM refills one every 30 s,
    # and x-ratelimit-reset-* is the time until the bucket is full again.
    async with MockProvider(limits=Budget(rpm=2), clock=clock) as mp:
        status, headers, _ = await post(session, mp)
        assert status == 200
        assert headers["x-ratelimit-limit-requests"] == "2"
        assert headers["x-ratelimit-remaining-requests"] == "1"
        assert headers["x-ratelimit-reset-requests"] == "30s"
        assert (await post(session, mp))[0] == 200
        clock.now += 17.5
        status, headers, raw = await post(session, mp)
        assert status == 429
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"] == "42.5s"
        assert headers["retry-after"] == "13"
        error = orjson.loads(raw)["error"]
        assert error["code"] == "rate_limit_exceeded"
        assert "(RPM): Limit 2, Used 2, Requested 1. Please try again in 12.5s." in error["message"]
        assert mp.rate_limited == 1
        assert mp.calls == 3
        clock.now += 12.5  # one request's worth has refilled
        assert (await post(session, mp))[0] == 200
    assert mp.status_counts == {200: 3, 429: 1}


async def test_refused_request_consumes_no_scripted_step(session: aiohttp.ClientSession) -> None:
    async with MockProvider(limits=Budget(rpm=1), clock=FakeClock()) as mp:
        mp.script(Reply(body=completion("first")), Reply(body=completion("second")))
        await post(session, mp)
        assert (await post(session, mp))[0] == 429
        assert mp.pending == 1


async def test_tpm_counts_prompt_and_max_tokens(session: aiohttp.ClientSession) -> None:
    async with MockProvider(limits=Budget(tpm=100), clock=FakeClock()) as mp:
        status, headers, _ = await post(session, mp, {**CHAT, "max_tokens": 60})
        assert status == 200
        assert headers["x-ratelimit-remaining-tokens"] == "35"  # 100 - (5 prompt + 60)
        status, _, raw = await post(session, mp, {**CHAT, "max_tokens": 60})
        assert status == 429
        assert "(TPM)" in orjson.loads(raw)["error"]["message"]


async def test_groq_dialect_headers_and_413_for_an_oversized_request(
    session: aiohttp.ClientSession,
) -> None:
    budget = Budget(rpm=30, rpd=1000, tpm=6000)
    async with MockProvider(limits=budget, header_dialect="groq", clock=FakeClock()) as mp:
        _, headers, _ = await post(session, mp)
        assert headers["x-ratelimit-limit-requests"] == "1000"  # Groq's requests are per day
        assert headers["x-ratelimit-remaining-requests"] == "999"
        # RPD refills continuously: one request comes back every 86.4 s (providers.md, Groq)
        assert headers["x-ratelimit-reset-requests"] == "1m26.4s"
        assert headers["x-ratelimit-limit-tokens"] == "6000"
        status, headers, raw = await post(session, mp, {**CHAT, "max_tokens": 8000})
        assert status == 413
        assert "retry-after" not in headers
        assert orjson.loads(raw)["error"]["message"].startswith("Request too large for model")
        assert mp.rate_limited == 0


async def test_cerebras_dialect_headers_and_flat_body(session: aiohttp.ClientSession) -> None:
    budget = Budget(rpd=1, tpm=60000)
    async with MockProvider(limits=budget, header_dialect="cerebras", clock=FakeClock()) as mp:
        _, headers, _ = await post(session, mp)
        assert headers["x-ratelimit-remaining-requests-day"] == "0"
        assert headers["x-ratelimit-reset-requests-day"] == "86400.0"
        assert headers["x-ratelimit-limit-tokens-minute"] == "60000"
        status, headers, raw = await post(session, mp)
        assert status == 429
        assert headers["retry-after"] == "86400"
        assert orjson.loads(raw)["code"] == "request_quota_exceeded"


async def test_none_dialect_sends_no_rate_headers(session: aiohttp.ClientSession) -> None:
    async with MockProvider(limits=Budget(rpm=1), header_dialect="none", clock=FakeClock()) as mp:
        _, headers, _ = await post(session, mp)
        assert not any(h.lower().startswith("x-ratelimit") for h in headers)
        status, headers, raw = await post(session, mp)
        assert status == 429
        assert "retry-after" not in headers
        (wrapped,) = orjson.loads(raw)  # Gemini wraps the error in a list
        assert wrapped["error"]["status"] == "RESOURCE_EXHAUSTED"


async def test_concurrency_budget(session: aiohttp.ClientSession) -> None:
    async with MockProvider(limits=Budget(concurrent=1), header_dialect="cerebras") as mp:
        mp.script(Reply(delay=0.3))
        slow = asyncio.create_task(post(session, mp))
        await until(lambda: mp.in_flight == 1)
        status, _, raw = await post(session, mp)
        assert (status, orjson.loads(raw)["code"]) == (429, "queue_exceeded")
        assert (await slow)[0] == 200


# -- the official client ------------------------------------------------------------------------


async def test_openai_sdk_non_stream(mp: MockProvider) -> None:
    async with AsyncOpenAI(base_url=mp.url, api_key="sk-test", max_retries=0) as client:
        result = await client.chat.completions.create(
            model="gpt-x", messages=[{"role": "user", "content": "hi"}]
        )
    assert result.choices[0].message.content == mp.reply_text
    assert result.model == "gpt-x"
    assert result.usage is not None
    assert result.usage.completion_tokens == 11
    assert mp.requests[0].headers["authorization"] == "Bearer sk-test"


async def test_openai_sdk_stream_with_usage(mp: MockProvider) -> None:
    async with AsyncOpenAI(base_url=mp.url, api_key="sk-test", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="gpt-x",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        parts: list[str] = []
        usage = None
        async for part in stream:
            if part.choices:
                parts.append(part.choices[0].delta.content or "")
            usage = part.usage or usage
    assert "".join(parts) == mp.reply_text
    assert usage is not None
    assert usage.total_tokens == 12


async def test_openai_sdk_sees_a_scripted_429(mp: MockProvider) -> None:
    mp.script(Reply(429, error_body(429, "slow down"), headers={"retry-after": "1"}))
    async with AsyncOpenAI(base_url=mp.url, api_key="sk-test", max_retries=0) as client:
        with pytest.raises(Exception, match="slow down") as caught:
            await client.chat.completions.create(model="m", messages=[])
    assert getattr(caught.value, "status_code", None) == 429


async def test_choose_picks_the_answer_from_the_body_after_the_script(
    session: aiohttp.ClientSession,
) -> None:
    def choose(body: dict[str, Any]) -> Reply | None:
        return Reply(status=503) if body.get("user") == "flaky" else None

    async with MockProvider(choose=choose, default=Reply(status=201)) as mp:
        mp.script(Reply(status=202))
        assert (await post(session, mp, {**CHAT, "user": "flaky"}))[0] == 202  # script first
        assert (await post(session, mp, {**CHAT, "user": "flaky"}))[0] == 503
        assert (await post(session, mp))[0] == 201  # None falls back to `default`


async def test_embeddings_and_legacy_completions_are_answered(
    mp: MockProvider, session: aiohttp.ClientSession
) -> None:
    body = {"model": "e", "input": ["a", "b"], "encoding_format": "base64"}
    async with session.post(f"{mp.url}/embeddings", json=body) as resp:
        data = await resp.json()
    assert [item["index"] for item in data["data"]] == [0, 1]
    assert isinstance(data["data"][0]["embedding"], str)
    async with session.post(f"{mp.url}/completions", json={"prompt": "hi"}) as resp:
        data = await resp.json()
    assert data["object"] == "text_completion" and data["choices"][0]["text"] == mp.reply_text
    body = {"prompt": "hi", "stream": True}
    async with session.post(f"{mp.url}/completions", json=body) as resp:
        text = (await resp.read()).decode()
    assert '"text_completion"' in text and text.endswith("data: [DONE]\n\n")
