"""The management API: the config with keys masked, safe edits, provider and chain tests.

Every route needs an admin key. Edits go through `runtime.edit_config`: validated, written
atomically, then served. Keys never leave in full: each response is scrubbed of every key the
config holds, as a last line of defence behind the masking of known key fields.

Provider and chain probes live in `admin_probes`; masking in `admin_masking`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from chain429.config.save import ConfigDocument
from chain429.config.schema import ChainConfig, Config, ProviderConfig, Settings
from chain429.config.secret_hosts import url_host
from chain429.config.spellings import camelized, canonical
from chain429.errors import ProxyError
from chain429.http.admin_masking import config_view, reply
from chain429.http.admin_request import admin_state, read_body, wants_camel
from chain429.http.runtime import Edited, config_status, edit_config
from chain429.http.state import AppState
from chain429.providers.presets import canonical_type, load_presets
from chain429.redact import mask_secret

logger = logging.getLogger("chain429.admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MISSING: Any = object()


# -- the config ------------------------------------------------------------------------------


def _provider_view(state: AppState, provider_id: str, camel: bool) -> dict[str, Any] | None:
    view = next((p for p in config_view(state)["providers"] if p["id"] == provider_id), None)
    return camelized(ProviderConfig, view) if camel and view else view


async def get_config(request: web.Request) -> web.Response:
    state = admin_state(request)
    view = config_view(state)
    body = camelized(Config, view) if wants_camel(request) else view
    body["file"] = {**config_status(state), "editable": state.config_path is not None}
    body["disabled_providers"] = state.disabled
    return reply(state, body)


# -- edits ------------------------------------------------------------------------------------


def _echo(value: Any, raw: Any, resolved: str | None) -> bool:
    """Is `value` the existing key sent back as GET showed it (masked, or as its reference)?

    The TypeScript original showed every key as `***`; that is an echo too.
    """
    if not isinstance(value, str) or raw is None:
        return False
    shown = {str(raw), mask_secret(str(raw)), "***"}
    if resolved:
        shown.add(mask_secret(resolved))
    return value in shown


def _refuse_masked(name: str, value: Any) -> None:
    if isinstance(value, str) and ("…" in value or value.strip("*") == ""):
        raise ProxyError(
            400,
            f"'{name}' looks masked. Send the real key, or leave '{name}' out to keep the "
            "current one.",
            code="masked_key",
            param=name,
        )


def _refuse_new_host(
    served: ProviderConfig | None, fields: dict[str, Any], *, replace: bool
) -> None:
    """The stored key goes only where it went before: a new host needs the key sent again."""
    if served is None or served.api_key is None:
        return
    if "base_url" in fields or replace:
        preset = load_presets().get(canonical_type(str(fields.get("type", served.type))))
        new = fields.get("base_url") or (preset.base_url if preset else None)
    else:
        return
    if not isinstance(new, str) or url_host(new) in (None, url_host(served.effective_base_url)):
        return  # the same host; or no usable URL at all, which validation refuses
    raise ProxyError(
        409,
        "base_url now points at another host, and the stored api_key is not sent to a new "
        "host: send the api_key itself again in the same request.",
        code="api_key_required",
        param="api_key",
    )


def _edit_response(
    state: AppState, edited: Edited[Any], body: dict[str, Any], status: int = 200
) -> web.Response:
    body["warnings"] = edited.loaded.warnings
    body["restart_required"] = edited.restart_required
    return reply(state, body, status)


async def put_provider(request: web.Request) -> web.Response:
    return await _save_provider(request, replace=True)


async def patch_provider(request: web.Request) -> web.Response:
    return await _save_provider(request, replace=False)


async def _save_provider(request: web.Request, *, replace: bool) -> web.Response:
    """PUT replaces (fields left out are removed), PATCH merges (null removes a field).

    Either way, an `api_key` left out, or sent back masked as GET showed it, keeps the key.
    """
    state = admin_state(request)
    provider_id = request.match_info["id"]
    body = await read_body(request)
    fields = canonical(ProviderConfig, body)
    if fields.pop("id", provider_id) != provider_id:
        raise ProxyError(400, "The id in the body must match the path.", param="id")
    key = fields.pop("api_key", _MISSING)
    served = state.config.provider(provider_id)

    def change(doc: ConfigDocument) -> bool:
        node = doc.provider(provider_id)
        if node is None and not replace:
            raise ProxyError(
                404, f"There is no provider '{provider_id}'.", code="provider_not_found"
            )
        raw = doc.value(node, ProviderConfig, "api_key") if node is not None else None
        new = dict(fields)
        keep: tuple[str, ...] = ()
        if key is _MISSING or _echo(key, raw, served.api_key if served else None):
            _refuse_new_host(served, fields, replace=replace)
            keep = ("api_key",)
        else:
            _refuse_masked("api_key", key)
            new["api_key"] = key
        return doc.put_provider(provider_id, new, replace=replace, keep=keep)

    edited = await edit_config(state, change)
    logger.info("provider %s %s", provider_id, "created" if edited.result else "updated")
    view = _provider_view(state, provider_id, wants_camel(request, body))
    body_out = {"provider": view, "created": edited.result}
    return _edit_response(state, edited, body_out, 201 if edited.result else 200)


async def delete_provider(request: web.Request) -> web.Response:
    """409 while chains use the provider; `?force=true` also removes its entries from them."""
    state = admin_state(request)
    provider_id = request.match_info["id"]
    force = request.query.get("force", "").lower() in ("1", "true", "yes")
    edited = await edit_config(state, lambda doc: doc.delete_provider(provider_id, force=force))
    logger.info("provider %s deleted", provider_id)
    return _edit_response(state, edited, {"deleted": provider_id, "chains_edited": edited.result})


async def put_chain(request: web.Request) -> web.Response:
    """Create or replace a chain: `{"entries": [{"provider", "model"} or "provider/model"]}`."""
    state = admin_state(request)
    name = request.match_info["name"]
    body = await read_body(request)
    fields = canonical(ChainConfig, body)
    if fields.pop("name", name) != name:
        raise ProxyError(400, "The name in the body must match the path.", param="name")
    entries = fields.get("entries")
    if not isinstance(entries, list):
        raise ProxyError(400, "'entries' is required and must be a list.", param="entries")
    fields["entries"] = [_entry_fields(e) for e in entries]
    edited = await edit_config(state, lambda doc: doc.put_chain(name, fields))
    logger.info("chain %s %s", name, "created" if edited.result else "updated")
    view = next((c for c in config_view(state)["chains"] if c["name"] == name), None)
    if view is not None and wants_camel(request, body):
        view = camelized(ChainConfig, view)
    return _edit_response(
        state, edited, {"chain": view, "created": edited.result}, 201 if edited.result else 200
    )


def _entry_fields(entry: Any) -> Any:
    if isinstance(entry, str) and "/" in entry:
        provider, _, model = entry.partition("/")
        return {"provider": provider, "model": model}
    return entry


async def delete_chain(request: web.Request) -> web.Response:
    """The default chain cannot be deleted (409)."""
    state = admin_state(request)
    name = request.match_info["name"]
    edited = await edit_config(state, lambda doc: doc.delete_chain(name))
    logger.info("chain %s deleted", name)
    return _edit_response(state, edited, {"deleted": name})


async def patch_settings(request: web.Request) -> web.Response:
    """Merge into settings (null resets a setting to its default); masked keys are kept."""
    state = admin_state(request)
    body = await read_body(request)
    fields = canonical(Settings, body)

    def change(doc: ConfigDocument) -> None:
        new = dict(fields)
        for name in ("api_keys", "admin_keys"):
            if isinstance(new.get(name), list):
                new[name] = _keep_masked_keys(doc, state, name, new[name])
        doc.patch_settings(new)

    edited = await edit_config(state, change)
    logger.info("settings updated: %s", ", ".join(sorted(fields)))
    view = config_view(state)["settings"]
    out = camelized(Settings, view) if wants_camel(request, body) else view
    return _edit_response(state, edited, {"settings": out})


def _keep_masked_keys(
    doc: ConfigDocument, state: AppState, name: str, keys: list[Any]
) -> list[Any]:
    """Keys sent back masked (or as their reference) are swapped for what the file holds."""
    node = doc.value(doc.settings(), Settings, name)
    raw = list(node) if isinstance(node, list) else []
    resolved: list[str] = list(getattr(state.settings, name) or [])
    used: set[int] = set()
    out = []
    for position, value in enumerate(keys):
        echoes = [
            i
            for i, r in enumerate(raw)
            if i not in used and _echo(value, r, resolved[i] if i < len(resolved) else None)
        ]
        if not echoes:
            _refuse_masked(name, value)
            out.append(value)
            continue
        # Short keys all mask to "…": prefer the key at the same place in the list.
        index = position if position in echoes else echoes[0]
        used.add(index)
        out.append(raw[index])
    return out
