"""`/v1/embeddings` and `/v1/completions` through chains, with the openai SDK."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest

from chain429.testing import Reply, error_body
from tests.e2e.conftest import make_config

pytestmark = pytest.mark.asyncio


async def embeddings_proxy(mocks: Any, proxy: Any) -> tuple[Any, Any, Any]:
    a, b = await mocks(), await mocks()
    config = make_config({"a": a, "b": b}, {"chat": ["a/chat-model"], "vectors": ["a/e1", "b/e2"]})
    config["chains"][1]["kind"] = "embeddings"
    return a, b, await proxy(config)


async def test_embeddings_fall_through_on_a_429(mocks, proxy) -> None:
    a, b, p = await embeddings_proxy(mocks, proxy)
    a.script(Reply(429, error_body(429, "slow down"), {"retry-after": "30"}))
    raw = await p.client().embeddings.with_raw_response.create(
        model="vectors", input=["one", "two"]
    )
    reply = raw.parse()
    assert len(reply.data) == 2 and isinstance(reply.data[0].embedding[0], float)
    assert raw.headers["x-429chain-provider"] == "b"
    assert raw.headers["x-429chain-attempts"] == "2"
    assert a.requests[0].path == "/v1/embeddings" and b.requests[0].json["model"] == "e2"
    # Quota tracking: the entry that said 429 now cools down, so the next goes straight to b.
    raw = await p.client().embeddings.with_raw_response.create(model="vectors", input="x")
    assert raw.headers["x-429chain-attempts"] == "1" and raw.headers["x-429chain-skipped"] == "1"
    # One pair named by the client works too.
    raw = await p.client().embeddings.with_raw_response.create(model="b/e9", input="x")
    assert raw.headers["x-429chain-provider"] == "b" and b.requests[-1].json["model"] == "e9"


async def test_float_and_base64_encodings_pass_through(mocks, proxy) -> None:
    a, _, p = await embeddings_proxy(mocks, proxy)
    async with aiohttp.ClientSession(headers=p.auth) as session:
        body = {"model": "vectors", "input": "hi", "encoding_format": "base64"}
        async with session.post(f"{p.url}/v1/embeddings", json=body) as response:
            assert response.status == 200
            data = await response.json()
    assert isinstance(data["data"][0]["embedding"], str)
    assert a.requests[-1].json["encoding_format"] == "base64"
    assert data["usage"]["prompt_tokens"] > 0
    # The SDK asks for base64 by default and decodes it itself.
    reply = await p.client().embeddings.create(model="vectors", input="hi")
    assert len(reply.data[0].embedding) == 4
    reply = await p.client().embeddings.create(model="vectors", input="hi", encoding_format="float")
    assert a.requests[-1].json["encoding_format"] == "float"


async def test_chat_to_an_embeddings_chain_is_a_clear_400(mocks, proxy) -> None:
    a, _, p = await embeddings_proxy(mocks, proxy)
    with pytest.raises(openai.BadRequestError) as info:
        await p.client().chat.completions.create(
            model="vectors", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.code == "wrong_chain_kind"
    assert "serves embeddings" in info.value.message
    with pytest.raises(openai.BadRequestError):
        await p.client().embeddings.create(model="chat", input="hi")
    with pytest.raises(openai.BadRequestError) as info:
        await p.client().embeddings.create(model="vectors", input=[])
    assert info.value.param == "input"
    assert a.calls == 0


async def test_models_lists_embeddings_chains_marked(mocks, proxy) -> None:
    _, _, p = await embeddings_proxy(mocks, proxy)
    models = {m.id: m for m in (await p.client().models.list()).data}
    assert models["vectors"].model_extra == {"kind": "embeddings"}
    assert models["a/e1"].model_extra == {"kind": "embeddings"}
    assert models["chat"].model_extra == {"kind": "chat"}


async def test_legacy_completions_pass_through_streaming_included(mocks, proxy) -> None:
    a, b = await mocks(), await mocks()
    p = await proxy(make_config({"a": a, "b": b}, {"default": ["a/m", "b/m"]}))
    a.script(Reply(429, error_body(429, "slow down"), {"retry-after": "30"}))
    client = p.client()
    raw = await client.completions.with_raw_response.create(
        model="default", prompt="Say hi", max_tokens=5
    )
    assert raw.parse().choices[0].text and raw.headers["x-429chain-provider"] == "b"
    assert b.requests[0].path == "/v1/completions" and b.requests[0].json["prompt"] == "Say hi"
    stream = await client.completions.create(model="default", prompt="Say hi", stream=True)
    text = "".join([c.choices[0].text async for c in stream if c.choices])
    assert text == b.reply_text
