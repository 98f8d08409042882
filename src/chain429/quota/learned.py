"""Quota counters learned from an upstream's rate-limit headers, minus what we have reserved."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from chain429.quota.headers import Window

# How long a counter without a stated reset is trusted, by period.
PERIOD_S = {
    "second": 1.0,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
    "month": 30 * 86400.0,
}


@dataclass(slots=True)
class LearnedWindow:
    """One counter as the upstream last reported it, and what we sent since."""

    kind: str  # "requests" or "tokens"
    period: str
    limit: int | None
    remaining: float
    observed_at: float
    reset_at: float
    reserved: float = 0.0  # requests/tokens sent (or in flight) since the observation
    # A token bucket (OpenAI, Groq, Cerebras) refills steadily until the reset; a fixed window
    # (gateways, IETF RateLimit-*, self-hosted) gives nothing back before it.
    continuous: bool = False

    @classmethod
    def observe(
        cls, window: Window, now: float, reserved: float, *, continuous: bool = False
    ) -> LearnedWindow:
        reset_at = window.reset_at or now + PERIOD_S.get(window.period, 60.0)
        remaining = float(window.remaining or 0)
        return cls(
            window.kind,
            window.period,
            window.limit,
            remaining,
            now,
            reset_at,
            reserved,
            continuous,
        )

    @property
    def daily(self) -> bool:
        return self.period in ("day", "month")

    def available(self, now: float) -> float:
        """What may still be sent now; after the reset, the whole limit again."""
        if now >= self.reset_at:
            if self.limit is None:
                return float("inf")
            # Roll over: the upstream's counter is full again; keep counting from here.
            self.remaining, self.observed_at, self.reserved = float(self.limit), now, 0.0
            self.reset_at = now + PERIOD_S.get(self.period, 60.0)
        remaining = self.remaining
        if self.limit is not None and self.continuous and self.reset_at > self.observed_at:
            refill = (now - self.observed_at) / (self.reset_at - self.observed_at)
            remaining += (self.limit - remaining) * min(1.0, refill)
        return remaining - self.reserved

    def free_at(self, now: float, need: float) -> float:
        """When `need` will fit: for a refilling bucket, pro rata; otherwise at the reset."""
        if self.limit is None or not self.continuous or need > self.limit:
            return self.reset_at
        missing = need - self.available(now)
        rate = (self.limit - self.remaining) / max(self.reset_at - self.observed_at, 1e-3)
        if rate <= 0:
            return self.reset_at
        return min(self.reset_at, now + missing / rate)

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, data: dict[str, Any]) -> LearnedWindow:
        return cls(**data)
