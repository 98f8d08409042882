"""Hostile clients and upstreams against the real proxy: nothing one of them does reaches others."""

from __future__ import annotations

import gzip
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chain429.testing import Reply, Stream, completion
from tests.e2e.conftest import make_config

ADMIN_KEY = "sk-admin-hostile-000000001"

pytestmark = pytest.mark.asyncio

HI: Any = [{"role": "user", "content": "hi"}]


async def test_a_body_nested_too_deep_to_forward_is_a_400_and_opens_no_breaker(
    mocks, proxy
) -> None:
    a, b = await mocks(), await mocks()
    p = await proxy(make_config({"a": a, "b": b}, {"default": ["a/m", "b/m"]}))
    deep = b"[" * 300 + b"]" * 300
    body = b'{"model": "default", "messages": [{"role": "user", "content": "hi"}], "x": '
    async with aiohttp.ClientSession(headers=p.auth) as http:
        for _ in range(5):
            async with http.post(f"{p.url}/v1/chat/completions", data=body + deep + b"}") as r:
                assert r.status == 400
                error = (await r.json())["error"]
                assert set(error) == {"message", "type", "code", "param"}
    assert a.requests == [] and b.requests == []
    answer = await p.client().chat.completions.create(model="default", messages=HI)
    assert answer.choices[0].message.content  # every other client is still served, by a
    assert len(a.requests) == 1


DEEP = "[" * 300 + "]" * 300  # orjson reads it (1024 levels) but cannot write it (254)


async def test_a_tool_use_input_nested_too_deep_is_anthropics_400(mocks, proxy) -> None:
    """/v1/messages and its count_tokens translate a tool_use's input to a JSON string."""
    a = await mocks()
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    tool_use = '{"type":"tool_use","id":"t1","name":"f","input":{"a":' + DEEP + "}}"
    raw = (
        '{"model":"default","max_tokens":5,"messages":[{"role":"user","content":"hi"},'
        '{"role":"assistant","content":[' + tool_use + "]},"
        '{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}]}'
    )
    async with aiohttp.ClientSession(headers=p.auth) as http:
        for path in ("/v1/messages", "/v1/messages/count_tokens"):
            async with http.post(p.url + path, data=raw) as r:
                assert r.status == 400, path
                answer = await r.json()
            assert answer["type"] == "error"
            assert answer["error"]["type"] == "invalid_request_error"
            assert answer["error"]["message"].startswith("messages.1.content.0.input:")
    assert a.requests == []


async def test_a_responses_setting_nested_too_deep_to_echo_is_a_400_before_the_upstream(
    mocks, proxy
) -> None:
    """A Response echoes settings that are not forwarded (metadata, truncation...): one too
    deep to write back is refused up front, not a 500 after the upstream answered."""
    a = await mocks()
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    async with aiohttp.ClientSession(headers=p.auth) as http:
        for field in ("metadata", "truncation", "store", "parallel_tool_calls"):
            for stream in ("false", "true"):
                raw = f'{{"model":"default","input":"hi","stream":{stream},"{field}":{DEEP}}}'
                async with http.post(p.url + "/v1/responses", data=raw) as r:
                    assert r.status == 400, (field, stream)
                    error = (await r.json())["error"]
                assert set(error) == {"message", "type", "code", "param"}
                assert error["code"] == "invalid_json"
    assert a.requests == []


async def test_an_answer_over_max_response_bytes_is_malformed_and_the_walk_moves_on(
    mocks, proxy
) -> None:
    a, b = await mocks(), await mocks()
    a.script(Reply(200, {"choices": [{"message": {"content": "x" * 3_000_000}}]}))
    config = make_config(
        {"a": a, "b": b}, {"default": ["a/m", "b/m"]}, {"max_response_bytes": 1_000_000}
    )
    p = await proxy(config)
    raw = await p.client().chat.completions.with_raw_response.create(model="default", messages=HI)
    assert raw.headers["x-429chain-provider"] == "b"


