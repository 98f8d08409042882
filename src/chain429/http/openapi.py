"""The OpenAPI 3.1 document of the whole HTTP API, served at `GET /openapi.json` (no auth).

It is built from the route table (`routes.route_table`), the same table `create_app` registers,
and every body is the JSON Schema of a pydantic model (`http.schemas`, and the config models
for edits), with the models' `$defs` hoisted into `components/schemas`. Built once, on the
first request: generating the schemas takes a moment that start-up should not pay.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chain429 import __version__
from chain429.http.schemas.base import Error
from chain429.http.schemas.dialects import AnthropicError

if TYPE_CHECKING:
    from chain429.http.routes import Route

Schema = dict[str, Any]
REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")

SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "none": [],
    "proxy": [{"bearer": []}, {"apiKey": []}],
    "admin": [{"adminBearer": []}, {"adminApiKey": []}],
}
STATUS_TEXT = {
    400: "Invalid request (bad JSON, a bad parameter, or an edit that would break the config)",
    401: "Missing or invalid key",
    404: "Not found",
    409: "Conflict (in use, the default chain, or the file cannot be edited)",
    413: "Request body too large",
    429: "Every entry is rate-limited (`Retry-After` says for how long)",
    502: "The upstream failed",
    503: "Unavailable (every entry failed, or the store is not open)",
    504: "The upstream timed out",
}
CHAIN_HEADERS = (
    ("X-429chain-Chain", "The chain that served."),
    ("X-429chain-Provider", "The provider that served."),
    ("X-429chain-Model", "The upstream model that served."),
    ("X-429chain-Attempts", "Upstream calls made."),
    ("X-429chain-Skipped", "Entries skipped (cooling down or out of quota)."),
    (
        "X-429chain-Request-Id",
        "This request's id in the request log (`GET /v1/stats/requests/{request_id}`) and the "
        "live feed; sent with errors too.",
    ),
)


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())


def openapi_path(path: str) -> str:
    """aiohttp's `{name:regex}` as OpenAPI's `{name}`."""
    return _PARAM.sub(r"{\1}", path)


@functools.cache
def document() -> dict[str, Any]:
    """The document (built once; it depends only on the code)."""
    from chain429.http.routes import route_table  # the table imports this module's handler

    routes = route_table()
    schemas, refs = _schemas(routes)
    paths: dict[str, dict[str, Schema]] = {}
    for route in routes:
        operation = _operation(route, refs)
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = operation
    bearer = {"type": "http", "scheme": "bearer"}
    header = {"type": "apiKey", "in": "header", "name": "x-api-key"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "429chain",
            "version": __version__,
            "description": "OpenAI-compatible proxy that waterfalls chat completions through "
            "chains of free-tier providers. Every error is OpenAI-shaped, except on "
            "`/v1/messages` (Anthropic's envelope). Our own fields are snake_case; the "
            "TypeScript original's names appear only where it had them.",
        },
        "tags": [{"name": t} for t in ("openai", "anthropic", "status", "stats", "admin")],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                **{f"Error{s}": _json(_ref("Error"), text) for s, text in STATUS_TEXT.items()},
                **{
                    f"AnthropicError{s}": _json(_ref("AnthropicError"), text)
                    for s, text in STATUS_TEXT.items()
                },
            },
            "securitySchemes": {
                "bearer": {**bearer, "description": "A key from settings.api_keys."},
                "apiKey": {**header, "description": "A key from settings.api_keys."},
                "adminBearer": {**bearer, "description": "A key from settings.admin_keys."},
                "adminApiKey": {**header, "description": "A key from settings.admin_keys."},
            },
        },
    }


Refs = dict[tuple[type[BaseModel], JsonSchemaMode], str]


def _schemas(routes: tuple[Route, ...]) -> tuple[dict[str, Schema], Refs]:
    """Every model's JSON Schema, `$defs` hoisted into `components/schemas`, and each model's
    `$ref` there. Responses are described as serialized, request bodies as validated.
    """
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
        (Error, "serialization"): None,
        (AnthropicError, "serialization"): None,
    }
    for route in routes:
        if route.response is not None:
            wanted[(route.response, "serialization")] = None
        if route.request is not None:
            wanted[(route.request, "validation")] = None
    # by_alias=False: the config models carry camelCase aliases for reading old configs, but
    # the API answers (and prefers) their snake_case names.
    keys, top = models_json_schema(list(wanted), ref_template=REF, by_alias=False)
    schemas: dict[str, Schema] = dict(top.get("$defs", {}))
    return schemas, {(model, mode): str(keys[(model, mode)]["$ref"]) for model, mode in wanted}


def _ref(name: str) -> Schema:
    return {"$ref": REF.format(model=name)}


def _json(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(route: Route, refs: Refs) -> Schema:
    responses: dict[str, Schema] = {}
    if route.media == "text":
        responses["200"] = {
            "description": "Prometheus text format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    elif route.media == "document":
        responses["200"] = _json({"type": "object"}, "An OpenAPI 3.1 document.")
    else:
        assert route.response is not None, route.path
        ok = _json({"$ref": refs[(route.response, "serialization")]})
        if route.media == "json+sse":
            ok["description"] = "A completion, or with `stream: true` server-sent events."
            ok["content"]["text/event-stream"] = {"schema": {"type": "string"}}
        if route.walks:
            ok["headers"] = {
                name: {"schema": {"type": "string"}, "description": text}
                for name, text in CHAIN_HEADERS
            }
        if route.media == "sse":
            ok = {
                "description": "Server-sent events; each `data:` is this schema.",
                "content": {"text/event-stream": ok["content"]["application/json"]},
            }
        responses["200"] = ok
        if route.created:
            responses["201"] = {**ok, "description": "Created"}
    for status in route.errors:
        name = "AnthropicError" if route.envelope == "anthropic" else "Error"
        responses[str(status)] = {"$ref": f"#/components/responses/{name}{status}"}
    operation: Schema = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": _operation_id(route),
        "security": SECURITY[route.auth],
        "responses": responses,
    }
    if route.description:
        operation["description"] = route.description
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": _path_param_text(name),
            "schema": {"type": "string"},
        }
        for name in _PARAM.findall(route.path)
    ]
    parameters += [
        {
            "name": p.name,
            "in": "query",
            "required": False,
            "description": p.description,
            "schema": dict(p.schema),
        }
        for p in route.query
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.request is not None:
        operation["requestBody"] = {
            "required": route.media == "json+sse",
            "content": {
                "application/json": {"schema": {"$ref": refs[(route.request, "validation")]}}
            },
        }
    return operation


def _path_param_text(name: str) -> str:
    from chain429.http.routes import PATH_PARAMS

    return PATH_PARAMS.get(name, name)


def _operation_id(route: Route) -> str:
    return f"{route.handler.__module__.rsplit('.', 1)[-1]}.{route.handler.__name__}"
