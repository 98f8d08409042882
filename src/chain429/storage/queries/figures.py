"""How stored values become the JSON figures: counts, ratios, rounding, percentiles, times."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any


def as_int(value: Any) -> int:
    return int(value) if value is not None else 0


def ratio_of(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def round1(value: float) -> float:
    return round(value, 1)


def round1_opt(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def epoch_ms(ts: float | None) -> int | None:
    return round(ts * 1000) if ts is not None else None


def iso_time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not sorted_values:
        return None
    rank = (len(sorted_values) - 1) * p
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)
