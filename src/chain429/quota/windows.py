"""Counters for manual limits: sliding windows in buckets, and windows that reset at a boundary."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

# Bucket widths: fine enough that a freed slot is seen within a quarter second, yet a
# little late, which absorbs the gap between our send and the upstream's count.
MINUTE_BUCKET_S = 0.25
HOUR_BUCKET_S = 15.0
DAY_BUCKET_S = 60.0


def minute_window() -> SlidingWindow:
    return SlidingWindow(60.0, MINUTE_BUCKET_S)


def hour_window() -> SlidingWindow:
    return SlidingWindow(3_600.0, HOUR_BUCKET_S)


def day_window() -> SlidingWindow:
    return SlidingWindow(86_400.0, DAY_BUCKET_S)


class SlidingWindow:
    """What was used in the last `span` seconds, kept in fixed-width buckets.

    A bucket counts until its end plus `span` has passed, so the window errs on the safe side
    by at most one bucket width, and memory stays bounded whatever the traffic.
    """

    __slots__ = ("_buckets", "span", "total", "width")

    def __init__(self, span: float, width: float) -> None:
        self.span = span
        self.width = width
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
                return (index + 1) * self.width + self.span
        return now + self.span

    def _prune(self, now: float) -> None:
        horizon = now - self.span
        while self._buckets and (self._buckets[0][0] + 1) * self.width <= horizon:
            self.total -= self._buckets.popleft()[1]
        if not self._buckets:
            self.total = 0.0

    def dump(self) -> dict[str, Any]:
        return {"buckets": [list(b) for b in self._buckets]}

    def load(self, data: dict[str, Any]) -> None:
        self._buckets = deque([float(i), float(a)] for i, a in data.get("buckets", []))
        self.total = sum(b[1] for b in self._buckets)


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
