"""`order` picks the candidates' order; `serves_next` is what /v1/ratelimits shows from it."""

from __future__ import annotations

from chain429.engine.order import order, serves_next
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.vocabulary import Outcome, OutcomeKind, Ticket
from tests.unit.engine.fakes import FakeClock, chain, entry


def test_ordered_is_config_order_and_serves_next_skips_what_cannot_take_a_request() -> None:
    clock = FakeClock()
    tracker = MemoryTracker(Policy(), clock)
    a, b, c = entry("a"), entry("b"), entry("c")
    walk = chain(a, b, c)
    assert order(walk, tracker, clock()) == (a, b, c)
    assert serves_next(walk, tracker, clock()) == a
    ticket = tracker.acquire(a, 1)
    assert isinstance(ticket, Ticket)
    tracker.release(ticket, Outcome(OutcomeKind.RATE_LIMITED, 429, "429", clock() + 30))
    assert order(walk, tracker, clock()) == (a, b, c)  # cooling entries stay in place
    assert serves_next(walk, tracker, clock()) == b
    clock.advance(31)
    assert serves_next(walk, tracker, clock()) == a
