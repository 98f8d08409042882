"""The OpenAPI 3.1 document for the whole HTTP API, served at `GET /openapi.json` (no auth).

Config shapes come from the pydantic schema itself (snake_case field names; the camelCase
spellings of the TypeScript original are accepted too), so they cannot drift from the loader.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chain429 import __version__
from chain429.config.schema import (
    ChainConfig,
    Config,
    EntryConfig,
    ProviderConfig,
    RateLimits,
    Settings,
)

Schema = dict[str, Any]

_PROXY: list[dict[str, list[str]]] = [
    {"bearer": []},
    {"apiKey": []},
]  # a key from settings.api_keys
_ADMIN: list[dict[str, list[str]]] = [
    {"adminBearer": []},
    {"adminApiKey": []},
]  # settings.admin_keys (default: api_keys)
_CONFIG_MODELS: tuple[type[BaseModel], ...] = (
    Config,
    Settings,
    ProviderConfig,
    ChainConfig,
    EntryConfig,
    RateLimits,
)


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(description: str = "", /, **properties: Schema) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if description:
        schema["description"] = description
    return schema


def _json(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Schema]:
    return {str(s): {"$ref": f"#/components/responses/Error{s}"} for s in statuses}


def _path_param(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _query(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _op(
    summary: str,
    tag: str,
    ok: Schema,
    *,
    security: list[dict[str, list[str]]] | None = _ADMIN,
    params: list[Schema] | None = None,
    body: Schema | None = None,
    errors: tuple[int, ...] = (401,),
    description: str = "",
) -> Schema:
    operation: Schema = {"summary": summary, "tags": [tag], "responses": {"200": ok}}
    operation["responses"].update(_errors(*errors))
    if description:
        operation["description"] = description
    operation["security"] = security if security is not None else []
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body}},
        }
    return operation


_FILTERS = [
    _query("since", "Start time: epoch seconds, epoch milliseconds or ISO 8601."),
    _query("until", "End time (exclusive), same formats as `since`."),
    _query("chain", "Only this chain."),
    _query("provider", "Only this provider id."),
    _query("model", "Only this upstream model."),
    _query("key", "Only this API key label (the masked key, never the key)."),
]
_STATS = _json(_obj("Aggregates as documented on the route."))
_STATS_ERRORS = (400, 401, 503)


def _stats_paths() -> dict[str, Schema]:
    def stats(
        summary: str, params: list[Schema] | None = None, errors: tuple[int, ...] = ()
    ) -> Schema:
        return {
            "get": _op(
                summary,
                "stats",
                _STATS,
                params=params if params is not None else _FILTERS,
                errors=_STATS_ERRORS + errors,
            )
        }

    provider = _path_param("provider_id", "A provider id.")
    chain = _path_param("chain_name", "A chain name.")
    page = [
        *_FILTERS,
        _query("outcome", "Only this outcome class."),
        _query("q", "Error text to search for."),
        _query("limit", "At most this many rows (default 50, at most 500).", {"type": "integer"}),
        _query("offset", "Rows to skip.", {"type": "integer"}),
    ]
    bucket = _query("bucket", "Bucket size.", {"type": "string", "enum": ["minute", "hour", "day"]})
    return {
        "/v1/stats/summary": stats("Totals: requests, tokens, success and waterfall rates."),
        "/v1/stats/providers": stats("Usage per provider."),
        "/v1/stats/providers/{provider_id}": stats(
            "Usage of one provider.", [provider, *_FILTERS], (404,)
        ),
        "/v1/stats/chains": stats("Usage per chain."),
        "/v1/stats/chains/{chain_name}": stats("Usage of one chain.", [chain, *_FILTERS], (404,)),
        "/v1/stats/models": stats("Usage per upstream model."),
        "/v1/stats/keys": stats("Usage per API key label."),
        "/v1/stats/requests": stats("The request log, newest first, with filters.", page),
        "/v1/stats/requests/{request_id}": stats(
            "One logged request with its attempts.",
            [_path_param("request_id", "A request id.")],
            (404,),
        ),
        "/v1/stats/timeseries": stats(
            "Requests, tokens, 429s, fallbacks, errors and latency p50/p95 per bucket.",
            [*_FILTERS, bucket],
        ),
        "/v1/stats/health": stats(
            "Per provider: error rate and latency trend, last 5 minutes and last hour.", []
        ),
        "/v1/stats/savings": stats("Tokens served times list price, per provider and in total."),
        "/v1/stats/capacity": stats("Free requests and tokens left today, per chain.", []),
    }


def _admin_paths() -> dict[str, Schema]:
    provider_id = _path_param("id", "The provider id.")
    chain_name = _path_param("name", "The chain name.")
    edited: dict[str, Schema] = {
        "warnings": {"type": "array", "items": {"type": "string"}},
        "restart_required": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Settings saved but used only after a restart.",
        },
    }
    provider_out = _json(_obj(provider=_ref("ProviderView"), created={"type": "boolean"}, **edited))
    chain_out = _json(_obj(chain=_ref("ChainConfig"), created={"type": "boolean"}, **edited))
    edit_errors = (400, 401, 404, 409)
    case = _query(
        "case",
        "`camel` answers with the TypeScript original's camelCase keys.",
        {"enum": ["camel"]},
    )
    return {
        "/v1/admin/config": {
            "get": _op(
                "The served config, every key masked (`gsk_…abcd`); `${VAR}` fields as written.",
                "admin",
                _json(_ref("ConfigView")),
                params=[case],
            )
        },
        "/v1/admin/settings": {
            "patch": _op(
                "Edit settings (JSON merge patch: null resets a setting to its default).",
                "admin",
                _json(_obj(settings=_ref("Settings"), **edited)),
                body=_ref("Settings"),
                errors=(400, 401, 409),
                description="Keys sent back masked, as GET showed them, are kept unchanged.",
            )
        },
        "/v1/admin/providers/{id}": {
            "put": _op(
                "Create or replace a provider (fields left out are removed).",
                "admin",
                provider_out,
                params=[provider_id],
                body=_ref("ProviderConfig"),
                errors=(400, 401, 409),
                description="An `api_key` left out, or sent back masked, keeps the current key. "
                "`${VAR}` values are written as references. Answers 201 when created.",
            ),
            "patch": _op(
                "Edit a provider: only the fields sent change (null removes one).",
                "admin",
                provider_out,
                params=[provider_id],
                body=_ref("ProviderConfig"),
                errors=edit_errors,
                description="An `api_key` left out, or sent back masked, keeps the current key.",
            ),
            "delete": _op(
                "Delete a provider.",
                "admin",
                _json(
                    _obj(
                        deleted={"type": "string"},
                        chains_edited={"type": "array", "items": {"type": "string"}},
                    )
                ),
                params=[
                    provider_id,
                    _query(
                        "force",
                        "Also remove its entries from the chains that use it.",
                        {"type": "boolean"},
                    ),
                ],
                errors=edit_errors,
                description="409 while a chain uses the provider, unless `force=true`; 409 if "
                "that would leave a chain with no entries.",
            ),
        },
        "/v1/admin/providers/{id}/test": {
            "post": _op(
                "Test connection: GET its model list, or with `model` a tiny chat completion.",
                "admin",
                _json(_ref("ProviderTest")),
                params=[provider_id],
                body=_obj(model={"type": "string"}),
                errors=(400, 401, 404),
            )
        },
        "/v1/admin/providers/{id}/models": {
            "get": _op(
                "The provider's own model list (its /models endpoint).",
                "admin",
                _json(_ref("ModelList")),
                params=[provider_id],
                errors=(401, 404, 502, 504),
            )
        },
        "/v1/admin/chains/{name}": {
            "put": _op(
                "Create or replace a chain.",
                "admin",
                chain_out,
                params=[chain_name],
                body=_obj(
                    entries={
                        "type": "array",
                        "items": {"anyOf": [_ref("EntryConfig"), {"type": "string"}]},
                        "description": "Entries, or `provider/model` strings.",
                    },
                    max_wait_ms={"type": "integer"},
                ),
                errors=(400, 401, 409),
            ),
            "delete": _op(
                "Delete a chain (the default chain cannot be deleted: 409).",
                "admin",
                _json(_obj(deleted={"type": "string"}, **edited)),
                params=[chain_name],
                errors=edit_errors,
            ),
        },
        "/v1/test/chain/{name}": {
            "post": _op(
                "Run a chain as a client request would (a real waterfall), or each entry alone.",
                "admin",
                _json(_ref("ChainTest")),
                params=[chain_name],
                body=_obj(
                    prompt={"type": "string"},
                    max_tokens={"type": "integer"},
                    stream={"type": "boolean"},
                    per_entry={"type": "boolean", "description": "Also accepted: perEntry."},
                ),
                errors=(400, 401, 404),
            )
        },
    }


def _paths() -> dict[str, Schema]:
    chat = _op(
        "Chat completion, served by the first entry of the chain that can.",
        "openai",
        {
            "description": "A completion, or with `stream: true` server-sent events.",
            "content": {
                "application/json": {"schema": _ref("ChatCompletion")},
                "text/event-stream": {"schema": {"type": "string"}},
            },
            "headers": {
                name: {"schema": {"type": "string"}, "description": text}
                for name, text in (
                    ("X-429chain-Chain", "The chain that served."),
                    ("X-429chain-Provider", "The provider that served."),
                    ("X-429chain-Model", "The upstream model that served."),
                    ("X-429chain-Attempts", "Upstream calls made."),
                    ("X-429chain-Skipped", "Entries skipped (cooling down or out of quota)."),
                )
            },
        },
        security=_PROXY,
        body=_ref("ChatCompletionRequest"),
        errors=(400, 401, 404, 413, 429, 503),
        description="`model` names a chain, or `provider/model` for one entry; the "
        "`X-429chain-Chain` header overrides it and `X-429chain-Max-Wait` allows waiting for "
        "capacity.",
    )
    chat["requestBody"]["required"] = True
    model_id = _path_param("model_id", "A chain name, or `provider/model`.")
    return {
        "/v1/chat/completions": {"post": chat},
        "/v1/models": {
            "get": _op(
                "Chains, then every provider/model.",
                "openai",
                _json(_ref("ModelList")),
                security=_PROXY,
            )
        },
        "/v1/models/{model_id}": {
            "get": _op(
                "One model.",
                "openai",
                _json(_ref("Model")),
                security=_PROXY,
                params=[model_id],
                errors=(401, 404),
            )
        },
        "/health": {
            "get": _op(
                "Liveness and a summary; no key needed.",
                "status",
                _json(_ref("Health")),
                security=None,
                errors=(),
            )
        },
        "/v1/ratelimits": {
            "get": _op(
                "Every entry's quota state, and who serves each chain next.",
                "status",
                _json(_obj(ratelimits={"type": "array"}, chains={"type": "array"})),
                security=_PROXY,
            )
        },
        "/openapi.json": {
            "get": _op(
                "This document.", "status", _json({"type": "object"}), security=None, errors=()
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics.",
                "stats",
                {
                    "description": "Prometheus text format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                errors=(401, 503),
            )
        },
        **_stats_paths(),
        **_admin_paths(),
    }


def _schemas() -> dict[str, Schema]:
    _, top = models_json_schema(
        [(model, "validation") for model in _CONFIG_MODELS],
        by_alias=False,
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Schema] = dict(top.get("$defs", {}))
    masked = {"type": "string", "description": "Masked (`gsk_…abcd`) or a `${VAR}` reference."}
    attempt = _obj(
        entry={"type": "string"},
        provider={"type": "string"},
        model={"type": "string"},
        outcome={"type": "string"},
        status={"type": ["integer", "null"]},
        reason={"type": "string"},
        skipped={"type": "boolean"},
        latency_ms={"type": "number"},
    )
    schemas.update(
        {
            "Error": _obj(
                "The OpenAI error envelope.",
                error=_obj(
                    message={"type": "string"},
                    type={"type": "string"},
                    code={"type": ["string", "null"]},
                    param={"type": ["string", "null"]},
                ),
            ),
            "ChatCompletionRequest": {
                **_obj(
                    "An OpenAI chat completion request; unknown fields are passed upstream.",
                    model={"type": "string"},
                    messages={"type": "array", "items": {"type": "object"}, "minItems": 1},
                    stream={"type": "boolean"},
                    max_tokens={"type": "integer"},
                ),
                "required": ["messages"],
            },
            "ChatCompletion": _obj(
                "The upstream's completion, passed through.",
                id={"type": "string"},
                choices={"type": "array", "items": {"type": "object"}},
                usage={"type": "object"},
            ),
            "Model": _obj(
                id={"type": "string"},
                object={"const": "model"},
                created={"type": "integer"},
                owned_by={"type": "string"},
            ),
            "ModelList": _obj(
                object={"const": "list"},
                data={"type": "array", "items": _ref("Model")},
                models={"type": "array", "items": {"type": "string"}},
            ),
            "ConfigStatus": _obj(
                path={"type": ["string", "null"]},
                loaded_at={"type": "string", "format": "date-time"},
                error={
                    "type": ["string", "null"],
                    "description": "Why the file on disk is not the config being served.",
                },
            ),
            "Health": _obj(
                status={"type": "string"},
                version={"type": "string"},
                uptime_s={"type": "number"},
                providers={"type": "integer"},
                chains={"type": "integer"},
                config=_ref("ConfigStatus"),
            ),
            "ProviderView": {
                "allOf": [_ref("ProviderConfig"), _obj(api_key=masked)],
            },
            "ConfigView": _obj(
                "The config (as `Config`), keys masked, plus where it came from.",
                version={"type": "integer"},
                settings=_ref("Settings"),
                providers={"type": "array", "items": _ref("ProviderView")},
                chains={"type": "array", "items": _ref("ChainConfig")},
                file={"allOf": [_ref("ConfigStatus"), _obj(editable={"type": "boolean"})]},
                disabled_providers={"type": "object", "additionalProperties": {"type": "string"}},
            ),
            "ProviderTest": _obj(
                provider={"type": "string"},
                method={"enum": ["models", "chat"]},
                model={"type": ["string", "null"]},
                ok={"type": "boolean"},
                status={"type": ["integer", "null"]},
                latency_ms={"type": "number"},
                latencyMs={"type": "number"},
                error={"type": ["string", "null"]},
                models={"type": "integer", "description": "How many models were listed."},
            ),
            "Attempt": attempt,
            "ChainTest": _obj(
                chain={"type": "string"},
                mode={"enum": ["waterfall", "per_entry"]},
                stream={"type": "boolean"},
                ok={"type": "boolean"},
                served_by={"type": ["string", "null"]},
                response={"type": ["string", "null"]},
                error={"type": ["string", "null"]},
                attempts={"type": "array", "items": _ref("Attempt")},
                results={
                    "type": "array",
                    "description": "Per entry, as the TypeScript original reported them.",
                    "items": _obj(
                        provider={"type": "string"},
                        model={"type": "string"},
                        status={"enum": ["ok", "error", "skipped"]},
                        latencyMs={"type": "number"},
                        response={"type": "string"},
                        error={"type": "string"},
                    ),
                },
                summary=_obj(
                    total={"type": "integer"}, ok={"type": "integer"}, failed={"type": "integer"}
                ),
            ),
        }
    )
    return schemas


_STATUS_TEXT = {
    400: "Invalid request (bad JSON, a bad parameter, or an edit that would break the config)",
    401: "Missing or invalid key",
    404: "Not found",
    409: "Conflict (in use, the default chain, or the file cannot be edited)",
    413: "Request body too large",
    429: "Every entry is rate-limited",
    502: "The upstream failed",
    503: "Unavailable (every entry failed, or the store is not open)",
    504: "The upstream timed out",
}


@functools.cache
def document() -> dict[str, Any]:
    """The document (built once; it depends only on the code)."""
    bearer = {"type": "http", "scheme": "bearer"}
    header = {"type": "apiKey", "in": "header", "name": "x-api-key"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "429chain",
            "version": __version__,
            "description": "OpenAI-compatible proxy that waterfalls chat completions through "
            "chains of free-tier providers. Every error is OpenAI-shaped.",
        },
        "tags": [{"name": t} for t in ("openai", "status", "stats", "admin")],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": {
                f"Error{status}": _json(_ref("Error"), text)
                for status, text in _STATUS_TEXT.items()
            },
            "securitySchemes": {
                "bearer": {**bearer, "description": "A key from settings.api_keys."},
                "apiKey": {**header, "description": "A key from settings.api_keys."},
                "adminBearer": {**bearer, "description": "A key from settings.admin_keys."},
                "adminApiKey": {**header, "description": "A key from settings.admin_keys."},
            },
        },
    }
