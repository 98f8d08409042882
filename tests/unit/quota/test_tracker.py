"""The tracker's cooldown, breaker and reservation rules, on an injected clock."""

from __future__ import annotations

import pytest

from chain429.providers.presets import get_preset
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.vocabulary import Entry, Outcome, OutcomeKind, Ticket, Verdict
from tests.unit.engine.fakes import FakeClock


def entry(provider: str = "groq", model: str = "m1", disabled: str | None = None) -> Entry:
    return Entry(provider, model, get_preset("groq"), "http://x", {}, 5.0, None, disabled)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000_000.0)


@pytest.fixture
def tracker(clock: FakeClock) -> MemoryTracker:
    return MemoryTracker(
        Policy(
            cooldown_default_s=60, cooldown_max_s=3600, breaker_threshold=3, breaker_cooldown_s=30
        ),
        clock,
    )


def take(tracker: MemoryTracker, e: Entry) -> Ticket:
    ticket = tracker.acquire(e, 10)
    assert isinstance(ticket, Ticket), ticket
    return ticket


def out(kind: OutcomeKind, retry_at: float | None = None, status: int | None = None) -> Outcome:
    return Outcome(kind, status, f"{kind.value}", retry_at=retry_at)


def test_rate_limit_cools_until_the_hint_then_recovers(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    tracker.release(take(tracker, e), out(OutcomeKind.RATE_LIMITED, clock.now + 42, 429))
    verdict = tracker.acquire(e, 10)
    assert isinstance(verdict, Verdict)
    assert verdict.kind == "rate_limited"
    assert verdict.free_at == clock.now + 42
    clock.now += 42.5
    assert isinstance(tracker.acquire(e, 10), Ticket)


def test_rate_limit_without_hint_uses_the_default(tracker: MemoryTracker, clock: FakeClock) -> None:
    e = entry()
    tracker.release(take(tracker, e), out(OutcomeKind.RATE_LIMITED))
    blocked = tracker.blocked(e)
    assert blocked is not None and blocked.free_at == clock.now + 60


def test_cooldowns_are_capped(tracker: MemoryTracker, clock: FakeClock) -> None:
    e = entry()
    tracker.release(take(tracker, e), out(OutcomeKind.RATE_LIMITED, clock.now + 10 * 86400))
    blocked = tracker.blocked(e)
    assert blocked is not None and blocked.free_at == clock.now + 3600


def test_quota_exhausted_without_hint_is_a_long_cooldown(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    tracker.release(take(tracker, e), out(OutcomeKind.QUOTA_EXHAUSTED, status=402))
    blocked = tracker.blocked(e)
    assert blocked is not None and blocked.free_at == clock.now + 3600
    assert blocked.kind == "quota_exhausted"


def test_auth_failure_cools_every_entry_of_the_provider(tracker: MemoryTracker) -> None:
    a1, a2, b1 = entry("a", "m1"), entry("a", "m2"), entry("b", "m1")
    tracker.release(take(tracker, a1), out(OutcomeKind.AUTH_FAILED, status=401))
    assert tracker.blocked(a2) is not None
    assert tracker.blocked(a2).kind == "auth_failed"  # type: ignore[union-attr]
    assert tracker.blocked(b1) is None


def test_model_not_found_cools_only_that_entry_for_an_hour(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    a1, a2 = entry("a", "m1"), entry("a", "m2")
    tracker.release(take(tracker, a1), out(OutcomeKind.MODEL_NOT_FOUND, status=404))
    blocked = tracker.blocked(a1)
    assert blocked is not None and blocked.free_at == clock.now + 3600
    assert tracker.blocked(a2) is None


def test_context_length_and_client_errors_leave_no_cooldown(tracker: MemoryTracker) -> None:
    e = entry()
    tracker.release(take(tracker, e), out(OutcomeKind.CONTEXT_LENGTH, status=400))
    tracker.release(take(tracker, e), out(OutcomeKind.CLIENT_ERROR, status=400))
    assert tracker.blocked(e) is None


def test_breaker_opens_after_threshold_then_half_opens_for_one_probe(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    for _ in range(2):
        tracker.release(take(tracker, e), out(OutcomeKind.UPSTREAM_ERROR, status=500))
        assert tracker.blocked(e) is None
    tracker.release(take(tracker, e), out(OutcomeKind.TIMEOUT))
    blocked = tracker.blocked(e)
    assert blocked is not None and blocked.kind == "breaker"
    clock.now += 31
    probe = take(tracker, e)
    assert probe.probe
    second = tracker.acquire(e, 10)
    assert isinstance(second, Verdict) and "probe" in second.reason
    tracker.release(probe, out(OutcomeKind.SUCCESS, status=200))
    assert tracker.blocked(e) is None
    assert tracker.state(e).cooldown is None


def test_failed_probe_reopens_the_breaker_for_longer(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    for _ in range(3):
        tracker.release(take(tracker, e), out(OutcomeKind.UPSTREAM_ERROR, status=503))
    clock.now += 31
    tracker.release(take(tracker, e), out(OutcomeKind.UPSTREAM_ERROR, status=503))
    blocked = tracker.blocked(e)
    assert blocked is not None and blocked.kind == "breaker"
    assert blocked.free_at == clock.now + 60  # 30 s doubled


def test_a_slow_success_does_not_clear_a_newer_cooldown(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    slow = take(tracker, e)
    clock.now += 1
    fast = take(tracker, e)
    tracker.release(fast, out(OutcomeKind.RATE_LIMITED, clock.now + 50, 429))
    clock.now += 5
    tracker.release(slow, out(OutcomeKind.SUCCESS, status=200))
    assert tracker.blocked(e) is not None


def test_a_shorter_cooldown_does_not_shorten_a_longer_one(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    first, second = take(tracker, e), take(tracker, e)
    tracker.release(first, out(OutcomeKind.RATE_LIMITED, clock.now + 300, 429))
    tracker.release(second, out(OutcomeKind.RATE_LIMITED, clock.now + 5, 429))
    blocked = tracker.blocked(e)
    assert blocked is not None and blocked.free_at == clock.now + 300


def test_in_flight_is_counted_and_cancel_gives_it_back(tracker: MemoryTracker) -> None:
    e = entry()
    t1, t2 = take(tracker, e), take(tracker, e)
    assert tracker.state(e).in_flight == 2
    tracker.give_back(t1)
    tracker.release(t2, out(OutcomeKind.SUCCESS, status=200))
    tracker.release(t2, out(OutcomeKind.RATE_LIMITED))  # a second settle is ignored
    assert tracker.state(e).in_flight == 0
    assert tracker.blocked(e) is None


def test_disabled_provider_is_skipped(tracker: MemoryTracker) -> None:
    verdict = tracker.acquire(entry(disabled="GROQ_API_KEY is not set"), 10)
    assert isinstance(verdict, Verdict) and "GROQ_API_KEY" in verdict.reason


def test_failures_in_flight_when_the_breaker_opens_do_not_escalate_it(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    tracker.configure(Policy(cooldown_default_s=60, cooldown_max_s=3600, cold_in_flight=0))
    in_flight = [take(tracker, e) for _ in range(10)]
    for ticket in in_flight:
        tracker.release(ticket, out(OutcomeKind.CONNECTION_ERROR))
    blocked = tracker.blocked(e)
    assert blocked is not None and blocked.kind == "breaker"
    assert blocked.free_at == clock.now + 30  # opened once, not doubled seven times


def test_client_named_entries_are_bounded_least_recently_used_first(clock: FakeClock) -> None:
    """20,000 invented `provider/<model>` ids must not grow state (or the state file) for ever."""
    tracker = MemoryTracker(Policy(ad_hoc_entries=100), clock)
    configured = entry("groq", "configured")
    tracker.release(tracker_ticket(tracker, configured), Outcome(OutcomeKind.SUCCESS, 200, "ok"))
    busy = ad_hoc("busy")  # the oldest, but in flight
    held = tracker_ticket(tracker, busy)  # in flight: never forgotten under it
    for n in range(20_000):
        e = ad_hoc(f"m{n}")
        tracker.release(tracker_ticket(tracker, e), Outcome(OutcomeKind.RATE_LIMITED, 429, "x"))
    rows = tracker.export(set(tracker.dirty))
    kept = [key for key, row in rows.items() if row and key.startswith("entry:")]
    assert len(kept) <= 100
    assert tracker.blocked(ad_hoc("m19999")) is not None  # the newest still cools
    assert tracker.blocked(ad_hoc("m0")) is None  # the oldest was forgotten first
    assert tracker.state(busy).in_flight == 1
    assert rows["entry:groq/m0"] == {}  # its row is deleted at the next write
    tracker.release(held, Outcome(OutcomeKind.SUCCESS, 200, "ok"))


def ad_hoc(model: str) -> Entry:
    return Entry("groq", model, get_preset("groq"), "http://x", {}, 5.0, ad_hoc=True)


def tracker_ticket(tracker: MemoryTracker, e: Entry) -> Ticket:
    ticket = tracker.acquire(e, 1)
    assert isinstance(ticket, Ticket)
    return ticket


async def test_the_async_interface_reserves_settles_and_reports(
    tracker: MemoryTracker, clock: FakeClock
) -> None:
    e = entry()
    ticket = await tracker.reserve(e, 10)
    assert isinstance(ticket, Ticket)
    assert (await tracker.report(e)).in_flight == 1
    await tracker.settle(ticket, Outcome(OutcomeKind.RATE_LIMITED, 429, "429", clock.now + 30))
    report = await tracker.report(e)
    assert (report.in_flight, report.state, report.cooldown_left_s) == (0, "cooling", 30.0)
    again = await tracker.reserve(e, 10)
    assert isinstance(again, Verdict)
    clock.now += 31
    third = await tracker.reserve(e, 10)
    assert isinstance(third, Ticket)
    await tracker.cancel(third)
    assert (await tracker.report(e)).in_flight == 0


def test_configure_swaps_the_policy_and_keeps_state(tracker: MemoryTracker) -> None:
    e = entry()
    tracker.release(tracker_ticket(tracker, e), Outcome(OutcomeKind.RATE_LIMITED, 429, "429"))
    tracker.configure(Policy(cooldown_default_s=5))
    assert tracker.policy.cooldown_default_s == 5
    assert tracker.blocked(e) is not None


def test_latency_survives_a_restart(tracker: MemoryTracker, clock: FakeClock) -> None:
    e = entry()
    ticket = tracker_ticket(tracker, e)
    clock.now += 0.25
    tracker.release(ticket, Outcome(OutcomeKind.SUCCESS, 200, "ok"))
    fresh = MemoryTracker(Policy(), clock)
    fresh.restore(tracker.export())
    assert fresh.latency_ms(e) == pytest.approx(250)


def test_until_its_first_answer_only_a_few_requests_go_to_an_entry(tracker: MemoryTracker) -> None:
    """A cold burst of 50 against 3 left would otherwise spend 47 round trips on 429s."""
    e = entry()
    tickets = [tracker.acquire(e, 1) for _ in range(6)]
    assert [isinstance(t, Ticket) for t in tickets] == [True] * 4 + [False] * 2
    learning = tickets[4]
    assert isinstance(learning, Verdict) and learning.kind == "learning"
    first = tickets[0]
    assert isinstance(first, Ticket)
    tracker.release(first, Outcome(OutcomeKind.SUCCESS, 200, "ok"))
    assert all(isinstance(tracker.acquire(e, 1), Ticket) for _ in range(10))  # taught: no cap
