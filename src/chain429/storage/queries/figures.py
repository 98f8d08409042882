"""Reading summed values: a SUM over no rows is NULL, which counts as 0."""

from __future__ import annotations

from typing import Any


def as_int(value: Any) -> int:
    return int(value) if value is not None else 0
