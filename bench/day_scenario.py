"""The free-tier day bench-day plays: five providers, their budgets, and the traffic."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chain429.testing import Budget
from chain429.testing.dialects import Dialect

KEY = "bench-free-tier-key"
CHAIN = "free"
# 08:00 UTC: the Gemini-like preset's daily reset (Pacific midnight) stays out of the run.
SIM_START = datetime(2025, 6, 2, 8, 0, tzinfo=UTC).timestamp()


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One mock provider: its preset in the proxy, its enforced budget, its headers."""

    id: str
    type: str  # the proxy's preset (decides the header parser and the preset's limits)
    model: str
    dialect: Dialect  # what the mock sends
    budget: Budget
    latency_s: float  # simulated upstream latency of a success
    rate_limits: dict[str, Any] | None = None  # config `rate_limits` (header-less providers)


# Free tiers: per-minute limits as documented, daily caps scaled (250-1,000) so that the day's
# budget is spent within the simulated span. Header-dialect providers carry no config limits
# beyond their preset's.
PROVIDERS: tuple[ProviderSpec, ...] = (
    # Groq: headers give requests/day and tokens/minute; its RPM (30) only the preset knows.
    ProviderSpec("groq", "groq", "llama-3.1-8b-instant", "groq", Budget(30, 1000, 6000), 0.4),
    # Cerebras: requests/day and tokens/minute headers; the token/day cap shows only in a 429.
    ProviderSpec(
        "cerebras", "cerebras", "llama3.1-8b", "cerebras", Budget(30, 900, 8000, 300_000), 0.3
    ),
    # OpenAI-style: requests/minute and tokens/minute headers; the daily cap only in a 429.
    ProviderSpec("openai", "openai", "gpt-4o-mini", "openai", Budget(20, 500, 10_000), 0.8),
    # Gemini-like: no headers at all; the limits come from the config.
    ProviderSpec(
        "gemini",
        "gemini",
        "gemini-2.5-flash",
        "none",
        Budget(15, 250, 20_000),
        1.2,
        {
            "requests_per_minute": 15,
            "requests_per_day": 250,
            "tokens_per_minute": 20_000,
            "daily_reset": "rolling",
        },
    ),
    # NVIDIA-like: no headers, ~40 RPM, no daily cap.
    ProviderSpec(
        "nvidia",
        "nvidia",
        "meta/llama-3.3-70b-instruct",
        "none",
        Budget(40),
        1.5,
        {"requests_per_minute": 40},
    ),
)


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    start: float  # fraction of the simulated span
    end: float
    rpm: float  # offered requests per simulated minute


# The sum of per-minute request limits is 135 RPM (about 110 once tokens per minute bind); the
# largest single provider takes 40. The daily caps add up to ~2,600 requests, spent by the end
# of the peak (at the defaults: 2 simulated hours); from then on only the uncapped NVIDIA-like
# entry is left, and the afternoon is a little above what remains.
PHASES: tuple[Phase, ...] = (
    Phase("morning", 0.00, 0.30, 50.0),
    Phase("peak", 0.30, 0.40, 140.0),
    Phase("afternoon", 0.40, 0.80, 45.0),
    Phase("evening", 0.80, 1.00, 25.0),
)
PROMPT_TOKENS = (40, 80, 150, 250, 400, 700)  # drawn uniformly
MAX_TOKENS = (64, 128, 256)
# The mocks charge prompt + max_tokens against their token windows when a request arrives; the
# usage they report is prompt + this reply (48 tokens, below every max_tokens: a reply never
# outgrows its budget).
REPLY_TEXT = "word " * 38


def rate_at(fraction: float) -> float:
    for phase in PHASES:
        if phase.start <= fraction < phase.end:
            return phase.rpm
    return 0.0


def phase_of(fraction: float) -> str:
    for phase in PHASES:
        if phase.start <= fraction < phase.end:
            return phase.name
    return PHASES[-1].name


def arrivals(span_s: float, seed: int) -> list[tuple[float, int, int]]:
    """(simulated second, prompt tokens, max_tokens) of every request: a Poisson process."""
    rng = random.Random(seed)
    out: list[tuple[float, int, int]] = []
    t = 0.0
    while True:
        rpm = max(rate_at(t / span_s), 1e-9)
        t += rng.expovariate(rpm / 60.0)
        if t >= span_s:
            return out
        out.append((t, rng.choice(PROMPT_TOKENS), rng.choice(MAX_TOKENS)))
