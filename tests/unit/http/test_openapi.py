"""The route table, the aiohttp app and the OpenAPI document agree, and the document is exact."""

from __future__ import annotations

import json
import re
from typing import Any

from chain429.config.load import parse_config
from chain429.http import spa
from chain429.http.app import create_app
from chain429.http.openapi import document, openapi_path
from chain429.http.routes import route_table
from chain429.vocabulary import RequestOutcome

CONFIG = {
    "version": 1,
    "providers": [{"id": "p", "type": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"}],
    "chains": [{"name": "c", "entries": [{"provider": "p", "model": "m"}]}],
    "settings": {"database_url": "none"},
}
# The TypeScript original's names, kept as documented aliases on its own routes only.
TS_ALIASES = {
    "EntryRateLimit": {"cooldownUntil"},  # /v1/ratelimits
    "TsQuota": {"remainingRequests", "remainingTokens", "resetRequestsMs", "resetTokensMs"},
    "TsResult": {"latencyMs"},  # /v1/test/chain/{name}
}
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def served_routes() -> set[tuple[str, str]]:
    app = create_app(parse_config(json.dumps(CONFIG), env={}))
    out = set()
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info["formatter"]
        if resource.name == spa.ROUTE_NAME:
            continue  # the web UI's catch-all (http/spa.py): pages, not API routes
        for route in resource:
            if route.method not in ("OPTIONS", "HEAD"):
                out.add((route.method.lower(), openapi_path(path)))
    return out


def documented_routes() -> set[tuple[str, str]]:
    return {(method, path) for path, ops in document()["paths"].items() for method in ops}


def test_every_served_route_is_documented_and_every_documented_route_is_served() -> None:
    served, documented = served_routes(), documented_routes()
    assert served == documented
    assert len(served) == len(route_table())  # one table, no route added anywhere else


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_ref_resolves_and_every_json_answer_has_a_schema() -> None:
    doc = document()
    for ref in refs(doc):
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]  # KeyError: a dangling $ref
    assert "$defs" not in json.dumps(doc["paths"])  # hoisted into components/schemas
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            ok = op["responses"]["200"]["content"]
            if "application/json" in ok and path != "/openapi.json":
                assert "$ref" in ok["application/json"]["schema"], (method, path)
            assert op["security"] == [] or op["security"][0] in (
                {"bearer": []},
                {"adminBearer": []},
            )


def test_our_fields_are_snake_case_and_ts_names_only_documented_aliases() -> None:
    schemas = document()["components"]["schemas"]
    for name, schema in schemas.items():
        if name.startswith(
            (
                "Settings",
                "ProviderConfig",
                "ChainConfig",
                "EntryConfig",
                "CacheSettings",
                "ChainCache",
            )
        ):
            continue  # the config file's own names (snake_case; camelCase accepted on input)
        if "RateLimits" in name and "Reply" not in name:
            continue
        odd = {p for p in schema.get("properties", {}) if not SNAKE.match(p)}
        assert odd == TS_ALIASES.get(name, set()), name


def test_the_document_is_precise_required_nullable_and_enums() -> None:
    schemas = document()["components"]["schemas"]
    request = schemas["LoggedRequest"]
    assert request["additionalProperties"] is False
    assert "chain_name" in request["required"] and "fallback" in request["required"]
    assert {"type": "null"} in request["properties"]["provider_id"]["anyOf"]
    outcome = request["properties"]["outcome"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[outcome]["enum"]) == {o.value for o in RequestOutcome}
    health = schemas["Health"]
    assert "path" not in schemas["ConfigHealth"]["required"]  # admin only
    assert set(health["required"]) >= {"status", "requests", "config", "request_log"}
    assert "cooling" in schemas["EntryRateLimit"]["properties"]["state"]["enum"]


def test_the_routes_that_walk_a_chain_document_the_headers_they_answer_with() -> None:
    walking = {
        ("post", path)
        for path in (
            "/v1/chat/completions",
            "/v1/embeddings",
            "/v1/completions",
            "/v1/messages",
            "/v1/responses",
        )
    }
    paths = document()["paths"]
    for method, path in documented_routes():
        headers = paths[path][method]["responses"]["200"].get("headers", {})
        assert ("X-429chain-Request-Id" in headers) is ((method, path) in walking), path
        assert ("X-429chain-Provider" in headers) is ((method, path) in walking), path
