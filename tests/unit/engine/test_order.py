"""The Router ranks candidates per strategy, on a fake clock and scripted randomness."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace

from chain429.config.schema import RateLimits
from chain429.engine.order import Router
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.vocabulary import Chain, Entry, Outcome, OutcomeKind, Strategy, Ticket
from tests.unit.engine.fakes import FakeClock, chain, entry

SERVED = Outcome(OutcomeKind.SUCCESS, 200, "served")


def scripted(*values: float) -> Iterator[float]:
    yield from values
    while True:
        yield 0.99  # never explore once the script is used up


def rng(*values: float) -> Callable[[], float]:
    it = scripted(*values)
    return lambda: next(it)


def serve(tracker: MemoryTracker, clock: FakeClock, e: Entry, ms: float) -> None:
    """One request to `e` that took `ms`."""
    ticket = tracker.acquire(e, 1)
    assert isinstance(ticket, Ticket)
    clock.advance(ms / 1000)
    tracker.release(ticket, SERVED)


def with_strategy(c: Chain, strategy: Strategy) -> Chain:
    return replace(c, strategy=strategy)


def test_ordered_is_config_order_and_serves_next_skips_what_cannot_take_a_request() -> None:
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    router = Router()
    a, b, c = entry("a"), entry("b"), entry("c")
    walk = chain(a, b, c)
    assert router.order(walk, tracker, clock()) is walk.entries  # the hot path: no copy
    assert router.serves_next(walk, tracker, clock()) == a
    ticket = tracker.acquire(a, 1)
    assert isinstance(ticket, Ticket)
    tracker.release(ticket, Outcome(OutcomeKind.RATE_LIMITED, 429, "429", clock() + 30))
    assert router.order(walk, tracker, clock()) == (a, b, c)  # cooling entries stay in place
    assert router.serves_next(walk, tracker, clock()) == b
    clock.advance(31)
    assert router.serves_next(walk, tracker, clock()) == a


def test_fastest_ranks_measured_entries_by_latency_and_unmeasured_after() -> None:
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    router = Router(rng(), explore_every=20)
    slow, fast, new = entry("slow"), entry("fast"), entry("new")
    walk = with_strategy(chain(slow, new, fast), Strategy.FASTEST)
    assert router.order(walk, tracker, clock()) == (slow, new, fast)  # nothing known: config
    serve(tracker, clock, slow, 300)
    serve(tracker, clock, fast, 20)
    assert router.order(walk, tracker, clock()) == (fast, slow, new)


def test_fastest_explores_an_unmeasured_entry_one_time_in_twenty() -> None:
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    slow, new = entry("slow"), entry("new")
    walk = with_strategy(chain(slow, new), Strategy.FASTEST)
    serve(tracker, clock, slow, 300)
    # 0.04 * 20 < 1: explore (the second draw picks among the candidates); 0.06 * 20 >= 1: not.
    router = Router(rng(0.06, 0.04, 0.0), explore_every=20, min_samples=1)
    assert router.order(walk, tracker, clock())[0] == slow
    assert router.order(walk, tracker, clock())[0] == new
    assert router.order(walk, tracker, clock())[0] == slow


def test_fastest_explores_stale_entries_and_peek_never_explores() -> None:
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    slow, fast = entry("slow"), entry("fast")
    walk = with_strategy(chain(slow, fast), Strategy.FASTEST)
    serve(tracker, clock, slow, 300)
    serve(tracker, clock, fast, 20)
    router = Router(rng(0.0, 0.0, 0.0, 0.0), explore_every=20, stale_s=600, min_samples=1)
    # Both fresh: nothing to explore, whatever the dice say.
    assert router.order(walk, tracker, clock())[0] == fast
    clock.advance(601)
    serve(tracker, clock, fast, 20)  # fast is fresh again, slow is stale
    assert router.order(walk, tracker, clock(), peek=True)[0] == fast
    assert router.order(walk, tracker, clock())[0] == slow  # explored


def test_fastest_explores_an_entry_measured_fewer_than_min_samples_times() -> None:
    """One slow first answer (a hiccup) does not bury an entry until its data goes stale."""
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    a, b = entry("a"), entry("b")
    walk = with_strategy(chain(a, b), Strategy.FASTEST)
    serve(tracker, clock, a, 30)
    serve(tracker, clock, b, 500)  # b's first answer was slow
    for _ in range(3):
        serve(tracker, clock, a, 30)
    router = Router(rng(0.0, 0.0), explore_every=20, min_samples=3)
    assert router.order(walk, tracker, clock())[0] == b  # explored: one sample only
    serve(tracker, clock, b, 5)
    serve(tracker, clock, b, 5)
    assert router.order(walk, tracker, clock(), peek=True)[0] == a  # EWMA still above a's
    for _ in range(10):
        serve(tracker, clock, b, 5)
    assert router.order(walk, tracker, clock())[0] == b  # measured: now the fastest


def test_fastest_puts_entries_without_room_last() -> None:
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    slow, fast = entry("slow"), entry("fast")
    walk = with_strategy(chain(slow, fast), Strategy.FASTEST)
    serve(tracker, clock, slow, 300)
    serve(tracker, clock, fast, 20)
    ticket = tracker.acquire(fast, 1)
    assert isinstance(ticket, Ticket)
    tracker.release(ticket, Outcome(OutcomeKind.RATE_LIMITED, 429, "429", clock() + 30))
    router = Router(rng())
    assert router.order(walk, tracker, clock()) == (slow, fast)
    assert router.serves_next(walk, tracker, clock()) == slow


def test_spread_alternates_between_two_entries_with_unknown_quota() -> None:
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    a, b = entry("a"), entry("b")
    walk = with_strategy(chain(a, b), Strategy.SPREAD)
    router = Router()
    firsts = [router.order(walk, tracker, clock())[0].provider for _ in range(10)]
    assert firsts == ["a", "b"] * 5
    assert router.order(walk, tracker, clock()) == (a, b)  # the rest follow as fallbacks


def test_spread_weights_by_remaining_quota() -> None:
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    a = entry("a", limits=RateLimits(requests_per_day=90))
    b = entry("b", limits=RateLimits(requests_per_day=10))
    walk = with_strategy(chain(a, b), Strategy.SPREAD)
    router = Router()
    served: Counter[str] = Counter()
    for _ in range(50):
        first = router.order(walk, tracker, clock())[0]
        serve(tracker, clock, first, 1)
        served[first.provider] += 1
    assert 42 <= served["a"] <= 48, served  # about nine in ten
    assert served["a"] + served["b"] == 50
    assert tracker.headroom(a).requests == 90 - served["a"]


def test_spread_peek_takes_no_turn() -> None:
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    a, b = entry("a"), entry("b")
    walk = with_strategy(chain(a, b), Strategy.SPREAD)
    router = Router()
    for _ in range(5):
        assert router.serves_next(walk, tracker, clock()) == a
    assert router.order(walk, tracker, clock())[0] == a
    assert router.serves_next(walk, tracker, clock()) == b


def test_headroom_reads_the_longest_window_learned_or_configured() -> None:
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    a = entry("a", limits=RateLimits(requests_per_minute=30, requests_per_day=100))
    assert tracker.headroom(a).requests == 100
    assert tracker.headroom(a).tokens is None
    serve(tracker, clock, a, 1)
    assert tracker.headroom(a).requests == 99
    assert tracker.headroom(entry("b")).requests is None
