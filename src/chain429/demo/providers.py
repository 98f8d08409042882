"""The demo's simulated free tiers: MockProviders shaped like real presets, with their latencies.

Each one is data (a `Simulated`): the preset it imitates, the model, the mock's budget and
header dialect, and how it answers. `Answers` turns that into one step per request: realistic
time to first token, token-by-token streams, and for the flaky one 5xx errors and stalls.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from chain429.testing import Budget, Dialect, Hang, MockProvider, Reply, Step, Stream
from chain429.testing.responses import (
    chunk,
    completion,
    error_body,
    estimate_tokens,
    prompt_tokens,
    usage_chunk,
)

ANSWERS = (
    "Rate limits are a budget, not a wall: spend it where it counts and keep a fallback ready.",
    "A waterfall tries the first provider, and when it says 429, the next one answers instead.",
    "Free tiers differ: some count requests per minute, some tokens per day, some both at once.",
    "Hamlet hesitates, avenges his father at last, and almost everyone dies in the final scene.",
    "To reverse a list in Python, use reversed(items) for a view or items[::-1] for a copy.",
    "The mitochondria turns nutrients into ATP, which powers most of the work a cell does.",
)


@dataclass(frozen=True, slots=True)
class Latency:
    """Seconds to the first token (a range) and between tokens."""

    first: tuple[float, float]
    per_token: float


@dataclass(frozen=True, slots=True)
class Simulated:
    """One simulated provider account: what the config says and how the mock behaves."""

    id: str
    type: str  # the preset it imitates (its header parser and quirks apply)
    name: str
    model: str
    dialect: Dialect
    budget: Budget | None
    latency: Latency
    error_rate: float = 0.0  # share of requests answered with a 5xx
    stall_rate: float = 0.0  # share of requests that never answer (the proxy times out)
    timeout_ms: int | None = None


SIMULATED = (
    # Groq's free tier: per-minute and per-day request and token budgets, Groq's headers
    # (-requests counts the day, -tokens the minute), very fast tokens.
    Simulated(
        "groq",
        "groq",
        "Groq (simulated)",
        "llama-3.3-70b-versatile",
        "groq",
        Budget(rpm=10, rpd=1000, tpm=4000, tpd=100_000),
        Latency((0.15, 0.35), 0.01),
    ),
    # OpenRouter's ":free" models: no headers until its own 429, and a small daily cap.
    Simulated(
        "openrouter",
        "openrouter",
        "OpenRouter (simulated)",
        "meta-llama/llama-3.3-70b-instruct:free",
        "openrouter",
        Budget(rpm=20, rpd=6),
        Latency((0.5, 1.2), 0.03),
    ),
    # A provider having a bad day: one call in five is a 5xx, one in ten stalls until timeout.
    Simulated(
        "flaky",
        "openai-compatible",
        "Flaky Cloud (simulated)",
        "gpt-oss-120b",
        "openai",
        None,
        Latency((0.3, 0.8), 0.02),
        error_rate=0.2,
        stall_rate=0.1,
        timeout_ms=4000,
    ),
    # A local model on a laptop: always there, slow to start and slow to type.
    Simulated(
        "slow",
        "openai-compatible",
        "Slow Local (simulated)",
        "llama3.2",
        "openai",
        None,
        Latency((1.5, 3.0), 0.07),
    ),
)


class Answers:
    """Picks the step for each request a simulated provider gets (MockProvider's `choose`)."""

    def __init__(self, spec: Simulated, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng

    def __call__(self, payload: dict[str, Any]) -> Step:
        spec, rng = self.spec, self.rng
        roll = rng.random()
        if roll < spec.stall_rate:
            return Hang()
        if roll < spec.stall_rate + spec.error_rate:
            status = rng.choice((500, 502, 503))
            return Reply(status, error_body(status, "The server had an error; try again."))
        model = payload.get("model") if isinstance(payload.get("model"), str) else spec.model
        text = rng.choice(ANSWERS)
        usage = (prompt_tokens(payload), estimate_tokens(text))
        first = rng.uniform(*spec.latency.first)
        if payload.get("stream") is not True:
            delay = first + usage[1] * spec.latency.per_token
            return Reply(body=completion(text, str(model), usage), delay=delay)
        events: list[Any] = [chunk(role="assistant", content="", model=str(model))]
        events += [chunk(piece, str(model)) for piece in re.findall(r"\s*\S+", text)]
        events.append(chunk(model=str(model), finish_reason="stop"))
        options = payload.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            events.append(usage_chunk(*usage, model=str(model)))
        return Stream(events, delay_first=first, interval=spec.latency.per_token)


def simulated_provider(spec: Simulated, rng: random.Random) -> MockProvider:
    """A mock for `spec`, not yet started; it answers any key (the demo config uses fake ones)."""
    return MockProvider(
        limits=spec.budget,
        header_dialect=spec.dialect,
        models=[spec.model],
        choose=Answers(spec, rng),
        record=False,  # it runs for as long as the demo does: keep memory flat
    )
