"""The management API end to end: masked reads, safe edits of a commented YAML file, tests."""

from __future__ import annotations

import asyncio
import logging
import stat
from typing import Any

import aiohttp
import pytest

from chain429.http import spa
from chain429.redact import mask_secret
from chain429.testing import MockProvider, Reply, Stream, error_body
from tests.e2e.conftest import PROXY_KEY, Proxy
from tests.e2e.shapes import assert_shape

pytestmark = pytest.mark.asyncio

KEY_A = "sk-upstream-a-0123456789secret"
KEY_B = "sk-upstream-b-9876543210secret"
KEY_C = "sk-upstream-c-5555555555secret"
ADMIN_KEY = "sk-admin-key-000000000001"
ALL_KEYS = (KEY_A, KEY_B, KEY_C, PROXY_KEY, ADMIN_KEY)

CONFIG = """\
# 429chain test config (header comment)
version: 1

settings:
  api_keys: ["{proxy_key}"]  # inline: the proxy key
  admin_keys:
    - {admin_key}
  default_chain: default
  database_url: none

# Providers section comment
providers:
  # provider a, literal key
  - id: a
    type: openai-compatible
    api_key: "{key_a}"   # inline on a's key
    base_url: {url_a}

  # provider b, key from the environment
  - id: b
    type: openai-compatible
    api_key: ${{B_KEY}}
    base_url: '{url_b}'

# Chains section comment
chains:
  - name: default  # the default chain
    entries:
      - provider: a
        model: m1
      - provider: b
        model: m2
  - name: spare
    entries:
      - {{provider: b, model: m3}}
"""


def config_text(a: MockProvider, b: MockProvider) -> str:
    return CONFIG.format(
        proxy_key=PROXY_KEY, admin_key=ADMIN_KEY, key_a=KEY_A, url_a=a.url, url_b=b.url
    )


async def start(mocks: Any, yaml_proxy: Any, **mock_kw: Any) -> tuple[Any, Any, Proxy]:
    a = await mocks(api_key=KEY_A, models=["m1", "m1-big"], **mock_kw)
    b = await mocks(api_key=KEY_B)
    p = await yaml_proxy(config_text(a, b), env={"B_KEY": KEY_B, "C_KEY": KEY_C})
    return a, b, p


async def call(
    p: Proxy,
    method: str,
    path: str,
    body: Any = None,
    key: str = ADMIN_KEY,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    """One request; every answer is checked for keys in full (the grep of the issue)."""
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, p.url + path, json=body, data=raw, headers=headers) as response,
    ):
        text = await response.text()
        for secret in ALL_KEYS:
            assert secret not in text, f"{method} {path} leaked a key: {text[:300]}"
        data = await response.json(content_type=None) if text else None
        assert_shape(method, path, response.status, data)  # as the OpenAPI document says
        return response.status, data


def assert_error(data: Any, code: str | None = None) -> None:
    assert set(data) == {"error"}
    assert set(data["error"]) == {"message", "type", "code", "param"}
    if code is not None:
        assert data["error"]["code"] == code, data


async def test_admin_routes_need_an_admin_key(mocks, yaml_proxy) -> None:
    _, _, p = await start(mocks, yaml_proxy)
    for method, path in [
        ("GET", "/v1/admin/config"),
        ("PUT", "/v1/admin/providers/a"),
        ("PATCH", "/v1/admin/settings"),
        ("DELETE", "/v1/admin/chains/spare"),
        ("POST", "/v1/test/chain/default"),
        ("GET", "/v1/admin/providers/a/models"),
    ]:
        status, data = await call(p, method, path, {}, key=PROXY_KEY)
        assert status == 401, (method, path)
        assert_error(data, "invalid_api_key")


