"""`/v1/embeddings` and `/v1/completions` through chains, with the openai SDK."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

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


async def test_embeddings_reserve_their_input_only_no_completion_budget(mocks, proxy) -> None:
    """`a` allows 1000 tokens a minute; the input is about 520. A completion budget reserved
    on top (the stray max_tokens here, or a preset's reservation for requests without one)
    would not fit, and `a` would be passed over for `b`."""
    a, b = await mocks(), await mocks()
    config = make_config(
        {"a": a, "b": b},
        {"vectors": ["a/e1", "b/e2"]},
        provider_extra={"a": {"rate_limits": {"tokens_per_minute": 1000}}},
    )
    config["chains"][0]["kind"] = "embeddings"
    p = await proxy(config)
    raw = await p.client().embeddings.with_raw_response.create(
        model="vectors", input="word " * 400, extra_body={"max_tokens": 1000}
    )
    assert raw.headers["x-429chain-provider"] == "a" and raw.headers["x-429chain-skipped"] == "0"
    assert (a.calls, b.calls) == (1, 0)
    # Once settled, the quota view charges `a` the input tokens the upstream reported.
    async with (
        aiohttp.ClientSession(headers=p.auth) as http,
        http.get(f"{p.url}/v1/ratelimits") as response,
    ):
        reports = {r["entry"]: r for r in (await response.json())["ratelimits"]}
    spent = reports["a/e1"]["manual"]["tokens_per_minute"]
    assert spent == {"limit": 1000, "used": raw.parse().usage.prompt_tokens}


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_embeddings_and_legacy_completions_reach_the_log_the_stats_and_metrics(
    mocks, proxy
) -> None:
    a, _, p = await embeddings_proxy(mocks, proxy)
    client = p.client()
    vectors = await client.embeddings.create(model="vectors", input=["one", "two"])
    text = await client.completions.create(model="chat", prompt="Say hi", max_tokens=5)
    stream = await client.completions.create(
        model="chat", prompt="Say hi", stream=True, stream_options={"include_usage": True}
    )
    streamed = [c async for c in stream]
    assert streamed[-1].usage is not None
    await p.settled()
    async with aiohttp.ClientSession(headers=p.auth) as http:

        async def get(path: str) -> Any:
            async with http.get(f"{p.url}{path}") as response:
                assert response.status == 200, path
                return await (response.text() if path == "/metrics" else response.json())

        rows = (await get("/v1/stats/requests"))["requests"]
        details = [await get(f"/v1/stats/requests/{row['id']}") for row in rows]
        summary = (await get("/v1/stats/summary"))["summary"]
        chains = {c["chain_name"]: c for c in (await get("/v1/stats/chains"))["chains"]}
        metrics = metric_samples(await get("/metrics"))
    logged = sorted(
        (d["endpoint"], d["chain_name"], d["provider_id"], d["model"], d["stream"], d["outcome"])
        for d in details
    )
    assert logged == [
        ("/v1/completions", "chat", "a", "chat-model", False, "success"),
        ("/v1/completions", "chat", "a", "chat-model", True, "success"),
        ("/v1/embeddings", "vectors", "a", "e1", False, "success"),
    ]
    embedded = next(d for d in details if d["endpoint"] == "/v1/embeddings")
    assert embedded["prompt_tokens"] == vectors.usage.prompt_tokens
    assert (embedded["completion_tokens"], embedded["tokens_estimated"]) == (0, False)
    assert [step["outcome"] for step in embedded["attempt_log"]] == ["success"]
    completed = [d for d in details if d["endpoint"] == "/v1/completions"]
    assert text.usage is not None and streamed[-1].usage is not None
    assert sorted(d["completion_tokens"] for d in completed) == sorted(
        [text.usage.completion_tokens, streamed[-1].usage.completion_tokens]
    )
    assert (summary["total_requests"], summary["successful_requests"]) == (3, 3)
    prompt = sum(d["prompt_tokens"] for d in details)
    assert summary["total_prompt_tokens"] == prompt
    assert (chains["vectors"]["total_requests"], chains["chat"]["total_requests"]) == (1, 2)

    def value(name: str, **labels: str) -> float:
        return metrics[(name, tuple(sorted(labels.items())))]

    served = {"provider": "a", "outcome": "success", "status": "200"}
    assert value("chain429_requests_total", chain="vectors", **served) == 1
    assert value("chain429_requests_total", chain="chat", **served) == 2
    assert value("chain429_tokens_total", provider="a", kind="prompt") == prompt
    assert a.calls == 3
