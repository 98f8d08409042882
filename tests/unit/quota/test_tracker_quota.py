"""The tracker's proactive side: learned headers, reservations, manual limits, persistence."""

from __future__ import annotations

from typing import Any

import pytest

from chain429.config.schema import RateLimits
from chain429.engine.operations import CHAT
from chain429.engine.settle import settle
from chain429.providers.presets import get_preset
from chain429.quota.headers import parse_rate_limit_headers
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.vocabulary import Entry, Outcome, OutcomeKind, Ticket, Verdict
from tests.unit.engine.fakes import FakeClock

OK = Outcome(OutcomeKind.SUCCESS, 200, "served")
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a UTC midnight


def entry(
    preset: str = "groq", model: str = "m1", provider: str | None = None, **limits: Any
) -> Entry:
    rate_limits = RateLimits(**limits) if limits else None
    return Entry(provider or preset, model, get_preset(preset), "http://x", {}, 5.0, rate_limits)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW + 3600)


@pytest.fixture
def tracker(clock: FakeClock) -> MemoryTracker:
    return MemoryTracker(Policy(), clock)


def send(tracker: MemoryTracker, e: Entry, tokens: int = 10) -> Ticket:
    ticket = tracker.acquire(e, tokens)
    assert isinstance(ticket, Ticket), ticket
    return ticket


def groq_headers(requests_left: int, tokens_left: int) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": "1000",
        "x-ratelimit-limit-tokens": "12000",
        "x-ratelimit-remaining-requests": str(requests_left),
        "x-ratelimit-remaining-tokens": str(tokens_left),
        "x-ratelimit-reset-requests": "2h24m0s",
        "x-ratelimit-reset-tokens": "7.66s",
    }


def observe(
    tracker: MemoryTracker,
    e: Entry,
    headers: dict[str, str],
    clock: FakeClock,
    used: int | None = None,
) -> None:
    ticket = send(tracker, e)
    snapshot = parse_rate_limit_headers(e.preset.dialect, headers, clock())
    tracker.release(ticket, OK, snapshot, used)


