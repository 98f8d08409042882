"""JSON that orjson reads but cannot write again: nested deeper than it writes.

orjson parses 1,024 levels of nesting but serializes only 254, so an upstream answer or event
nested between the two would fail later, when it is re-encoded to patch or translate it (a
500). Where an answer is read, such JSON counts as malformed, so the walk moves on.
"""

from __future__ import annotations

from typing import Any

import orjson

WRITABLE_DEPTH = 254


def loads_writable(data: str | bytes) -> Any:
    """`data` as JSON, or None when it is not JSON or is nested too deep to write again."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return None if too_deep(data, parsed) else parsed


def too_deep(raw: bytes | str, parsed: Any) -> bool:
    """Whether `parsed` (read from `raw`) cannot be written again; cheap unless `raw` holds
    more than `WRITABLE_DEPTH` brackets in all, when it is tried."""
    if isinstance(raw, bytes):
        brackets = raw.count(b"{") + raw.count(b"[")
    else:
        brackets = raw.count("{") + raw.count("[")
    if brackets <= WRITABLE_DEPTH:
        return False
    try:
        orjson.dumps(parsed)
    except TypeError:
        return True
    return False
