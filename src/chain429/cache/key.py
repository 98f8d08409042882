"""The cache key: a canonical hash of what determines the answer, and when not to cache at all."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

# Fields that do not change the answer: who asked, how it is delivered, labels.
IGNORED = frozenset({"user", "stream", "stream_options", "metadata"})


def deterministic(body: Mapping[str, Any], generates: bool) -> bool:
    """Whether the same request should get the same answer.

    Not so with `temperature` > 0 (its absence means the provider's default, 1.0), with
    `top_p` < 1 and no `seed`, or with `n` > 1. Embeddings always are.
    """
    if not generates:
        return True
    temperature = _number(body.get("temperature"), 1.0)
    if temperature > 0:
        return False
    if _number(body.get("top_p"), 1.0) < 1 and body.get("seed") is None:
        return False
    return _number(body.get("n"), 1) <= 1


def cache_key(
    operation: str,
    chain: str,
    body: Mapping[str, Any],
    *,
    generates: bool = True,
    nondeterministic: bool = False,
) -> str | None:
    """The key for this request's answer, or None when it must not be cached.

    Keys are sorted at every level, so field order never matters; `model` is replaced by the
    chain it resolved to (two names for one chain share answers, one name for two chains does
    not). Tools, tool_choice and response_format stay in: they change the answer.
    """
    if not nondeterministic and not deterministic(body, generates):
        return None
    kept = {name: value for name, value in body.items() if name not in IGNORED}
    kept["model"] = chain
    try:
        canonical = orjson.dumps([operation, kept], option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None  # nested too deep to encode: not worth caching
    return hashlib.sha256(canonical).hexdigest()


def _number(value: object, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default