def test_groq_headers_teach_the_daily_request_counter(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    observe(tracker, e, groq_headers(0, 11000), clock)
    verdict = tracker.acquire(e, 10)
    assert isinstance(verdict, Verdict)
    assert verdict.kind == "quota_exhausted"  # Groq's requests counter is per day
    # ... and a token bucket: 1,000 requests over the 2h24m to full, one every 8.64 s.
    assert verdict.free_at == pytest.approx(clock() + (2 * 3600 + 24 * 60) / 1000)
    report = tracker.report_now(e)
    assert report.state == "exhausted-until-daily-reset"
    assert report.learned["requests/day"].remaining == 0


def test_a_request_larger_than_the_tokens_left_is_skipped(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    observe(tracker, e, groq_headers(900, 500), clock)
    small = tracker.acquire(e, 300)
    assert isinstance(small, Ticket)
    big = tracker.acquire(e, 400)  # 500 left, 300 reserved
    assert isinstance(big, Verdict)
    assert big.kind == "rate_limited"
    assert "tokens" in big.reason


def test_a_request_larger_than_the_whole_bucket_is_too_large(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    observe(tracker, e, groq_headers(900, 12000), clock)
    verdict = tracker.acquire(e, 20_000)
    assert isinstance(verdict, Verdict)
    assert verdict.kind == "too_large"


def test_reservations_stop_a_burst_from_overdrawing(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    observe(tracker, e, groq_headers(3, 12000), clock)
    results = [tracker.acquire(e, 10) for _ in range(20)]
    assert sum(isinstance(r, Ticket) for r in results) == 3


def test_a_stale_snapshot_does_not_overwrite_a_newer_one(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    slow, fast = send(tracker, e), send(tracker, e)
    new = parse_rate_limit_headers("groq", groq_headers(0, 12000), clock() + 2)
    old = parse_rate_limit_headers("groq", groq_headers(500, 12000), clock() + 1)
    tracker.release(fast, OK, new)
    tracker.release(slow, OK, old)
    assert isinstance(tracker.acquire(e, 10), Verdict)


def test_settled_usage_gives_back_overestimated_tokens(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    observe(tracker, e, groq_headers(900, 1000), clock)
    ticket = send(tracker, e, tokens=900)
    assert isinstance(tracker.acquire(e, 200), Verdict)
    tracker.release(ticket, OK, None, used_tokens=100)
    assert isinstance(tracker.acquire(e, 200), Ticket)


def test_openrouter_quota_is_shared_by_every_model(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    a, b = entry("openrouter", "x:free"), entry("openrouter", "y:free")
    ticket = send(tracker, a)
    headers = {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int((NOW + 86400) * 1000)),
    }
    snapshot = parse_rate_limit_headers("openrouter", headers, clock())
    tracker.release(ticket, OK, snapshot)
    assert isinstance(tracker.acquire(b, 10), Verdict)


def test_proactive_off_ignores_learned_counters(clock: FakeClock) -> None:
    tracker = MemoryTracker(Policy(proactive=False), clock)
    e = entry()
    observe(tracker, e, groq_headers(0, 0), clock)
    assert isinstance(tracker.acquire(e, 10), Ticket)


@pytest.mark.parametrize(
    ("limits", "tokens", "allowed", "kind"),
    [
        ({"requests_per_minute": 3}, 10, 3, "rate_limited"),
        ({"requests_per_day": 4}, 10, 4, "quota_exhausted"),
        ({"tokens_per_minute": 100}, 30, 3, "rate_limited"),
        ({"tokens_per_day": 100}, 45, 2, "quota_exhausted"),
    ],
)
def test_manual_limits_are_enforced_before_sending(
    tracker: MemoryTracker, limits: dict[str, int], tokens: int, allowed: int, kind: str
) -> None:
    e = entry("openai-compatible", **limits)
    results = [tracker.acquire(e, tokens) for _ in range(allowed + 2)]
    assert sum(isinstance(r, Ticket) for r in results) == allowed
    verdict = results[-1]
    assert isinstance(verdict, Verdict)
    assert verdict.kind == kind
    assert verdict.free_at is not None


def test_requests_per_minute_slides(tracker: MemoryTracker, clock: FakeClock) -> None:
    e = entry("openai-compatible", requests_per_minute=2)
    for ticket in (send(tracker, e), send(tracker, e)):
        tracker.release(ticket, OK)
    assert isinstance(tracker.acquire(e, 1), Verdict)
    clock.now += 61
    assert isinstance(tracker.acquire(e, 1), Ticket)


def test_daily_limit_resets_at_utc_midnight(tracker: MemoryTracker, clock: FakeClock) -> None:
    e = entry("openai-compatible", requests_per_day=1, daily_reset="utc-midnight")
    send(tracker, e)
    verdict = tracker.acquire(e, 1)
    assert isinstance(verdict, Verdict)
    assert verdict.free_at == NOW + 86400
    clock.now = NOW + 86400
    assert isinstance(tracker.acquire(e, 1), Ticket)


def test_daily_limit_rolling_is_24_hours_after_use(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry("openai-compatible", requests_per_day=1, daily_reset="rolling")
    send(tracker, e)
    clock.now = NOW + 86400  # midnight passed, but not 24 h since the request
    assert isinstance(tracker.acquire(e, 1), Verdict)
    clock.now = NOW + 3600 + 86400 + 60
    assert isinstance(tracker.acquire(e, 1), Ticket)


def test_concurrency_limit(tracker: MemoryTracker) -> None:
    e = entry("openai-compatible", concurrent_requests=2)
    first, _ = send(tracker, e), send(tracker, e)
    verdict = tracker.acquire(e, 1)
    assert isinstance(verdict, Verdict)
    assert verdict.kind == "concurrency"
    tracker.release(first, OK)
    assert isinstance(tracker.acquire(e, 1), Ticket)


def test_settled_tokens_free_manual_token_budget(tracker: MemoryTracker) -> None:
    e = entry("openai-compatible", tokens_per_minute=1000)
    ticket = send(tracker, e, tokens=900)
    assert isinstance(tracker.acquire(e, 200), Verdict)
    tracker.release(ticket, OK, None, used_tokens=50)
    assert isinstance(tracker.acquire(e, 200), Ticket)


def test_limits_changed_at_runtime_apply_at_once(tracker: MemoryTracker) -> None:
    loose = entry("openai-compatible", requests_per_minute=10)
    for _ in range(3):
        send(tracker, loose)
    tight = entry("openai-compatible", requests_per_minute=3)
    assert isinstance(tracker.acquire(tight, 1), Verdict)


def test_preset_limits_apply_when_the_config_gives_none() -> None:
    from chain429.engine.chain import preset_limits

    limits = preset_limits(get_preset("groq"), "llama-3.3-70b-versatile")
    assert limits is not None
    assert limits.requests_per_minute == 30


def test_state_survives_export_and_restore(tracker: MemoryTracker, clock: FakeClock) -> None:
    e = entry("groq", requests_per_day=10)
    observe(tracker, e, groq_headers(100, 12000), clock)
    cooled = entry("groq", "m2")
    tracker.release(
        send(tracker, cooled), Outcome(OutcomeKind.RATE_LIMITED, 429, "429", retry_at=clock() + 600)
    )
    rows = tracker.export()
    fresh = MemoryTracker(Policy(), clock)
    fresh.restore(rows)
    assert fresh.blocked(cooled) is not None
    assert fresh.report_now(e).manual["requests_per_day"].used == 1
    assert fresh.report_now(e).learned["requests/day"].remaining == 100


def test_a_refused_request_gives_its_reservation_back(tracker: MemoryTracker) -> None:
    e = entry("openai-compatible", requests_per_day=2, tokens_per_minute=1000)
    ticket = send(tracker, e, tokens=400)
    tracker.release(ticket, Outcome(OutcomeKind.CLIENT_ERROR, 400, "bad"))
    manual = tracker.report_now(e).manual
    assert manual["requests_per_day"].used == 0
    assert manual["tokens_per_minute"].used == 0


def test_a_served_request_keeps_its_reservation(tracker: MemoryTracker) -> None:
    e = entry("openai-compatible", requests_per_day=2)
    tracker.release(send(tracker, e), OK)
    assert tracker.report_now(e).manual["requests_per_day"].used == 1


def test_a_429_explained_by_its_headers_holds_back_only_what_does_not_fit(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    ticket = send(tracker, e, tokens=5000)
    headers = {**groq_headers(900, 100), "retry-after": "30"}
    settled = settle(e, 429, headers, b"{}", clock(), operation=CHAT, est_tokens=5000)
    assert settled.outcome.explained
    tracker.release(ticket, settled.outcome, settled.snapshot)
    assert tracker.state(e).cooldown is None
    assert isinstance(tracker.acquire(e, 50), Ticket)
    assert isinstance(tracker.acquire(e, 5000), Verdict)


def test_a_429_its_headers_do_not_explain_cools_the_entry(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    ticket = send(tracker, e, tokens=50)
    headers = groq_headers(900, 11000)
    settled = settle(e, 429, headers, b"{}", clock(), operation=CHAT, est_tokens=50)
    assert not settled.outcome.explained
    tracker.release(ticket, settled.outcome, settled.snapshot)
    assert tracker.state(e).cooldown is not None
