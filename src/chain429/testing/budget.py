"""Free-tier limits the mock provider enforces: sliding windows or token buckets."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

MINUTE = 60.0
DAY = 86_400.0

Kind = Literal["requests", "tokens"]
Period = Literal["minute", "day"]


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits per provider (one mock is one provider+model); None means unlimited."""

    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    tpd: int | None = None
    concurrent: int | None = None


class Window:
    """What was spent in the last `span` seconds, kept entry by entry so it slides exactly."""

    __slots__ = ("_entries", "_used", "kind", "limit", "period", "span")

    def __init__(self, kind: Kind, period: Period, limit: int) -> None:
        self.kind = kind
        self.period = period
        self.span = MINUTE if period == "minute" else DAY
        self.limit = limit
        self._entries: deque[tuple[float, int]] = deque()
        self._used = 0

    def used(self, now: float) -> int:
        entries = self._entries
        horizon = now - self.span
        while entries and entries[0][0] <= horizon:
            self._used -= entries.popleft()[1]
        return self._used

    def remaining(self, now: float) -> int:
        return max(0, self.limit - self.used(now))

    def wait(self, now: float, amount: int) -> float:
        """Seconds until `amount` more fits: 0 if it fits now, inf if it never can."""
        if amount > self.limit:
            return math.inf
        short = self.used(now) + amount - self.limit
        if short <= 0:
            return 0.0
        for stamp, spent in self._entries:
            short -= spent
            if short <= 0:
                return stamp + self.span - now
        return self.span  # unreachable: the entries add up to `used`

    def reset(self, now: float) -> float:
        """Seconds until the oldest spend leaves the window, i.e. until `remaining` next grows.

        Enforcement is a sliding window, so this is the figure a client can act on: with
        nothing remaining, it is exactly when a retry first succeeds.
        """
        if not self.used(now):
            return 0.0
        return self._entries[0][0] + self.span - now

    def add(self, now: float, amount: int) -> None:
        self._entries.append((now, amount))
        self._used += amount


class Bucket:
    """A token bucket that refills continuously, as OpenAI, Groq and Cerebras document theirs.

    `reset` is then the time until the bucket is full again, which is what their
    `x-ratelimit-reset-*` headers state.
    """

    __slots__ = ("_level", "_stamp", "kind", "limit", "period", "rate", "span")

    def __init__(self, kind: Kind, period: Period, limit: int) -> None:
        self.kind = kind
        self.period = period
        self.span = MINUTE if period == "minute" else DAY
        self.limit = limit
        self.rate = limit / self.span
        self._level = float(limit)
        self._stamp: float | None = None

    def _refill(self, now: float) -> float:
        if self._stamp is not None:
            self._level = min(float(self.limit), self._level + (now - self._stamp) * self.rate)
        self._stamp = now
        return self._level

    def used(self, now: float) -> int:
        return self.limit - math.floor(self._refill(now))

    def remaining(self, now: float) -> int:
        return max(0, math.floor(self._refill(now)))

    def wait(self, now: float, amount: int) -> float:
        if amount > self.limit:
            return math.inf
        missing = amount - self._refill(now)
        return max(0.0, missing / self.rate)

    def reset(self, now: float) -> float:
        return (self.limit - self._refill(now)) / self.rate

    def add(self, now: float, amount: int) -> None:
        self._level = self._refill(now) - amount


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request was refused; the dialect turns it into a status, headers and body."""

    kind: Kind | Literal["concurrent"]
    period: Period | None  # None for the concurrency limit
    limit: int
    used: int
    requested: int
    retry_after: float  # inf when waiting can't help
    too_large: bool = False  # the request alone is bigger than the whole window


class BudgetTracker:
    """Admits a request if every window has room, and records what it spends."""

    def __init__(
        self,
        budget: Budget,
        clock: Callable[[], float],
        *,
        buckets: bool = False,
        daily_buckets: bool = False,
    ) -> None:
        """`buckets`: per-minute limits are token buckets (else they slide); `daily_buckets`:
        per-day limits too (Groq: "RPD refills continuously"; Cerebras' token buckets)."""
        self.budget = budget
        self.clock = clock
        limits: list[tuple[Kind, Period, int | None]] = [
            ("requests", "minute", budget.rpm),
            ("requests", "day", budget.rpd),
            ("tokens", "minute", budget.tpm),
            ("tokens", "day", budget.tpd),
        ]
        bucket_periods = {"minute"} if buckets else set()
        if daily_buckets:
            bucket_periods.add("day")
        self.windows: list[Window | Bucket] = [
            (Bucket if p in bucket_periods else Window)(k, p, limit)
            for k, p, limit in limits
            if limit is not None
        ]

    def window(self, kind: Kind, period: Period) -> Window | Bucket | None:
        for window in self.windows:
            if window.kind == kind and window.period == period:
                return window
        return None

    def admit(self, tokens: int, in_flight: int) -> Rejection | None:
        """Spend one request and `tokens`, or say which limit is in the way (nothing spent)."""
        concurrent = self.budget.concurrent
        if concurrent is not None and in_flight >= concurrent:
            return Rejection("concurrent", None, concurrent, in_flight, 1, 1.0)
        now = self.clock()
        worst: Rejection | None = None
        for window in self.windows:
            amount = 1 if window.kind == "requests" else tokens
            wait = window.wait(now, amount)
            if wait > 0 and (worst is None or wait > worst.retry_after):
                # The longest wait is the binding limit: it is the one worth reporting.
                used = window.used(now)
                worst = Rejection(
                    window.kind, window.period, window.limit, used, amount, wait, wait == math.inf
                )
        if worst is not None:
            return worst
        for window in self.windows:
            window.add(now, 1 if window.kind == "requests" else tokens)
        return None
