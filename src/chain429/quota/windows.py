"""Counters for manual limits: sliding windows in buckets, and windows that reset at a boundary."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

# Bucket widths: fine enough that a freed slot is seen within a few tenths of a second.
MINUTE_BUCKET_S = 0.05
HOUR_BUCKET_S = 15.0
DAY_BUCKET_S = 60.0
# The upstream counts a request when it arrives, a little after we send it: a per-minute slot
# frees at least this much after our send plus the minute, never at the very edge. (Rounding
# to the bucket's end alone left anything from nothing to a bucket's width: a request sent at
# a bucket's end and delayed a millisecond more than the next one met a 429.)
MINUTE_MARGIN_S = 0.1
# The minute buckets' width before MINUTE_MARGIN_S, for state written by older versions.
_LEGACY_MINUTE_BUCKET_S = 0.25


def minute_window() -> SlidingWindow:
    return SlidingWindow(60.0, MINUTE_BUCKET_S, MINUTE_MARGIN_S)


def hour_window() -> SlidingWindow:
    return SlidingWindow(3_600.0, HOUR_BUCKET_S)


def day_window() -> SlidingWindow:
    return SlidingWindow(86_400.0, DAY_BUCKET_S)


class SlidingWindow:
    """What was used in the last `span` seconds, kept in fixed-width buckets.

    A bucket counts until its end plus `span` (plus `margin`) has passed, so the window errs on
    the safe side by `margin` to `margin` + one bucket width, and memory stays bounded whatever
    the traffic.
    """

    __slots__ = ("_buckets", "margin", "span", "total", "width")

    def __init__(self, span: float, width: float, margin: float = 0.0) -> None:
        self.span = span
        self.width = width
        self.margin = margin
        self._buckets: deque[list[float]] = deque()  # [bucket index, amount], oldest first
        self.total = 0.0

    def used(self, now: float) -> float:
        self._prune(now)
        return self.total

    def add(self, now: float, amount: float) -> None:
        index = math.floor(now / self.width)
        if self._buckets and self._buckets[-1][0] >= index:
            self._buckets[-1][1] += amount
        else:
            self._buckets.append([index, amount])
        self.total += amount

    def adjust(self, at: float, delta: float) -> None:
        """Correct an earlier amount (a token estimate settled with the real usage)."""
        index = math.floor(at / self.width)
        for bucket in reversed(self._buckets):
            if bucket[0] <= index:
                change = max(delta, -bucket[1])
                bucket[1] += change
                self.total += change
                return

    def free_at(self, now: float, need: float, limit: float) -> float:
        """The earliest time at which `need` more fits under `limit`."""
        self._prune(now)
        excess = self.total + need - limit
        for index, amount in self._buckets:
            excess -= amount
            if excess <= 0:
                return (index + 1) * self.width + self.span + self.margin
        return now + self.span

    def _prune(self, now: float) -> None:
        horizon = now - self.span - self.margin
        while self._buckets and (self._buckets[0][0] + 1) * self.width <= horizon:
            self.total -= self._buckets.popleft()[1]
        if not self._buckets:
            self.total = 0.0

    def dump(self) -> dict[str, Any]:
        return {"buckets": [list(b) for b in self._buckets], "width": self.width}

    def load(self, data: dict[str, Any]) -> None:
        legacy = _LEGACY_MINUTE_BUCKET_S if self.span == 60.0 else self.width
        width = float(data.get("width", legacy))
        buckets: deque[list[float]] = deque()
        for i, a in data.get("buckets", []):
            # Kept under another width: the bucket that ends no earlier than it did.
            index = float(i) if width == self.width else _rescaled(float(i), width, self.width)
            if buckets and buckets[-1][0] >= index:
                buckets[-1][1] += float(a)
            else:
                buckets.append([index, float(a)])
        self._buckets = buckets
        self.total = sum(b[1] for b in self._buckets)


def _rescaled(index: float, width: float, new_width: float) -> float:
    return float(math.ceil((index + 1) * width / new_width - 1e-9) - 1)


class FixedWindow:
    """What was used since the last boundary (a daily quota that resets at midnight)."""

    __slots__ = ("ends_at", "total")

    def __init__(self) -> None:
        self.ends_at = 0.0
        self.total = 0.0

    def used(self, now: float) -> float:
        if now >= self.ends_at:
            self.total = 0.0
        return self.total

    def add(self, now: float, amount: float, boundary: float) -> None:
        if now >= self.ends_at:
            self.total, self.ends_at = 0.0, boundary
        self.total += amount

    def adjust(self, at: float, delta: float) -> None:
        if at < self.ends_at:
            self.total = max(0.0, self.total + delta)

    def free_at(self, now: float, need: float, limit: float) -> float:
        return self.ends_at

    def dump(self) -> dict[str, Any]:
        return {"ends_at": self.ends_at, "total": self.total}

    def load(self, data: dict[str, Any]) -> None:
        self.ends_at = float(data.get("ends_at", 0.0))
        self.total = float(data.get("total", 0.0))


# The sliding window for a manual limit, by the period its name ends in ("requests_per_hour").
SLIDING: dict[str, Callable[[], SlidingWindow]] = {
    "minute": minute_window,
    "hour": hour_window,
    "day": day_window,
}