async def test_an_admin_key_may_do_what_a_proxy_key_may(mocks, yaml_proxy) -> None:
    # The UI logs in with the admin key and sends it to the proxy routes too (the quota panel,
    # the playground); the demo's admin and proxy keys differ.
    _, _, p = await start(mocks, yaml_proxy)
    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
    for key in (ADMIN_KEY, PROXY_KEY):
        assert (await call(p, "GET", "/v1/ratelimits", key=key))[0] == 200
        assert (await call(p, "GET", "/v1/models", key=key))[0] == 200
        assert (await call(p, "POST", "/v1/chat/completions", body, key=key))[0] == 200
    status, data = await call(p, "GET", "/v1/ratelimits", key="sk-nobody-000000000000")
    assert status == 401
    assert_error(data, "invalid_api_key")


async def test_config_is_shown_with_every_key_masked(mocks, yaml_proxy) -> None:
    _, _, p = await start(mocks, yaml_proxy)
    status, data = await call(p, "GET", "/v1/admin/config")
    assert status == 200
    a, b = data["providers"]
    assert a["api_key"] == "sk-…cret"
    assert b["api_key"] == "${B_KEY}"  # a reference is shown as written
    assert data["settings"]["api_keys"] == ["sk-…0001"]
    assert data["settings"]["admin_keys"] == ["sk-…0001"]
    assert data["file"]["path"] == str(p.config_path)
    assert data["file"]["error"] is None
    assert [c["name"] for c in data["chains"]] == ["default", "spare"]
    status, camel = await call(p, "GET", "/v1/admin/config?case=camel")
    assert camel["providers"][0]["apiKey"] == "sk-…cret"
    assert camel["settings"]["defaultChain"] == "default"


