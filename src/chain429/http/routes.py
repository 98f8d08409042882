"""The one route table: every route's method, path, handler, auth, and its JSON shapes.

`create_app` registers these routes and `openapi.document()` describes them, so the server and
its document cannot disagree (a test compares the two). Auth is `none`, `proxy` (a key from
`settings.api_keys`) or `admin` (`settings.admin_keys`, default the proxy keys); the handlers
check it themselves, the table states it for the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from chain429.config.schema import ProviderConfig, Settings
from chain429.http import (
    admin_api,
    admin_probes,
    dialect_api,
    feed_api,
    health_api,
    openai_api,
    openapi,
    stats_api,
    status_api,
    ui_api,
)
from chain429.http.errors import Handler
from chain429.http.metrics import metrics_handler
from chain429.http.schemas import admin, dialects, stats, status, ui
from chain429.http.schemas.base import Auth

Schema = dict[str, Any]
Media = Literal["json", "json+sse", "sse", "text", "document"]


@dataclass(frozen=True, slots=True)
class Param:
    """A query parameter."""

    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # aiohttp's syntax: `{name}` or `{name:regex}`
    handler: Handler
    auth: Auth
    tag: str
    summary: str
    response: type[BaseModel] | None  # the 200 (and 201) body; None: `media` says what
    request: type[BaseModel] | None = None
    query: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    media: Media = "json"
    created: bool = False  # may answer 201 with the same body
    description: str = ""
    envelope: Literal["openai", "anthropic"] = "openai"  # the shape of its errors
    walks: bool = False  # through a chain: `openapi.CHAIN_HEADERS` on its answers


# What a path parameter means, by name.
PATH_PARAMS: Mapping[str, str] = {
    "model_id": "A chain name, or `provider/model`.",
    "provider_id": "A provider id.",
    "chain_name": "A chain name.",
    "request_id": "A request id (32 hex characters).",
    "id": "The provider id.",
    "response_id": "A response id (`resp_…`) from `POST /v1/responses`.",
    "name": "The chain name.",
}

FILTERS = (
    Param("since", "Start time: epoch seconds, epoch milliseconds or ISO 8601."),
    Param("until", "End time (exclusive), same formats as `since`."),
    Param("chain", "Only this chain."),
    Param("provider", "Only this provider id."),
    Param("model", "Only this upstream model."),
    Param("key", "Only this API key label (the masked key, never the key)."),
)
PAGE = (
    *FILTERS,
    Param("outcome", "Only this outcome."),
    Param(
        "status",
        "Only this HTTP status, exactly (e.g. 429; 499: the client went away).",
        {"type": "integer", "minimum": 100, "maximum": 599},
    ),
    Param("q", "Text the error message contains (case-insensitive)."),
    Param("limit", "Page size (default 50, at most 500).", {"type": "integer", "minimum": 0}),
    Param("offset", "Rows to skip.", {"type": "integer", "minimum": 0}),
)
BUCKET = Param("bucket", "Bucket size (default `hour`).", {"enum": ["minute", "hour", "day"]})
CASE = Param(
    "case", "`camel`: the config's keys as the TypeScript original wrote them.", {"enum": ["camel"]}
)
FORCE = Param("force", "Also remove its entries from the chains that use it.", {"type": "boolean"})
STATS_ERRORS = (400, 401, 503)
EDIT_ERRORS = (400, 401, 404, 409)


def route_table() -> tuple[Route, ...]:
    return (
        # -- the OpenAI routes ----------------------------------------------------------------
        Route(
            "POST",
            "/v1/chat/completions",
            openai_api.chat_completions,
            "proxy",
            "openai",
            "Chat completion, served by the first entry of the chain that can.",
            status.ChatCompletion,
            status.ChatCompletionRequest,
            errors=(400, 401, 404, 413, 429, 503),
            media="json+sse",
            description="`model` names a chain, or `provider/model` for one entry; the "
            "`X-429chain-Chain` header overrides it and `X-429chain-Max-Wait` allows waiting "
            "for capacity. With `stream: true` the answer is server-sent events.",
            walks=True,
        ),
        Route(
            "POST",
            "/v1/embeddings",
            openai_api.embeddings,
            "proxy",
            "openai",
            "Embeddings, served by the first entry of an embeddings chain that can.",
            status.Embeddings,
            status.EmbeddingsRequest,
            errors=(400, 401, 404, 413, 429, 503),
            description="`model` names an embeddings chain, or `provider/model`. "
            "`encoding_format` (`float` or `base64`) passes through. A chat chain is a 400 "
            "`wrong_chain_kind`.",
            walks=True,
        ),
        Route(
            "POST",
            "/v1/completions",
            openai_api.completions,
            "proxy",
            "openai",
            "Legacy text completion, through a chat chain's entries that serve it.",
            status.TextCompletion,
            status.CompletionRequest,
            errors=(400, 401, 404, 413, 429, 503),
            media="json+sse",
            description="For older clients. Entries whose provider does not serve legacy "
            "completions are skipped. With `stream: true` the answer is server-sent events.",
            walks=True,
        ),
        # -- coding agents: Anthropic Messages and OpenAI Responses, on chat chains -----------
        Route(
            "POST",
            "/v1/messages",
            dialect_api.messages,
            "proxy",
            "anthropic",
            "Anthropic Messages API, served by a chat chain (natively where an entry speaks it).",
            dialects.Message,
            dialects.MessagesRequest,
            errors=(400, 401, 404, 413, 429, 503),
            media="json+sse",
            envelope="anthropic",
            description="For Claude Code and Anthropic SDKs (`ANTHROPIC_BASE_URL`). `model` "
            "picks the chain as on chat. The key goes in `x-api-key` or `Authorization: "
            "Bearer`. Entries whose preset speaks Messages (`anthropic-compatible`) get the "
            "body as sent; the others get it translated to chat, and their answer back. With "
            "`stream: true` the answer is Anthropic's event stream. Errors use Anthropic's "
            "envelope.",
            walks=True,
        ),
        Route(
            "POST",
            "/v1/messages/count_tokens",
            dialect_api.count_tokens,
            "proxy",
            "anthropic",
            "An estimate of a Messages request's input tokens (no upstream call).",
            dialects.TokenCount,
            dialects.CountTokensRequest,
            errors=(400, 401, 413),
            envelope="anthropic",
        ),
        Route(
            "POST",
            "/v1/responses",
            dialect_api.create_response,
            "proxy",
            "openai",
            "OpenAI Responses API (stateless subset), translated to chat.",
            dialects.Response,
            dialects.ResponseRequest,
            errors=(400, 401, 404, 413, 429, 503),
            media="json+sse",
            description="For Codex CLI and the Responses clients of OpenAI's SDKs. `store` "
            "(default true) keeps the answer for `previous_response_id` for "
            "`settings.response_store_ttl_ms`; an unknown id is a 404.",
            walks=True,
        ),
        Route(
            "GET",
            "/v1/responses/{response_id}",
            dialect_api.get_response,
            "proxy",
            "openai",
            "A stored response.",
            dialects.Response,
            errors=(401, 404),
        ),
        Route(
            "DELETE",
            "/v1/responses/{response_id}",
            dialect_api.delete_response,
            "proxy",
            "openai",
            "Forget a stored response.",
            dialects.DeletedResponse,
            errors=(401, 404),
        ),
        Route(
            "GET",
            "/v1/models",
            openai_api.list_models,
            "proxy",
            "openai",
            "Chains, then every provider/model of their entries.",
            status.ModelList,
            errors=(401,),
        ),
        Route(
            "GET",
            "/v1/models/{model_id:.+}",
            openai_api.get_model,
            "proxy",
            "openai",
            "One model.",
            status.Model,
            errors=(401, 404),
        ),
        # -- status -----------------------------------------------------------------------------
        Route(
            "GET",
            "/health",
            health_api.health,
            "none",
            "status",
            "Liveness and counts; with an admin key also the config path and errors.",
            status.Health,
            errors=(401,),
            description="No key needed. A key that is sent must be an admin key (else 401); "
            "then `config.path`, `config.error` and the request log's errors are added.",
        ),
        Route(
            "GET",
            "/v1/ratelimits",
            status_api.ratelimits,
            "proxy",
            "status",
            "Every entry's quota state, and who serves each chain next.",
            status.RateLimitsReply,
            errors=(401,),
        ),
        Route(
            "GET",
            "/openapi.json",
            openapi.serve,
            "none",
            "status",
            "This document.",
            None,
            media="document",
        ),
        # -- stats ------------------------------------------------------------------------------
        _stats(
            "/v1/stats/summary",
            stats_api.summary,
            "Totals over the request log.",
            stats.SummaryReply,
        ),
        _stats(
            "/v1/stats/providers", stats_api.providers, "Usage per provider.", stats.ProvidersReply
        ),
        _stats(
            "/v1/stats/providers/{provider_id}",
            stats_api.provider,
            "Usage of one provider, per model.",
            stats.ProviderDetail,
            not_found=True,
        ),
        _stats("/v1/stats/chains", stats_api.chains, "Usage per chain.", stats.ChainsReply),
        _stats(
            "/v1/stats/chains/{chain_name:.+}",
            stats_api.chain,
            "Usage of one chain, with who served it.",
            stats.ChainDetail,
            not_found=True,
        ),
        _stats(
            "/v1/stats/models", stats_api.models, "Usage per provider and model.", stats.ModelsReply
        ),
        _stats("/v1/stats/keys", stats_api.keys, "Usage per API key label.", stats.KeysReply),
        _stats(
            "/v1/stats/requests",
            stats_api.requests,
            "The request log, newest first.",
            stats.RequestPage,
            query=PAGE,
        ),
        _stats(
            "/v1/stats/requests/{request_id}",
            stats_api.request_detail,
            "One logged request, with every entry it tried or skipped.",
            stats.RequestDetail,
            query=(),
            not_found=True,
        ),
        _stats(
            "/v1/stats/timeseries",
            stats_api.timeseries,
            "Requests, tokens, 429s, fallbacks, errors and latency per time bucket.",
            stats.Timeseries,
            query=(*FILTERS, BUCKET),
        ),
        _stats(
            "/v1/stats/health",
            stats_api.health,
            "Per provider: error rate and latency, last 5 minutes and last hour.",
            stats.HealthReply,
            query=(),
        ),
        _stats(
            "/v1/stats/savings",
            stats_api.savings,
            "Tokens served times list price, per provider and in total.",
            stats.Savings,
        ),
        Route(
            "GET",
            "/v1/stats/capacity",
            stats_api.capacity,
            "admin",
            "stats",
            "Free requests and tokens left today, per chain (from the quota tracker).",
            stats.Capacity,
            errors=(401,),
        ),
        Route(
            "GET",
            "/metrics",
            metrics_handler,
            "admin",
            "stats",
            "Prometheus metrics (text format).",
            None,
            errors=(401, 503),
            media="text",
        ),
        # -- admin ------------------------------------------------------------------------------
        Route(
            "GET",
            "/v1/admin/config",
            admin_api.get_config,
            "admin",
            "admin",
            "The served config, every key masked; `${VAR}` fields as written.",
            admin.ConfigView,
            query=(CASE,),
            errors=(401,),
        ),
        Route(
            "PATCH",
            "/v1/admin/settings",
            admin_api.patch_settings,
            "admin",
            "admin",
            "Edit settings (null resets a setting to its default).",
            admin.SettingsEdited,
            Settings,
            errors=(400, 401, 409),
            description="Keys sent back masked, as GET showed them, are kept unchanged.",
        ),
        Route(
            "PUT",
            "/v1/admin/providers/{id}",
            admin_api.put_provider,
            "admin",
            "admin",
            "Create or replace a provider (fields left out are removed).",
            admin.ProviderEdited,
            ProviderConfig,
            errors=(400, 401, 409),
            created=True,
            description="An `api_key` left out, or sent back masked, keeps the current key.",
        ),
        Route(
            "PATCH",
            "/v1/admin/providers/{id}",
            admin_api.patch_provider,
            "admin",
            "admin",
            "Edit a provider: only the fields sent change (null removes one).",
            admin.ProviderEdited,
            ProviderConfig,
            errors=EDIT_ERRORS,
        ),
        Route(
            "DELETE",
            "/v1/admin/providers/{id}",
            admin_api.delete_provider,
            "admin",
            "admin",
            "Delete a provider (409 while chains use it, unless `force=true`).",
            admin.ProviderDeleted,
            query=(FORCE,),
            errors=EDIT_ERRORS,
        ),
        Route(
            "POST",
            "/v1/admin/providers/{id}/test",
            admin_probes.probe_provider,
            "admin",
            "admin",
            "Test connection: its model list, or with `model` a 5-token chat completion.",
            admin.ProviderProbe,
            admin.ProbeProviderBody,
            errors=(400, 401, 404),
        ),
        Route(
            "GET",
            "/v1/admin/providers/{id}/models",
            admin_probes.list_provider_models,
            "admin",
            "admin",
            "The provider's own model list (its /models).",
            admin.ProviderModels,
            errors=(401, 404, 502, 504),
        ),
        Route(
            "PUT",
            "/v1/admin/chains/{name}",
            admin_api.put_chain,
            "admin",
            "admin",
            "Create or replace a chain.",
            admin.ChainEdited,
            admin.ChainBody,
            errors=(400, 401, 409),
            created=True,
        ),
        Route(
            "DELETE",
            "/v1/admin/chains/{name}",
            admin_api.delete_chain,
            "admin",
            "admin",
            "Delete a chain (not the default chain: 409).",
            admin.ChainDeleted,
            errors=EDIT_ERRORS,
        ),
        Route(
            "POST",
            "/v1/test/chain/{name}",
            admin_probes.probe_chain,
            "admin",
            "admin",
            "Run a chain as a client request would, or each entry alone (`per_entry`).",
            admin.ChainProbe,
            admin.ProbeChainBody,
            errors=(400, 401, 404),
        ),
        # -- the web UI's own -------------------------------------------------------------------
        Route(
            "GET",
            "/v1/admin/events",
            feed_api.events,
            "admin",
            "admin",
            "The live request feed: each finished request as a server-sent event.",
            stats.RequestDetail,
            errors=(401,),
            media="sse",
            description="`event: request` carries a `RequestDetail`; `event: dropped` says how "
            "many this reader missed by falling behind; `: ping` comments keep it open.",
        ),
        Route(
            "GET",
            "/v1/admin/presets",
            ui_api.presets,
            "admin",
            "admin",
            "Every provider preset, with its base URL, header dialect and free-tier limits.",
            ui.PresetsReply,
            errors=(401,),
        ),
        Route(
            "GET",
            "/v1/admin/config/file",
            ui_api.config_file,
            "admin",
            "admin",
            "The config file as it is on disk, comments kept, every key masked.",
            ui.ConfigFileView,
            errors=(401,),
        ),
    )


def _stats(
    path: str,
    handler: Handler,
    summary: str,
    response: type[BaseModel],
    *,
    query: tuple[Param, ...] = FILTERS,
    not_found: bool = False,
) -> Route:
    """A stats route over the request log: admin key, filters, 503 while the store is off."""
    errors = (*STATS_ERRORS, 404) if not_found else STATS_ERRORS
    return Route(
        "GET", path, handler, "admin", "stats", summary, response, query=query, errors=errors
    )
