"""The perfect-knowledge replay of bench-day: first entry with room wins, on the mocks' budgets."""

from __future__ import annotations

import pytest
from bench.replay import Arrival, ReplayEntry, SetClock, replay

from chain429.testing import Budget, MockProvider
from chain429.testing.dialects import Dialect

T0 = 1_750_000_000.0


def arrivals(*times: float, tokens: int = 100) -> list[Arrival]:
    return [Arrival(n, T0 + t, tokens) for n, t in enumerate(times)]


def test_the_first_entry_in_chain_order_with_room_serves() -> None:
    entries = [ReplayEntry("a", Budget(rpm=2), False), ReplayEntry("b", Budget(rpm=2), False)]

    result = replay(arrivals(0, 1, 2, 3, 4), entries)

    assert result.served_by == {0: "a", 1: "a", 2: "b", 3: "b", 4: None}
    assert result.served == 4
    assert result.by_provider() == {"a": 2, "b": 2}


def test_arrivals_are_replayed_in_time_order_not_list_order() -> None:
    late_first = [Arrival(0, T0 + 5, 100), Arrival(1, T0 + 1, 100)]

    result = replay(late_first, [ReplayEntry("a", Budget(rpm=1), False)])

    assert result.served_by == {1: "a", 0: None}


def test_a_sliding_minute_frees_a_slot_only_when_it_leaves_the_window() -> None:
    entries = [ReplayEntry("a", Budget(rpm=2), buckets=False)]

    result = replay(arrivals(0, 0, 30, 59.9, 60.5), entries)

    assert [result.served_by[n] for n in range(5)] == ["a", "a", None, None, "a"]


def test_a_token_bucket_refills_continuously() -> None:
    # 2 per minute refill one every 30 s: a bucket admits at 30 s what a window refuses.
    entries = [ReplayEntry("a", Budget(rpm=2), buckets=True)]

    result = replay(arrivals(0, 0, 29, 31), entries)

    assert [result.served_by[n] for n in range(4)] == ["a", "a", None, "a"]


def test_tokens_count_against_token_windows_and_a_big_request_falls_through() -> None:
    entries = [
        ReplayEntry("small", Budget(tpm=1000), False),
        ReplayEntry("big", Budget(tpm=10_000), False),
    ]
    requests = [Arrival(0, T0, 900), Arrival(1, T0 + 1, 200), Arrival(2, T0 + 2, 100)]

    result = replay(requests, entries)

    assert result.served_by == {0: "small", 1: "big", 2: "small"}


def test_daily_caps_hold_across_the_replay() -> None:
    entries = [ReplayEntry("a", Budget(rpm=100, rpd=3), False)]

    result = replay(arrivals(*(600.0 * n for n in range(6))), entries)

    assert result.served == 3


@pytest.mark.parametrize(
    ("dialect", "buckets"), [("groq", True), ("openai", True), ("none", False)]
)
def test_an_entry_built_like_a_mock_admits_what_the_mock_admits(
    dialect: Dialect, buckets: bool
) -> None:
    budget = Budget(rpm=3, tpm=1000)
    clock = SetClock()
    mock = MockProvider(limits=budget, header_dialect=dialect, clock=clock)
    assert mock.budget is not None
    entry = ReplayEntry.like("p", mock)
    times = [0, 1, 2, 3, 21, 25, 41, 61, 62, 63]

    by_mock = []
    for t in times:  # the mock's own budget, on the same arrivals
        clock.now = T0 + t
        by_mock.append("p" if mock.budget.admit(300, 0) is None else None)
    got = replay(arrivals(*times, tokens=300), [entry]).served_by

    assert (entry.budget, entry.buckets) == (budget, buckets)
    assert [got[n] for n in range(len(times))] == by_mock


def test_an_unlimited_mock_admits_everything() -> None:
    entry = ReplayEntry.like("free", MockProvider())

    assert replay(arrivals(*[0.0] * 50), [entry]).served == 50


def test_a_concurrency_limit_is_refused_rather_than_replayed_wrongly() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        replay(arrivals(0), [ReplayEntry("a", Budget(rpm=1, concurrent=1), False)])