# Four times the 1 MB cap once decoded, a few KB on the wire (and in Content-Length).
BOMB = gzip.compress(b'{"choices":[{"message":{"content":"' + b"x" * 4_000_000 + b'"}}]}')
GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


async def test_a_compressed_answer_over_max_response_bytes_is_malformed_too(mocks, proxy) -> None:
    a, b = await mocks(default=Reply(200, BOMB, GZIP)), await mocks()
    config = make_config(
        {"a": a, "b": b}, {"default": ["a/m", "b/m"]}, {"max_response_bytes": 1_000_000}
    )
    p = await proxy(config)
    raw = await p.client().chat.completions.with_raw_response.create(model="default", messages=HI)
    assert raw.headers["x-429chain-provider"] == "b"
    assert len(a.requests) == 1


async def test_the_admin_model_list_is_read_under_max_response_bytes(proxy) -> None:
    async def models(request: web.Request) -> web.Response:
        return web.Response(body=BOMB, headers=GZIP)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        settings = {"max_response_bytes": 1_000_000, "admin_keys": [ADMIN_KEY]}
        p = await proxy(make_config({"a": url}, {"default": ["a/m"]}, settings))
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with (
            aiohttp.ClientSession(headers=admin) as http,
            http.get(p.url + "/v1/admin/providers/a/models") as r,
        ):
            assert r.status == 502
            error = (await r.json())["error"]
        assert error["code"] == "upstream_error"
        assert "too large" in error["message"]
    finally:
        await runner.cleanup()


async def test_a_redirect_is_not_followed(mocks, proxy) -> None:
    """A 307 would re-post the prompt and the key headers to another host."""
    elsewhere, b = await mocks(), await mocks()
    a = await mocks()
    a.script(Reply(307, "", {"Location": f"{elsewhere.url}/chat/completions"}))
    p = await proxy(make_config({"a": a, "b": b}, {"default": ["a/m", "b/m"]}))
    raw = await p.client().chat.completions.with_raw_response.create(model="default", messages=HI)
    assert raw.headers["x-429chain-provider"] == "b"
    assert elsewhere.requests == []


async def test_garbage_after_a_stream_commits_ends_it_with_an_error_event(mocks, proxy) -> None:
    a = await mocks()
    first = {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}
    a.script(Stream([first, b"data: <html>bad gateway</html>\n\n", first], done=True))
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    body = {"model": "default", "messages": HI, "stream": True}
    async with (
        aiohttp.ClientSession(headers=p.auth) as http,
        http.post(f"{p.url}/v1/chat/completions", json=body) as r,
    ):
        text = await r.text()
    assert "<html>" not in text
    assert '"code":"malformed"' in text
    assert text.count("Hel") == 1


async def test_tool_arguments_nested_too_deep_to_write_are_kept_as_their_text(mocks, proxy) -> None:
    # /v1/messages turns a tool call's `arguments` string into the object `input`; one nested
    # deeper than orjson writes made the answer a 500. It is now kept as the raw text.
    arguments = '{"a":' + DEEP + "}"
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    a = await mocks(default=Reply(200, completion(content=None, tool_calls=[call])))
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    body = {"model": "default", "max_tokens": 5, "messages": HI}
    async with (
        aiohttp.ClientSession(headers=p.auth) as http,
        http.post(p.url + "/v1/messages", json=body) as r,
    ):
        assert r.status == 200
        answer = await r.json()
    (block,) = [b for b in answer["content"] if b["type"] == "tool_use"]
    assert block["input"] == {"_raw_arguments": arguments}


async def test_a_stream_event_nested_too_deep_to_write_is_malformed(mocks, proxy) -> None:
    deep = '{"choices":[{"index":0,"delta":{"content":"x"}}],"usage":' + DEEP + "}"
    a, b = await mocks(), await mocks()
    a.script(Stream([deep], done=True))
    p = await proxy(make_config({"a": a, "b": b}, {"default": ["a/m", "b/m"]}))
    stream = await p.client().chat.completions.create(model="default", messages=HI, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text  # b's, whole: a's first event was refused before anything was committed
    assert len(a.requests) == 1 and len(b.requests) == 1
