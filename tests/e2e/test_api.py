"""The HTTP surface: auth, routing by model, models, health, CORS and OpenAI-shaped errors."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest

import chain429
from tests.e2e.conftest import PROXY_KEY, make_config
from tests.e2e.shapes import assert_shape

pytestmark = pytest.mark.asyncio

MESSAGES: Any = [{"role": "user", "content": "hi"}]


async def setup(mocks: Any, proxy: Any, **settings: Any) -> tuple[Any, Any, Any]:
    a, b = await mocks(), await mocks()
    config = make_config(
        {"a": a, "b": b}, {"default": ["a/m1", "b/m2"], "fast": ["b/m3"]}, settings
    )
    return a, b, await proxy(config)


async def request(
    p: Any, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{p.url}{path}", headers=headers, **kw) as response,
    ):
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = await response.text()
        if method != "OPTIONS":
            assert_shape(method, path, response.status, body)  # as the OpenAPI document says
        return response.status, dict(response.headers), body


def assert_openai_error(body: Any) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "code", "param"}
    assert body["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}, {"x-api-key": "no"}],
)
async def test_auth_is_required(mocks, proxy, headers) -> None:
    _, _, p = await setup(mocks, proxy)
    status, _, body = await request(
        p, "POST", "/v1/chat/completions", headers=headers, json={"messages": MESSAGES}
    )
    assert status == 401
    assert_openai_error(body)
    assert body["error"]["type"] == "authentication_error"
    status, _, _ = await request(p, "GET", "/v1/models", headers=headers)
    assert status == 401


async def test_x_api_key_is_accepted(mocks, proxy) -> None:
    _, _, p = await setup(mocks, proxy)
    status, _, _ = await request(
        p,
        "POST",
        "/v1/chat/completions",
        headers={"x-api-key": PROXY_KEY},
        json={"model": "default", "messages": MESSAGES},
    )
    assert status == 200


@pytest.mark.parametrize(
    ("data", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'{"model": "default"}', 400, "messages"),
        (b'{"model": "default", "messages": []}', 400, "messages"),
        (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', 400, "model"),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "lots"}',
            400,
            "max_tokens",
        ),
        (b"", 400, None),
    ],
)
async def test_bad_input_gets_a_4xx_openai_error(mocks, proxy, data, status, param) -> None:
    a, _, p = await setup(mocks, proxy)
    got, _, body = await request(p, "POST", "/v1/chat/completions", headers=p.auth, data=data)
    assert got == status
    assert_openai_error(body)
    assert body["error"]["param"] == param
    assert a.calls == 0


async def test_oversize_body_gets_413(mocks, proxy) -> None:
    _, _, p = await setup(mocks, proxy, max_body_bytes=2000)
    big = {"model": "default", "messages": [{"role": "user", "content": "x" * 5000}]}
    status, _, body = await request(p, "POST", "/v1/chat/completions", headers=p.auth, json=big)
    assert status == 413
    assert_openai_error(body)


async def test_unknown_routes_and_methods_are_openai_shaped(mocks, proxy) -> None:
    _, _, p = await setup(mocks, proxy)
    status, _, body = await request(p, "GET", "/v1/nope", headers=p.auth)
    assert status == 404
    assert_openai_error(body)
    status, _, body = await request(p, "GET", "/v1/chat/completions", headers=p.auth)
    assert status == 405
    assert_openai_error(body)


async def test_model_selects_chain_or_pair(mocks, proxy) -> None:
    a, b, p = await setup(mocks, proxy)
    client = p.client()
    raw = await client.chat.completions.with_raw_response.create(model="fast", messages=MESSAGES)
    assert raw.headers["x-429chain-chain"] == "fast"
    assert b.requests[-1].json["model"] == "m3"
    raw = await client.chat.completions.with_raw_response.create(
        model="a/some/nested:free", messages=MESSAGES
    )
    assert raw.headers["x-429chain-provider"] == "a"
    assert a.requests[-1].json["model"] == "some/nested:free"
    raw = await client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.headers["x-429chain-chain"] == "default"
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, extra_headers={"X-429chain-Chain": "fast"}
    )
    assert raw.headers["x-429chain-chain"] == "fast"


async def test_unknown_chain_header_is_404(mocks, proxy) -> None:
    _, _, p = await setup(mocks, proxy)
    with pytest.raises(openai.NotFoundError) as caught:
        await p.client().chat.completions.create(
            model="default", messages=MESSAGES, extra_headers={"X-429chain-Chain": "nope"}
        )
    assert caught.value.code == "chain_not_found"


async def test_unknown_model_policy_404(mocks, proxy) -> None:
    _, _, p = await setup(mocks, proxy, unknown_model="404")
    with pytest.raises(openai.NotFoundError) as caught:
        await p.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert caught.value.code == "model_not_found"
    assert "default" in caught.value.message


async def test_models_lists_chains_and_pairs(mocks, proxy) -> None:
    _, _, p = await setup(mocks, proxy)
    client = p.client()
    ids = [m.id async for m in client.models.list()]
    assert ids == ["default", "fast", "a/m1", "b/m2", "b/m3"]
    model = await client.models.retrieve("b/m2")
    assert model.id == "b/m2"
    assert model.owned_by == "b"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("nope")


async def test_health_needs_no_auth(mocks, proxy) -> None:
    _, _, p = await setup(mocks, proxy)
    await p.client().chat.completions.create(model="default", messages=MESSAGES)
    status, _, body = await request(p, "GET", "/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["version"]
    assert body["uptime_s"] >= 0
    assert body["chains"] == 2
    assert body["providers"] == 2
    assert body["requests"]["served"] == 1


async def test_health_shows_paths_and_errors_only_to_an_admin(mocks, proxy, tmp_path) -> None:
    """Issue 8 #17: no path and no error text without the admin key (same route with it)."""
    _, _, p = await setup(mocks, proxy, database_url=str(tmp_path / "no-such-dir" / "x.db"))
    p.state.config_error = f"cannot read {p.config_path}: permission denied"
    status, _, public = await request(p, "GET", "/health")
    assert status == 200
    text = str(public)
    assert str(tmp_path) not in text and "permission denied" not in text
    assert public["config"] == {
        "loaded_at": public["config"]["loaded_at"],
        "reload_failed": True,
    }
    assert "reason" not in public["request_log"] and "last_error" not in public["request_log"]
    status, _, full = await request(p, "GET", "/health", headers=p.auth)
    assert status == 200
    assert full["config"]["path"] == str(p.config_path)
    assert "permission denied" in full["config"]["error"]
    assert full["config"]["reload_failed"] is True
    assert "reason" in full["request_log"]
    status, _, body = await request(p, "GET", "/health", headers={"x-api-key": "wrong"})
    assert status == 401
    assert_openai_error(body)


