"""Issue 'the core promise': cases where a user lost requests or waited for nothing."""

from __future__ import annotations

import pytest

from chain429.engine.operations import CHAT
from chain429.engine.settle import settle
from chain429.providers.presets import get_preset
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.vocabulary import Entry, Outcome, OutcomeKind, Ticket
from tests.unit.fixtures import providers as fx

NOW = 1_788_782_400.0  # 2026-09-07T12:00:00Z


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tracker(clock: Clock) -> MemoryTracker:
    return MemoryTracker(Policy(cooldown_default_s=60, cooldown_max_s=86_400), clock)


def make(preset: str, model: str = "m", provider: str | None = None) -> Entry:
    return Entry(provider or preset, model, get_preset(preset), "http://x", {}, 5.0)


def answer(
    tracker: MemoryTracker,
    e: Entry,
    status: int,
    headers: dict[str, str],
    body: bytes,
    est_tokens: int = 10,
) -> Outcome:
    ticket = tracker.acquire(e, est_tokens)
    assert isinstance(ticket, Ticket), ticket
    settled = settle(
        e, status, headers, body, tracker.clock(), operation=CHAT, est_tokens=est_tokens
    )
    tracker.release(ticket, settled.outcome, settled.snapshot)
    return settled.outcome


def cooldown_left(tracker: MemoryTracker, e: Entry) -> float:
    verdict = tracker.blocked(e)
    assert verdict is not None and verdict.free_at is not None
    return verdict.free_at - tracker.clock()


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "0"},
        {"retry-after": "Mon, 07 Sep 2026 11:59:00 GMT"},  # a minute in the past
        {"x-ratelimit-reset": str(int((NOW - 5) * 1000))},  # OpenRouter, 5 s ago
    ],
)
def test_a_429_never_cools_for_zero(
    tracker: MemoryTracker, clock: Clock, headers: dict[str, str]
) -> None:
    e = make("openrouter")
    answer(tracker, e, 429, headers, b'{"error": {"message": "Rate limit exceeded"}}')
    assert cooldown_left(tracker, e) >= tracker.policy.cooldown_min_s


def test_repeated_429s_without_a_hint_escalate_and_a_success_resets(
    tracker: MemoryTracker, clock: Clock
) -> None:
    e = make("nvidia")
    lengths = []
    for _ in range(4):
        answer(tracker, e, 429, {}, fx.NVIDIA_429)
        lengths.append(round(cooldown_left(tracker, e)))
        clock.now += lengths[-1] + 1
    assert lengths == [60, 120, 240, 480]
    ticket = tracker.acquire(e, 1)
    assert isinstance(ticket, Ticket)
    tracker.release(ticket, Outcome(OutcomeKind.SUCCESS, 200, "ok"))
    answer(tracker, e, 429, {}, fx.NVIDIA_429)
    assert round(cooldown_left(tracker, e)) == 60
