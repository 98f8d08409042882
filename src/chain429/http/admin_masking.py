"""Keys never leave in full: the config shown with key fields masked, replies scrubbed of keys.

Masking the known key fields (and URL passwords and `?key=` query values) is the first line;
scrubbing every key the config holds from each reply's text is the last.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from aiohttp import web

from chain429.config.spellings import canonical_path
from chain429.http.state import AppState
from chain429.redact import mask_secret

_SECRET_NAME = re.compile(r"key|token|secret|password|auth|cookie", re.IGNORECASE)
_REF_DEFAULT = re.compile(r"(\$\{[A-Za-z_][A-Za-z0-9_]*:-)([^}]*)(\})")


def reply(state: AppState, data: Any, status: int = 200) -> web.Response:
    """JSON, with every key of the served config masked wherever it might appear."""
    text = orjson.dumps(data).decode()
    for secret in _secrets(state):
        if secret in text:
            text = text.replace(secret, mask_secret(secret))
    return web.Response(text=text, status=status, content_type="application/json")


def _secrets(state: AppState) -> list[str]:
    settings = state.settings
    found = [p.api_key for p in state.config.providers if p.api_key]
    found += [*settings.api_keys, *(settings.admin_keys or [])]
    return sorted({s for s in found if len(s) >= 8}, key=len, reverse=True)


def config_view(state: AppState) -> dict[str, Any]:
    """The served config as JSON: `${VAR}` fields as written, every key masked."""
    data: dict[str, Any] = state.config.model_dump(mode="json")
    for display, text in state.env_refs.items():
        _put(data, canonical_path(display), text)
    masked: dict[str, Any] = _masked(data)
    return masked


def _put(data: Any, path: tuple[str | int, ...], value: str) -> None:
    """Set `value` at `path` in plain JSON data, if the path exists."""
    if not path:
        return
    for part in path[:-1]:
        data = _child(data, part)
    last = path[-1]
    if _child(data, last) is not None or (isinstance(data, dict) and isinstance(last, str)):
        data[last] = value


def _child(data: Any, part: str | int) -> Any:
    if isinstance(data, dict) and isinstance(part, str):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and part < len(data):
        return data[part]
    return None


def _masked(value: Any, secret: bool = False) -> Any:
    """Key-like fields masked (a reference shows as written, its default masked); URLs too."""
    if isinstance(value, dict):
        return {
            k: _masked_url(v)
            if k.endswith("_url")
            else _masked(v, secret or bool(_SECRET_NAME.search(k)))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v, secret) for v in value]
    if secret and isinstance(value, str):
        if "${" in value:
            return _REF_DEFAULT.sub(lambda m: m[1] + mask_secret(m[2]) + m[3], value)
        return mask_secret(value)
    return value


def _masked_url(value: Any) -> Any:
    """A password in the URL, or a key in its query string (`?key=`), masked."""
    if not isinstance(value, str) or "://" not in value:
        return value
    parts = urlsplit(value)
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", ":…@")
    query = urlencode(
        [(k, mask_secret(v) if _SECRET_NAME.search(k) else v) for k, v in parse_qsl(parts.query)]
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))
