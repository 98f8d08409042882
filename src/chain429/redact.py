"""Secrets stay secret: masking for display, and scrubbing of text that may quote a key."""

from __future__ import annotations

from typing import Any

import orjson


def mask_secret(secret: str) -> str:
    """`sk-abcdefgh1234` -> `sk-…1234`; short secrets reveal nothing."""
    if len(secret) < 12:
        return "…"
    return f"{secret[:3]}…{secret[-4:]}"


def scrub(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` masked (upstreams sometimes quote the key)."""
    if secret and secret in text:
        return text.replace(secret, mask_secret(secret))
    return text


def scrub_json(value: Any, secret: str | None) -> Any:
    """A decoded JSON value with `secret` masked wherever it appears."""
    if not secret or value is None:
        return value
    raw = orjson.dumps(value).decode()
    if secret not in raw:
        return value
    return orjson.loads(raw.replace(secret, mask_secret(secret)))
