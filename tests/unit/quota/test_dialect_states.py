"""Real provider headers and 429 bodies, through the outcome table, into the tracker's state."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from chain429.engine.operations import CHAT
from chain429.engine.settle import settle
from chain429.providers.presets import get_preset
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.vocabulary import Entry, Ticket
from tests.unit.fixtures import providers as fx

NOW = 1788782400.0  # 2026-09-07T12:00:00Z


def entry(preset: str, model: str = "m") -> Entry:
    return Entry(preset, model, get_preset(preset), "http://x", {}, 5.0)


def answer(preset: str, status: int, headers: Mapping[str, str], body: bytes) -> MemoryTracker:
    """One real answer through `settle` (the one place it becomes a decision) into the tracker."""
    tracker = MemoryTracker(Policy(), lambda: NOW)
    e = entry(preset)
    ticket = tracker.acquire(e, 10)
    assert isinstance(ticket, Ticket)
    settled = settle(e, status, headers, None if status == 200 else body, NOW, operation=CHAT)
    tracker.release(ticket, settled.outcome, settled.snapshot)
    return tracker


@pytest.mark.parametrize(
    ("preset", "headers", "learned"),
    [
        ("groq", fx.GROQ_200_HEADERS, {"requests/day": 14370, "tokens/minute": 17997}),
        ("cerebras", fx.CEREBRAS_200_FREE_HEADERS, {"requests/day": 14391, "tokens/minute": 0}),
        ("mistral", fx.MISTRAL_200_NEW_HEADERS, {"tokens/minute": 4999911, "requests/minute": 717}),
        ("sambanova", fx.SAMBANOVA_200_HEADERS, {"requests/minute": 59, "requests/day": 11980}),
        ("openai", fx.OPENAI_200_HEADERS, {"requests/minute": 59, "tokens/minute": 149984}),
        ("together", fx.TOGETHER_200_HEADERS, {"requests/second": 0, "tokens/second": 880}),
        ("gemini", fx.PLAIN_200_HEADERS, {}),
        ("nvidia", fx.PLAIN_200_HEADERS, {}),
    ],
)
def test_success_headers_become_learned_counters(
    preset: str, headers: Mapping[str, str], learned: dict[str, int]
) -> None:
    tracker = answer(preset, 200, headers, b"")
    report = tracker.report_now(entry(preset))
    got = {key: window.remaining for key, window in report.learned.items()}
    for key, remaining in learned.items():
        assert got[key] == pytest.approx(remaining, abs=1), (key, got)
    if not learned:
        assert report.state == "available"


def test_an_empty_token_bucket_refills_continuously() -> None:
    tracker = answer("cerebras", 200, fx.CEREBRAS_200_FREE_HEADERS, b"")
    e = entry("cerebras")
    assert tracker.report_now(e).state == "cooling"
    verdict = tracker.blocked(e, 30_000)  # half the bucket: about half of the 41.7 s
    assert verdict is not None
    assert verdict.free_at is not None
    assert verdict.free_at - NOW == pytest.approx(41.7 / 2, abs=0.5)


@pytest.mark.parametrize(
    ("preset", "status", "headers", "body", "state", "left"),
    [
        ("groq", 429, {"retry-after": "2"}, fx.GROQ_429_RPM, "cooling", (1, 3)),
        ("groq", 429, {}, fx.GROQ_429_TPD, "exhausted-until-daily-reset", (500, 86400)),
        ("gemini", 429, {}, fx.GEMINI_429_DAILY, "exhausted-until-daily-reset", (3600, 86400)),
        ("gemini", 429, {}, fx.GEMINI_429_MINUTE, "cooling", (1, 61)),
        ("cerebras", 429, {}, fx.CEREBRAS_429_RPM, "cooling", (1, 61)),
        (
            "openrouter",
            429,
            fx.OPENROUTER_429_DAILY_HEADERS,
            fx.OPENROUTER_429_DAILY,
            "exhausted-until-daily-reset",
            (43199, 43201),
        ),
        ("openrouter", 429, {}, fx.OPENROUTER_429_PER_MIN, "cooling", (1, 61)),
        (
            "github-models",
            429,
            fx.GITHUB_429_DAILY_HEADERS,
            fx.GITHUB_429_DAILY,
            "exhausted-until-daily-reset",
            (5000, 24368),
        ),
        (
            "github-models",
            429,
            fx.GITHUB_429_MINUTE_HEADERS,
            fx.GITHUB_429_MINUTE,
            "cooling",
            (45, 47),
        ),
        ("nvidia", 429, {}, fx.NVIDIA_429, "cooling", (59, 61)),
        ("mistral", 429, {}, fx.MISTRAL_429_NEW, "cooling", (1, 61)),
        (
            "openrouter",
            402,
            {},
            b'{"error":{"code":402,"message":"Insufficient credits"}}',
            "exhausted-until-daily-reset",
            (3600, None),
        ),
        ("openai", 429, {}, fx.OPENAI_429_BILLING, "exhausted-until-daily-reset", (3600, None)),
        ("groq", 401, {}, b'{"error":{"message":"Invalid API Key"}}', "auth-failed", (3600, None)),
    ],
)
def test_error_answers_become_cooldowns(
    preset: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    state: str,
    left: tuple[float, float | None],
) -> None:
    tracker = answer(preset, status, headers, body)
    report = tracker.report_now(entry(preset))
    assert report.state == state
    low, high = left
    assert report.cooldown_left_s is not None
    assert report.cooldown_left_s >= low
    if high is not None:
        assert report.cooldown_left_s <= high
