"""Issue 'the core promise': cases where a user lost requests or waited for nothing."""

from __future__ import annotations

import pytest

from chain429.config.schema import RateLimits
from chain429.engine.operations import CHAT
from chain429.engine.settle import settle
from chain429.providers.presets import get_preset
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.vocabulary import Entry, Outcome, OutcomeKind, Ticket
from tests.unit.engine.fakes import FakeClock
from tests.unit.fixtures import providers as fx

NOW = 1_788_782_400.0  # 2026-09-07T12:00:00Z


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def tracker(clock: FakeClock) -> MemoryTracker:
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


def cooldown_left(tracker: MemoryTracker, e: Entry, est_tokens: int = 0) -> float:
    verdict = tracker.blocked(e, est_tokens)
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
    tracker: MemoryTracker, clock: FakeClock, headers: dict[str, str]
) -> None:
    e = make("openrouter")
    answer(tracker, e, 429, headers, b'{"error": {"message": "Rate limit exceeded"}}')
    assert cooldown_left(tracker, e) >= tracker.policy.cooldown_min_s


def test_repeated_429s_without_a_hint_escalate_and_a_success_resets(
    tracker: MemoryTracker, clock: FakeClock
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


def test_a_fixed_window_is_not_re_probed_before_it_reopens(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    """A gateway's 10/min fixed window with IETF headers: the counters say 0 left until the
    window's reset, and nothing is sent before it (it used to refill pro rata: 80+ 429s)."""
    e = make("openai-compatible")
    headers = {"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "40"}
    outcome = answer(tracker, e, 429, {**headers, "retry-after": "40"}, b"{}")
    assert outcome.explained
    for _ in range(39):
        clock.now += 1
        assert tracker.blocked(e) is not None
    clock.now += 1.5
    assert tracker.blocked(e) is None


def test_a_retry_after_longer_than_a_fixed_windows_counters_is_kept(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = make("openai-compatible")
    headers = {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "5"}
    answer(tracker, e, 429, {**headers, "retry-after": "45"}, b"{}")
    clock.now += 10
    assert tracker.blocked(e) is not None  # the counters reopened; the stated wait has not
    clock.now += 36
    assert tracker.blocked(e) is None


def test_a_groq_tokens_per_day_429_holds_back_only_requests_that_do_not_fit(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    """Limit 100000, Used 97050, Requested 3619: 2,950 tokens are left for smaller requests."""
    e = make("groq")
    outcome = answer(tracker, e, 429, {}, fx.GROQ_429_TPD, est_tokens=3619)
    assert (outcome.kind, outcome.explained) == (OutcomeKind.QUOTA_EXHAUSTED, True)
    # Explained by its counters, still a daily 429 of the token counter (the tracker reads both).
    assert (outcome.daily, outcome.counter) == (True, "tokens")
    assert tracker.blocked(e, 2000) is None
    big = tracker.blocked(e, 3619)
    assert big is not None and big.free_at is not None
    assert big.free_at - clock.now == pytest.approx(578, abs=2)  # "try again in 9m38.016s"


def test_openrouters_account_wide_daily_cap_cools_every_model(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    a, b = make("openrouter", "model-a:free"), make("openrouter", "model-b:free")
    answer(tracker, a, 429, {}, fx.OPENROUTER_429_HIGH_BALANCE)
    assert tracker.blocked(a) is not None
    assert tracker.blocked(b) is not None


def test_a_model_scoped_daily_cap_cools_only_that_model(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    a, b = make("gemini", "gemini-2.5-flash"), make("gemini", "gemini-2.5-pro")
    answer(tracker, a, 429, {}, fx.GEMINI_429_DAILY)
    assert tracker.blocked(a) is not None
    assert tracker.blocked(b) is None


def test_config_can_say_when_a_providers_daily_counters_refill(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    """An openai-compatible endpoint is rolling by preset; its config can say UTC midnight."""
    plain = make("openai-compatible")
    utc = Entry(
        "cf",
        "m",
        get_preset("openai-compatible"),
        "http://x",
        {},
        5.0,
        RateLimits(daily_reset="utc-midnight"),
    )
    body = b'{"error": {"message": "Rate limit reached on requests per day (RPD)"}}'
    answer(tracker, plain, 429, {}, body)
    answer(tracker, utc, 429, {}, body)
    assert cooldown_left(tracker, plain) == pytest.approx(86_400)
    assert cooldown_left(tracker, utc) == pytest.approx(12 * 3600)  # NOW is 12:00 UTC


@pytest.mark.parametrize(
    ("preset", "status", "body"),
    [("groq", 429, fx.GROQ_429_TPM), ("openrouter", 402, fx.OPENROUTER_402)],
)
def test_a_refusal_of_this_requests_size_cools_nothing(
    tracker: MemoryTracker, preset: str, status: int, body: bytes
) -> None:
    e = make(preset)
    outcome = answer(tracker, e, status, {}, body)
    assert outcome.kind is OutcomeKind.CONTEXT_LENGTH
    assert tracker.blocked(e) is None


def test_a_token_buckets_daily_429_waits_for_its_stated_time_not_a_day(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    """Cerebras' daily token bucket refills steadily: its retry-after is when this request fits
    again. A fixed-window provider's short retry-after on a daily 429 is some other counter's."""
    body = b'{"message": "Tokens per day limit exceeded - too many tokens processed."}'
    bucket = make("cerebras")
    answer(tracker, bucket, 429, {"retry-after": "115"}, body)
    assert cooldown_left(tracker, bucket, 10) == pytest.approx(115)  # a request of this size
    fixed = make("openai-compatible")
    answer(tracker, fixed, 429, {"retry-after": "115"}, body)
    assert cooldown_left(tracker, fixed) > 3600


def test_repeated_daily_429s_of_a_token_bucket_double_the_wait(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    """Its retry-after says when *this* request fits; the bucket's size stays unknown."""
    body = b'{"message": "Tokens per day limit exceeded - too many tokens processed."}'
    e = make("cerebras")
    waits = []
    for _ in range(3):
        answer(tracker, e, 429, {"retry-after": "100"}, body)
        waits.append(round(cooldown_left(tracker, e, 10)))
        clock.now += waits[-1] + 1
    assert waits == [100, 200, 400]