async def test_edits_keep_comments_references_and_quoting(mocks, yaml_proxy, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    _, b, p = await start(mocks, yaml_proxy)
    # A second provider on b's host, reading b's variable: the API may write that reference,
    # as the variable already goes there (see test_a_secret_goes_..._where_it_went_before).
    new = {"type": "openai-compatible", "api_key": "${B_KEY}", "baseUrl": b.url}
    status, data = await call(p, "PUT", "/v1/admin/providers/c", new)
    assert status == 201, data
    assert data["created"] is True
    assert data["provider"]["apiKey"] == "${B_KEY}"  # answered in the spelling it was sent
    status, _ = await call(p, "PATCH", "/v1/admin/providers/a", {"timeout_ms": 5000})
    assert status == 200
    chain = {"entries": ["c/m9", {"provider": "a", "model": "m1"}]}
    status, data = await call(p, "PUT", "/v1/admin/chains/fast", chain)
    assert status == 201, data
    status, _ = await call(p, "DELETE", "/v1/admin/chains/spare")
    assert status == 200
    text = p.config_path.read_text()
    for kept in (
        "# 429chain test config (header comment)",
        'api_keys: ["sk-proxy-test-key-0001"]  # inline: the proxy key',
        "# Providers section comment",
        "# provider a, literal key",
        f'api_key: "{KEY_A}"   # inline on a\'s key',
        "# provider b, key from the environment",
        "# Chains section comment",
        "- name: default  # the default chain",
        "timeout_ms: 5000",
    ):
        assert kept in text, kept
    assert text.count("api_key: ${B_KEY}") == 2  # b's, and the new provider's
    assert KEY_B not in text  # references were never resolved
    assert "spare" not in text
    assert text.index("id: c") < text.index("# Chains section comment")
    assert stat.S_IMODE(p.config_path.stat().st_mode) == 0o600
    # The runtime serves what the file says.
    assert p.state.routes.chains.keys() == {"default", "fast"}
    reply = await p.client().chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content
    assert b.requests[-1].json["model"] == "m9"
    assert b.requests[-1].headers["authorization"] == f"Bearer {KEY_B}"


async def test_two_concurrent_edits_are_both_kept(mocks, yaml_proxy) -> None:
    _, _, p = await start(mocks, yaml_proxy)
    bodies = [
        {"type": "openai-compatible", "api_key": f"sk-new-{n}-key-1234567", "base_url": url}
        for n, url in (("x", "http://127.0.0.1:9/v1"), ("y", "http://127.0.0.1:10/v1"))
    ]
    results = await asyncio.gather(
        call(p, "PUT", "/v1/admin/providers/x", bodies[0]),
        call(p, "PUT", "/v1/admin/providers/y", bodies[1]),
    )
    assert [status for status, _ in results] == [201, 201]
    text = p.config_path.read_text()
    assert "id: x" in text and "id: y" in text
    assert {"x", "y"} <= {provider.id for provider in p.state.config.providers}


async def test_an_invalid_edit_is_rejected_and_the_file_is_untouched(
    mocks, yaml_proxy, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    _, _, p = await start(mocks, yaml_proxy)
    before = p.config_path.read_bytes()
    served = p.state.config
    cases = [
        ("PUT", "/v1/admin/chains/bad", {"entries": [{"provider": "nope", "model": "m"}]}),
        ("PUT", "/v1/admin/providers/a", {"type": "openai-compatible", "base_url": "ftp://x"}),
        ("PUT", "/v1/admin/providers/z", {"base_url": "http://127.0.0.1:1/v1"}),  # no type
        ("PATCH", "/v1/admin/settings", {"default_chain": "missing"}),
        ("PATCH", "/v1/admin/settings", {"port": "not a port"}),
        ("PUT", "/v1/admin/chains/empty", {"entries": []}),
    ]
    for method, path, body in cases:
        status, data = await call(p, method, path, body)
        assert status == 400, (path, data)
        assert_error(data, "invalid_config")
    status, data = await call(p, "PUT", "/v1/admin/providers/a", raw=b"{not json")
    assert status == 400
    assert_error(data, "invalid_json")
    status, data = await call(p, "PUT", "/v1/admin/providers/a", {"id": "other", "type": "x"})
    assert status == 400
    assert_error(data)
    assert p.config_path.read_bytes() == before
    assert p.state.config is served


async def test_a_masked_key_sent_back_does_not_overwrite_the_real_one(mocks, yaml_proxy) -> None:
    a, _, p = await start(mocks, yaml_proxy)
    _, config = await call(p, "GET", "/v1/admin/config")
    for provider in config["providers"]:  # PUT back exactly what GET showed
        status, data = await call(p, "PUT", f"/v1/admin/providers/{provider['id']}", provider)
        assert status == 200, data
    status, _ = await call(p, "PATCH", "/v1/admin/providers/a", {"api_key": "sk-…cret"})
    assert status == 200
    status, _ = await call(p, "PATCH", "/v1/admin/providers/b", {"apiKey": "***"})  # as TS did
    assert status == 200
    status, _ = await call(
        p, "PATCH", "/v1/admin/settings", {"api_keys": config["settings"]["api_keys"]}
    )
    assert status == 200
    text = p.config_path.read_text()
    assert f'"{KEY_A}"' in text and "${B_KEY}" in text and PROXY_KEY in text
    status, data = await call(p, "PATCH", "/v1/admin/providers/a", {"api_key": "sk-…zzzz"})
    assert status == 400
    assert_error(data, "masked_key")
    reply = await p.client().chat.completions.create(
        model="a/m1", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content
    assert a.requests[-1].headers["authorization"] == f"Bearer {KEY_A}"


async def test_delete_rules(mocks, yaml_proxy) -> None:
    _, _, p = await start(mocks, yaml_proxy)
    status, data = await call(p, "DELETE", "/v1/admin/providers/b")
    assert status == 409
    assert_error(data, "provider_in_use")
    assert "default, spare" in data["error"]["message"]
    status, data = await call(p, "DELETE", "/v1/admin/providers/b?force=true")
    assert status == 409  # "spare" would be left empty
    status, data = await call(p, "DELETE", "/v1/admin/chains/default")
    assert status == 409
    assert_error(data, "default_chain")
    status, data = await call(p, "DELETE", "/v1/admin/chains/nope")
    assert status == 404
    assert_error(data, "chain_not_found")
    assert (await call(p, "DELETE", "/v1/admin/chains/spare"))[0] == 200
    status, data = await call(p, "DELETE", "/v1/admin/providers/b?force=true")
    assert status == 200, data
    assert data["chains_edited"] == ["default"]
    assert [e.key for e in p.state.routes.chains["default"].entries] == ["a/m1"]
    assert "B_KEY" not in p.config_path.read_text()
    status, data = await call(p, "PATCH", "/v1/admin/providers/nope", {"timeout_ms": 1})
    assert status == 404


async def test_settings_edit(mocks, yaml_proxy) -> None:
    _, _, p = await start(mocks, yaml_proxy)
    body = {"defaultChain": "spare", "deadline_ms": 90000, "port": 4000}
    status, data = await call(p, "PATCH", "/v1/admin/settings", body)
    assert status == 200, data
    assert data["settings"]["defaultChain"] == "spare"
    assert data["restart_required"] == ["port"]
    assert p.state.routes.default_chain == "spare"
    assert p.state.walker.timeouts.deadline_s == 90
    status, data = await call(
        p, "PATCH", "/v1/admin/settings", {"api_keys": [], "admin_keys": None}
    )
    assert status == 409
    assert_error(data, "would_remove_keys")


async def test_test_connection_and_list_models(mocks, yaml_proxy, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    a, _, p = await start(mocks, yaml_proxy)
    status, data = await call(p, "POST", "/v1/admin/providers/a/test")
    assert status == 200
    assert data["ok"] is True and data["method"] == "models" and data["models"] == 2
    assert data["status"] == 200 and data["latency_ms"] >= 0
    status, data = await call(p, "POST", "/v1/admin/providers/a/test", {"model": "m1"})
    assert data["ok"] is True and data["method"] == "chat"
    assert a.requests[-1].json["max_tokens"] == 5
    status, data = await call(p, "GET", "/v1/admin/providers/a/models")
    assert status == 200
    assert data["models"] == ["m1", "m1-big"]
    # The upstream refuses, quoting the key: the report says so, with the key masked.
    a.script(Reply(401, error_body(401, f"Incorrect API key provided: {KEY_A}")))
    status, data = await call(p, "POST", "/v1/admin/providers/a/test", {"model": "m1"})
    assert status == 200
    assert data["ok"] is False and data["status"] == 401
    assert "Incorrect API key provided: sk-…cret" in data["error"]
    # A provider that speaks only Anthropic's Messages API is tested in it.
    native = {"type": "anthropic-compatible", "api_key": KEY_A, "base_url": a.url}
    assert (await call(p, "PUT", "/v1/admin/providers/native", native))[0] == 201
    status, data = await call(p, "POST", "/v1/admin/providers/native/test", {"model": "c"})
    assert data["ok"] is True
    assert a.requests[-1].path == "/v1/messages" and a.requests[-1].json["max_tokens"] == 5
    # Nothing listens there: a failed test, and a 502 for the model list.
    dead = {"type": "openai-compatible", "api_key": KEY_C, "base_url": "http://127.0.0.1:9/v1"}
    assert (await call(p, "PUT", "/v1/admin/providers/dead", dead))[0] == 201
    status, data = await call(p, "POST", "/v1/admin/providers/dead/test")
    assert status == 200
    assert data["ok"] is False and data["status"] is None and data["error"]
    status, data = await call(p, "GET", "/v1/admin/providers/dead/models")
    assert status == 502
    assert_error(data, "upstream_error")
    status, data = await call(p, "POST", "/v1/admin/providers/nope/test")
    assert status == 404


async def test_chain_test_waterfall_per_entry_and_stream(mocks, yaml_proxy, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    a, b, p = await start(mocks, yaml_proxy)
    a.script(Reply(500, error_body(500, "boom")))
    status, data = await call(p, "POST", "/v1/test/chain/default", {"prompt": "hello"})
    assert status == 200, data
    assert data["mode"] == "waterfall" and data["ok"] is True
    assert data["served_by"] == "b/m2"
    assert [(x["entry"], x["outcome"]) for x in data["attempts"]] == [
        ("a/m1", "upstream_error"),
        ("b/m2", "success"),
    ]
    assert data["response"]
    assert [r["status"] for r in data["results"]] == ["error", "ok"]
    assert b.requests[-1].json["messages"][0]["content"] == "hello"

    a.script(Reply(500, error_body(500, "boom")))
    status, data = await call(p, "POST", "/v1/test/chain/default", {"perEntry": True})
    assert data["mode"] == "per_entry"
    assert [(r["provider"], r["status"]) for r in data["results"]] == [("a", "error"), ("b", "ok")]
    assert data["summary"] == {"total": 2, "ok": 1, "failed": 1}

    status, data = await call(p, "POST", "/v1/test/chain/default", {"stream": True})
    assert data["ok"] is True and data["stream"] is True
    assert data["response"] == "Hello! This is the mock provider answering."

    b.script(Stream(reset_after=2))
    a.script(Reply(429, error_body(429, "slow down")))
    status, data = await call(p, "POST", "/v1/test/chain/default", {"stream": True})
    assert data["ok"] is False and data["error"]
    status, data = await call(p, "POST", "/v1/test/chain/nope")
    assert status == 404
    assert_error(data, "chain_not_found")


async def test_openapi_document_covers_every_route(mocks, yaml_proxy) -> None:
    _, _, p = await start(mocks, yaml_proxy)
    async with aiohttp.ClientSession() as session, session.get(p.url + "/openapi.json") as r:
        assert r.status == 200
        doc = await r.json()
    assert doc["openapi"] == "3.1.0"
    for resource in p.app.router.resources():
        if resource.name == spa.ROUTE_NAME:
            continue  # the web UI's pages, not an API route
        info = resource.get_info()
        path = info.get("path") or info.get("formatter", "")
        path = path.replace("{model_id:.+}", "{model_id}").replace(":.+}", "}")
        methods = {route.method.lower() for route in resource} - {"options", "head"}
        assert path in doc["paths"], path
        assert methods <= set(doc["paths"][path]), (path, methods)

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]


@pytest.fixture(autouse=True)
def no_key_in_the_logs(caplog: pytest.LogCaptureFixture) -> Any:
    """The grep of the issue, for logs: whatever a test did, no key was logged in full."""
    yield
    for secret in ALL_KEYS:
        assert secret not in caplog.text


async def test_keys_added_by_an_edit_reach_the_log_filter(mocks, yaml_proxy) -> None:
    from chain429.logs import RedactSecrets

    a = await mocks(api_key=KEY_A)
    b = await mocks(api_key=KEY_B)
    redactor = RedactSecrets()
    p = await yaml_proxy(
        config_text(a, b), env={"B_KEY": KEY_B, "C_KEY": KEY_C}, on_secrets=redactor.update
    )
    new_key = "sk-added-later-0000000099"
    status, _ = await call(
        p,
        "PUT",
        "/v1/admin/providers/late",
        {"type": "openai-compatible", "base_url": a.url, "api_key": new_key},
    )
    assert status in (200, 201)
    record = logging.LogRecord("x", logging.INFO, "", 0, f"upstream said {new_key}", None, None)
    record.fields = {"error": f"quoting {new_key}"}
    redactor.filter(record)
    assert new_key not in record.getMessage()
    assert new_key not in repr(record.fields)


# -- what an admin key may not do ---------------------------------------------------------------


async def test_env_references_through_the_api_only_in_api_key_and_for_key_variables(
    mocks, yaml_proxy
) -> None:
    _, _, p = await start(mocks, yaml_proxy)
    before = p.config_path.read_text()
    for body, param in (
        ({"name": "${B_KEY}"}, "providers[0].name"),
        ({"headers": {"X-Leak": "${B_KEY}"}}, "providers[0].headers.X-Leak"),
        ({"api_key": "${HOME}"}, "providers[0].api_key"),
    ):
        status, data = await call(p, "PATCH", "/v1/admin/providers/a", body)
        assert status == 400, data
        assert_error(data, "env_reference_refused")
        assert data["error"]["param"] == param
    status, data = await call(p, "PATCH", "/v1/admin/settings", {"user_agent": "${B_KEY}"})
    assert status == 400, data
    assert_error(data, "env_reference_refused")
    assert p.config_path.read_text() == before
    # Key-like means *_API_KEY or *_TOKEN: a bare *_KEY names too many other secrets.
    for name in ("C_KEY", "AWS_SECRET_ACCESS_KEY", "SECRET_KEY"):
        body = {"api_key": f"${{{name}}}"}
        status, data = await call(p, "PATCH", "/v1/admin/providers/a", body)
        assert status == 400, (name, data)
        assert_error(data, "env_reference_refused")
        assert "*_API_KEY or *_TOKEN" in data["error"]["message"]
    assert p.config_path.read_text() == before
    # A key-like variable at its provider type's own host is fine (unset here: the provider
    # is off until it is set); the provider that holds a reference keeps it.
    body = {"type": "groq", "api_key": "${GROQ_API_KEY}"}
    status, data = await call(p, "PUT", "/v1/admin/providers/g", body)
    assert status == 201, data
    status, data = await call(p, "PATCH", "/v1/admin/providers/b", {"timeout_ms": 9000})
    assert status == 200, data
    status, data = await call(p, "PATCH", "/v1/admin/providers/a", {"name": "$${LITERAL}"})
    assert status == 200, data  # an escaped reference is plain text


async def test_a_new_host_needs_the_api_key_again(mocks, yaml_proxy) -> None:
    a, _, p = await start(mocks, yaml_proxy)
    elsewhere = await mocks()
    before = p.config_path.read_text()
    for method, body in (
        ("PATCH", {"base_url": elsewhere.url}),
        ("PATCH", {"base_url": elsewhere.url, "api_key": mask_secret(KEY_A)}),  # masked: kept
        ("PUT", {"type": "openai-compatible", "base_url": elsewhere.url}),
    ):
        status, data = await call(p, method, "/v1/admin/providers/a", body)
        assert status == 409, (method, body, data)
        assert_error(data, "api_key_required")
        assert data["error"]["param"] == "api_key"
    assert p.config_path.read_text() == before
    # Same host, another path: the key stays.
    status, data = await call(p, "PATCH", "/v1/admin/providers/a", {"base_url": a.url + "/v2"})
    assert status == 200, data
    # The key sent with the move: saved.
    body = {"base_url": elsewhere.url, "api_key": "sk-new-key-for-elsewhere-01"}
    status, data = await call(p, "PATCH", "/v1/admin/providers/a", body)
    assert status == 200, data
    assert "sk-new-key-for-elsewhere-01" in p.config_path.read_text()


async def test_a_secret_goes_through_the_api_only_where_it_went_before(mocks, yaml_proxy) -> None:
    """The audit's probe: one PATCH moved a provider to the admin's own host with
    `api_key: ${AWS_SECRET_ACCESS_KEY}`, and the next request carried that secret there.
    Neither in one edit nor in two, nor with a new provider, does a variable reach a host
    the config did not send it to."""
    a = await mocks(api_key=KEY_A, models=["m1"])
    b = await mocks(api_key=KEY_B)
    secrets = {"AWS_SECRET_ACCESS_KEY": "aws-secret-0123456789", "OPENAI_API_KEY": "sk-oa-0042"}
    env = {"B_KEY": KEY_B, "C_KEY": KEY_C, **secrets}
    p = await yaml_proxy(config_text(a, b), env=env)
    attacker = await mocks()
    for method, path, body in (
        ("PATCH", "a", {"base_url": attacker.url, "api_key": "${AWS_SECRET_ACCESS_KEY}"}),
        ("PATCH", "a", {"base_url": attacker.url, "api_key": "${OPENAI_API_KEY}"}),
        ("PUT", "evil", {"type": "openai", "base_url": attacker.url, "api_key": "${B_KEY}"}),
    ):
        status, data = await call(p, method, f"/v1/admin/providers/{path}", body)
        assert status == 400, (body, data)
        assert_error(data, "env_reference_refused")
    # b's own reference sent back is b's stored key: a new host needs the key itself.
    body = {"base_url": attacker.url, "api_key": "${B_KEY}"}
    status, data = await call(p, "PATCH", "/v1/admin/providers/b", body)
    assert status == 409, data
    assert_error(data, "api_key_required")
    # Two steps: the move with a literal key is fine; the variable after it is not.
    body = {"base_url": attacker.url, "api_key": "sk-attackers-own-key-0001"}
    status, data = await call(p, "PATCH", "/v1/admin/providers/a", body)
    assert status == 200, data
    status, data = await call(p, "PATCH", "/v1/admin/providers/a", {"api_key": "${OPENAI_API_KEY}"})
    assert status == 400, data
    assert_error(data, "env_reference_refused")
    assert data["error"]["param"] == "providers[0].api_key"
    assert "write the key itself" in data["error"]["message"]
    async with aiohttp.ClientSession() as http:
        chat = {"model": "a/m1", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"Authorization": f"Bearer {PROXY_KEY}"}
        async with http.post(p.url + "/v1/chat/completions", json=chat, headers=headers) as r:
            assert r.status == 200
    seen = " ".join(str(req.headers) for req in attacker.requests)
    assert "sk-attackers-own-key-0001" in seen
    for secret in (*secrets.values(), KEY_B):
        assert secret not in seen
    # A variable goes where the config already sends it: a second provider on b's host.
    body = {"type": "openai-compatible", "base_url": b.url, "api_key": "${B_KEY}"}
    status, data = await call(p, "PUT", "/v1/admin/providers/b2", body)
    assert status == 201, data


async def test_oversized_values_and_files_are_refused(mocks, yaml_proxy) -> None:
    _, _, p = await start(mocks, yaml_proxy)
    before = p.config_path.read_text()
    status, data = await call(p, "PATCH", "/v1/admin/providers/a", {"name": "n" * 500_000})
    assert status == 400, str(data)[:300]
    assert_error(data, "invalid_config")
    assert "at most 128" in data["error"]["message"]
    headers = {f"X-H{i}": "v" * 8000 for i in range(70)}  # each value fine; 560 KB in all
    status, data = await call(p, "PATCH", "/v1/admin/providers/a", {"headers": headers})
    assert status == 200, str(data)[:300]
    before = p.config_path.read_text()
    status, data = await call(p, "PATCH", "/v1/admin/providers/b", {"headers": headers})
    assert status == 413, str(data)[:300]
    assert_error(data, "config_too_large")
    assert p.config_path.read_text() == before


async def test_an_edit_swaps_the_runtime_snapshot_whole(mocks, yaml_proxy) -> None:
    """A request holding the old snapshot keeps one consistent config; the new one is whole."""
    _, _, p = await start(mocks, yaml_proxy)
    before = p.state.runtime
    status, _ = await call(p, "PUT", "/v1/admin/chains/extra", {"entries": ["a/m1"]})
    assert status == 201
    after = p.state.runtime
    assert after is not before
    assert "extra" not in before.routes.chains and before.config.chain("extra") is None
    assert "extra" in after.routes.chains
    assert after.config.chain("extra") is not None
    assert after.loaded_at >= before.loaded_at and after.config_hash != before.config_hash
    with pytest.raises(AttributeError):  # frozen: changed only by replacing it
        before.routes = after.routes  # type: ignore[misc]
