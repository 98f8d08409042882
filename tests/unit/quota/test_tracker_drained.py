"""A spent daily bucket no header shows (Cerebras' tokens per day): paced, not bounced off."""

from __future__ import annotations

import pytest

from chain429.config.schema import RateLimits
from chain429.engine.operations import CHAT
from chain429.engine.settle import settle
from chain429.providers.presets import get_preset
from chain429.quota.headers import RateLimitSnapshot, Window
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.vocabulary import Entry, Ticket, Verdict
from tests.unit.engine.fakes import FakeClock

NOW = 1_788_782_400.0
TPD = (
    b'{"message": "Tokens per day limit exceeded - too many tokens processed.", '
    b'"type": "too_many_requests_error", "param": "quota", "code": "token_quota_exceeded"}'
)
OK = b'{"choices": [{"message": {"role": "assistant", "content": "hi"}}]}'


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def tracker(clock: FakeClock) -> MemoryTracker:
    return MemoryTracker(Policy(), clock)


def cerebras(tokens_per_day: int | None = None) -> Entry:
    limits = RateLimits(tokens_per_day=tokens_per_day) if tokens_per_day else None
    return Entry("cerebras", "m", get_preset("cerebras"), "http://x", {}, 5.0, limits)


def answer(
    tracker: MemoryTracker, e: Entry, tokens: int, status: int = 200, retry_after: int = 0
) -> None:
    ticket = tracker.acquire(e, tokens)
    assert isinstance(ticket, Ticket), ticket
    headers = {"retry-after": str(retry_after)} if retry_after else {}
    body = OK if status == 200 else TPD
    settled = settle(e, status, headers, body, tracker.clock(), operation=CHAT, est_tokens=tokens)
    tracker.release(ticket, settled.outcome, settled.snapshot)


def fits_in(tracker: MemoryTracker, e: Entry, tokens: int) -> float:
    verdict = tracker.blocked(e, tokens)
    if verdict is None:
        return 0.0
    assert verdict.free_at is not None, verdict
    return verdict.free_at - tracker.clock()


def test_after_a_success_the_next_request_waits_for_the_trickle(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    """Formerly: wait, one success on the trickle, and straight into the next 429."""
    e = cerebras()
    answer(tracker, e, 300, 429, retry_after=100)  # 300 fit in 100 s: at most 3 tokens/s
    clock.now += 100
    answer(tracker, e, 300)
    assert fits_in(tracker, e, 300) == pytest.approx(100)


def test_a_smaller_request_goes_before_the_refused_ones_stated_time(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    """The stated wait is about the refused request's size; the first 429 cools nothing."""
    e = cerebras()
    answer(tracker, e, 300, 429, retry_after=100)
    assert fits_in(tracker, e, 300) == pytest.approx(100)
    assert fits_in(tracker, e, 150) == pytest.approx(50)


def test_a_second_refusal_teaches_the_refill_rate(tracker: MemoryTracker, clock: FakeClock) -> None:
    e = cerebras()
    answer(tracker, e, 300, 429, retry_after=100)  # guesses 3 tokens/s at most
    clock.now += 100
    answer(tracker, e, 300)
    clock.now += 100  # 300 back by the guess; the bucket refills 1 token/s: 100 there
    answer(tracker, e, 300, 429, retry_after=200)
    assert fits_in(tracker, e, 300) == pytest.approx(200)
    clock.now += 200
    answer(tracker, e, 300)
    assert fits_in(tracker, e, 300) == pytest.approx(300)  # 1 token/s, learned


def test_the_documented_daily_figure_bounds_the_first_guess(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = cerebras(tokens_per_day=86_400)  # at most 1 token/s
    answer(tracker, e, 300, 429, retry_after=100)
    clock.now += 100
    answer(tracker, e, 300)
    assert fits_in(tracker, e, 300) == pytest.approx(300)


def test_refusals_in_a_row_still_escalate(tracker: MemoryTracker, clock: FakeClock) -> None:
    """Nothing refilled by our count (another client spends it): back off, doubling."""
    e = cerebras()
    answer(tracker, e, 300, 429, retry_after=100)
    clock.now += 100
    answer(tracker, e, 300, 429, retry_after=100)
    assert fits_in(tracker, e, 10) == pytest.approx(200)


def test_without_proactive_tracking_the_429_cools_the_entry(clock: FakeClock) -> None:
    tracker = MemoryTracker(Policy(proactive=False), clock)
    e = cerebras()
    answer(tracker, e, 300, 429, retry_after=100)
    assert fits_in(tracker, e, 10) == pytest.approx(100)


def test_a_header_that_shows_the_counter_ends_the_line(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = cerebras()
    answer(tracker, e, 300, 429, retry_after=100)
    clock.now += 100
    ticket = tracker.acquire(e, 10)
    assert isinstance(ticket, Ticket)
    window = Window("tokens", "day", 300_000, 50_000, clock.now + 3600)
    tracker.release(
        ticket,
        settle(e, 200, {}, OK, clock.now, operation=CHAT).outcome,
        RateLimitSnapshot(clock.now, (window,), None),
    )
    assert fits_in(tracker, e, 300) == 0


def test_a_quiet_day_ends_the_line(tracker: MemoryTracker, clock: FakeClock) -> None:
    e = cerebras()
    answer(tracker, e, 300, 429, retry_after=100)
    clock.now += 100 + 86_400
    assert tracker.blocked(e, 100_000) is None
    assert "drained" not in tracker.export()["quota:cerebras/m"]


def test_a_restart_forgets_nothing(tracker: MemoryTracker, clock: FakeClock) -> None:
    e = cerebras()
    answer(tracker, e, 300, 429, retry_after=100)
    clock.now += 100
    answer(tracker, e, 300)
    fresh = MemoryTracker(Policy(), clock)
    fresh.restore(tracker.export())
    verdict = fresh.blocked(e, 300)
    assert isinstance(verdict, Verdict) and verdict.kind == "quota_exhausted"
    assert verdict.free_at == pytest.approx(clock.now + 100)


def test_a_request_in_flight_holds_its_share(tracker: MemoryTracker, clock: FakeClock) -> None:
    e = cerebras()
    answer(tracker, e, 300, 429, retry_after=100)
    clock.now += 100
    assert isinstance(tracker.acquire(e, 300), Ticket)  # not answered yet
    assert fits_in(tracker, e, 300) == pytest.approx(100)


def test_headroom_shows_what_the_line_says_is_back(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = cerebras()
    answer(tracker, e, 300, 429, retry_after=100)  # 300 at NOW+100, 3 tokens/s at most
    clock.now += 50
    assert tracker.headroom(e).tokens == pytest.approx(150)
