"""What the web UI needs beyond the stats and admin APIs: the provider presets, and the
config file as it is on disk (keys masked) for the read-only view in Settings.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from aiohttp import web

from chain429.http.admin_masking import reply
from chain429.http.admin_request import admin_state
from chain429.providers.presets import load_presets
from chain429.redact import mask_secret

# `api_key: value`, `token: value`, ...: the value of a key-named field on one YAML line.
_KEY_LINE = re.compile(
    r"^(?P<lead>\s*(?:-\s+)?[\w-]*(?:key|token|secret|password)[\w-]*\s*:\s+)"
    r"(?P<quote>['\"]?)(?P<value>[^'\"#\s]+)(?P=quote)",
    re.IGNORECASE,
)
# An item of a key list (`api_keys:` / `admin_keys:`), `- value`.
_LIST_ITEM = re.compile(r"^(?P<lead>\s*-\s+)(?P<quote>['\"]?)(?P<value>[^'\"#\s]+)(?P=quote)")
_LIST_HEAD = re.compile(r"^\s*[\w-]*keys\s*:\s*(#.*)?$", re.IGNORECASE)


async def presets(request: web.Request) -> web.Response:
    """Every provider preset: base URL, auth, header dialect, documented free-tier limits."""
    admin_state(request)
    out = []
    for name, preset in sorted(load_presets().items()):
        out.append(
            {
                "name": name,
                "base_url": preset.base_url,
                "auth": preset.auth,
                "dialect": preset.dialect,
                "quota_scope": preset.quota_scope,
                "daily_reset": preset.daily_reset,
                "operations": list(preset.operations),
                "limits": asdict(preset.limits),
                "models": sorted(preset.model_limits) or sorted(preset.prices),
                "notes": preset.notes,
            }
        )
    return web.json_response({"presets": out})


async def config_file(request: web.Request) -> web.Response:
    """The config file's text as on disk, with every key masked; comments kept."""
    state = admin_state(request)
    path = state.config_path
    text: str | None = None
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = None
    body: dict[str, Any] = {
        "path": str(path) if path else None,
        "text": masked_yaml(text) if text is not None else None,
    }
    return reply(state, body)  # also scrubs every key the served config holds


def masked_yaml(text: str) -> str:
    """Key-named fields and the items of key lists masked, line by line (comments kept)."""
    out: list[str] = []
    in_list: int | None = None  # the indent of the key list being read
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if in_list is not None and line.strip() and not line.lstrip().startswith("#"):
            item = _LIST_ITEM.match(line)
            if item and indent >= in_list:
                line = _masked(item, line)
                out.append(line)
                continue
            in_list = None
        if _LIST_HEAD.match(line):
            in_list = indent
        else:
            match = _KEY_LINE.match(line)
            if match and not match["value"].startswith("${"):
                line = _masked(match, line)
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _masked(match: re.Match[str], line: str) -> str:
    value = match["value"]
    if value.startswith("${") or value in ("null", "~", "[]"):
        return line
    return line[: match.start("value")] + mask_secret(value) + line[match.end("value") :]