async def test_a_proxy_key_on_health_gets_the_short_form_not_a_401(mocks, proxy) -> None:
    """A client or monitor that sends its proxy key everywhere must not be locked out."""
    _, _, p = await setup(mocks, proxy, admin_keys=["sk-admin-only-key-0001"])
    status, _, short = await request(p, "GET", "/health", headers=p.auth)
    assert status == 200
    assert "path" not in short["config"]
    admin = {"Authorization": "Bearer sk-admin-only-key-0001"}
    status, _, full = await request(p, "GET", "/health", headers=admin)
    assert status == 200
    assert full["config"]["path"] == str(p.config_path)


async def test_preflight_without_configured_origins_grants_nothing(mocks, proxy) -> None:
    _, _, p = await setup(mocks, proxy)
    status, headers, _ = await request(
        p,
        "OPTIONS",
        "/v1/chat/completions",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert status == 204
    assert "Access-Control-Allow-Origin" not in headers


async def test_cors_for_configured_origins(mocks, proxy) -> None:
    _, _, p = await setup(mocks, proxy, cors_origins=["https://app.example"])
    status, headers, _ = await request(
        p,
        "OPTIONS",
        "/v1/chat/completions",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    status, headers, _ = await request(
        p,
        "POST",
        "/v1/chat/completions",
        headers={**p.auth, "Origin": "https://app.example"},
        json={"model": "default", "messages": MESSAGES},
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-429chain-Provider" in headers["Access-Control-Expose-Headers"]
    assert "X-429chain-Request-Id" in headers["Access-Control-Expose-Headers"]
    _, headers, _ = await request(
        p,
        "POST",
        "/v1/chat/completions",
        headers={**p.auth, "Origin": "https://evil.example"},
        json={"model": "default", "messages": MESSAGES},
    )
    assert "Access-Control-Allow-Origin" not in headers


async def test_upstream_keys_never_reach_the_client(mocks, proxy) -> None:
    a, b, p = await setup(mocks, proxy)
    from chain429.testing import Reply, error_body

    a.script(Reply(401, error_body(401, "Incorrect API key provided: sk-upstream-a-secret")))
    b.script(Reply(500, "internal"))
    status, _, body = await request(
        p,
        "POST",
        "/v1/chat/completions",
        headers=p.auth,
        json={"model": "default", "messages": MESSAGES},
    )
    assert status == 503
    assert "sk-upstream-a-secret" not in str(body)


async def test_an_upstream_quoting_the_key_is_scrubbed_everywhere(mocks, proxy) -> None:
    from chain429.testing import Reply, error_body

    a, b, p = await setup(mocks, proxy)
    key = "sk-upstream-a-secret"
    a.script(
        Reply(401, error_body(401, f"Incorrect API key provided: {key}")),
    )
    b.script(Reply(400, error_body(400, "bad request for key sk-upstream-b-secret", param="x")))
    status, _, body = await request(
        p,
        "POST",
        "/v1/chat/completions",
        headers=p.auth,
        json={"model": "default", "messages": MESSAGES},
    )
    assert status == 400
    assert "sk-upstream-b-secret" not in str(body)
    assert "sk-…" in body["error"]["message"]
    _, _, limits = await request(p, "GET", "/v1/ratelimits", headers=p.auth)
    assert key not in str(limits)
    assert limits["ratelimits"][0]["state"] == "auth-failed"


async def test_status_answers_have_their_documented_shapes(mocks, proxy) -> None:
    """Built as plain dicts (no validation on these paths), checked here against the models."""
    _, _, p = await setup(mocks, proxy)
    await p.client().chat.completions.create(model="default", messages=MESSAGES)
    for path in ("/v1/models", "/v1/models/a/m1", "/v1/ratelimits", "/health"):
        status, _, _ = await request(p, "GET", path, headers=p.auth)  # shape-checked
        assert status == 200, path
    status, _, body = await request(
        p, "POST", "/v1/chat/completions", headers=p.auth, json={"messages": MESSAGES}
    )
    assert status == 200 and body["choices"]
    status, _, ratelimits = await request(p, "GET", "/v1/ratelimits", headers=p.auth)
    served = next(r for r in ratelimits["ratelimits"] if r["entry"] == "a/m1")
    assert served["status"] == served["state"]  # the TypeScript original's alias


async def test_upstreams_see_our_user_agent_never_aiohttps(mocks, proxy) -> None:
    a = await mocks()
    p = await proxy(make_config({"a": a}, {"default": ["a/m"]}))
    await p.client().chat.completions.create(
        model="default", messages=[{"role": "user", "content": "hi"}]
    )
    (sent,) = a.requests
    assert sent.headers["user-agent"] == f"429chain/{chain429.__version__}"
