"""The line of a spent daily bucket no header shows: points from 429s, the rate between them."""

from __future__ import annotations

import pytest

from chain429.quota.drained import DAY_S, DrainedBucket

T0 = 1_000_000.0


def first_refusal(
    size: float = 300, wait: float = 100, ceiling: float | None = None
) -> DrainedBucket:
    return DrainedBucket.learn("tokens", size, T0, T0 + wait, ceiling, T0)


def test_a_first_refusal_bounds_the_rate_by_its_size_over_its_wait() -> None:
    """The bucket held at least nothing, so the refused size refilled within the stated wait."""
    bucket = first_refusal(300, 100)
    assert bucket.rate == pytest.approx(3.0)
    assert bucket.available(T0 + 100) == pytest.approx(300)  # exactly the stated point
    assert bucket.free_at(T0, 300) == pytest.approx(T0 + 100)
    assert bucket.free_at(T0, 150) == pytest.approx(T0 + 50)  # a smaller one fits sooner


def test_the_documented_figure_caps_the_first_guess() -> None:
    assert first_refusal(300, 1, ceiling=10.0).rate == pytest.approx(10.0)


def test_two_refusals_and_what_was_sent_between_give_the_rate() -> None:
    bucket = first_refusal(300, 100)  # guesses 3/s; the truth is 1/s
    bucket.reserve(300)
    bucket.settle(T0 + 100, 300, charged=True)  # sent at the first point: served
    assert bucket.available(T0 + 100) == pytest.approx(0)
    # At 3/s the line says 300 fit again at T0+200; the bucket says 200 s more (100 held).
    bucket.refused(300, T0 + 200, T0 + 400, None)
    assert bucket.rate == pytest.approx(1.0)  # (300 + 300 spent - 300) over 300 s
    assert bucket.free_at(T0 + 200, 300) == pytest.approx(T0 + 400)
    assert bucket.free_at(T0 + 200, 100) == pytest.approx(T0 + 200)  # 100 is there now


def test_three_points_learn_what_every_estimate_says_too_much() -> None:
    """Each estimate is 10 above what the upstream charges (JSON around the text): two
    unknowns, rate and offset, from points taken at two paces of requests."""
    bucket = first_refusal(300, 100)  # the bucket held 290 of the truth at T0+100
    for _ in range(2):  # 2 x 140 charged: 10 left
        bucket.settle(T0 + 100, 150, charged=True)
    bucket.refused(300, T0 + 200, T0 + 380, None)  # 110 there, 290 at 1 token/s: 180 s
    bucket.settle(T0 + 380, 300, charged=True)  # 290 charged: empty
    bucket.refused(300, T0 + 500, T0 + 670, None)  # 120 there: 170 s
    assert (bucket.rate, bucket.offset) == (pytest.approx(1.0), pytest.approx(10.0))
    for _ in range(2):
        bucket.settle(T0 + 670, 150, charged=True)  # 290 - 2 x 140: 10 left, i.e. 20 by ours
    assert bucket.available(T0 + 670) == pytest.approx(20)
    assert bucket.free_at(T0 + 670, 150) == pytest.approx(T0 + 800)


def test_what_is_in_flight_holds_its_share() -> None:
    bucket = first_refusal(300, 100)
    bucket.reserve(200)
    assert bucket.available(T0 + 100) == pytest.approx(100)
    bucket.settle(T0 + 50, 200, charged=False)  # refused elsewhere: nothing spent
    assert bucket.available(T0 + 100) == pytest.approx(300)


def test_a_request_the_upstream_counted_before_a_refusal_is_in_that_refusals_level() -> None:
    """Sent before the refusal was judged, settled after it: the stated wait already counts it."""
    bucket = first_refusal(300, 100)
    bucket.settle(T0 - 1, 500, charged=True)
    assert bucket.available(T0 + 100) == pytest.approx(300)


def test_evidence_that_nothing_refilled_keeps_the_rate() -> None:
    bucket = first_refusal(300, 100)
    bucket.refused(300, T0 + 101, T0 + 201, None)
    assert bucket.rate == pytest.approx(3.0)  # the tracker's cooldown escalation takes over
    assert bucket.free_at(T0 + 101, 300) == pytest.approx(T0 + 201)


def test_a_refusal_far_below_the_line_starts_a_new_one() -> None:
    """The bucket filled up in a quiet spell and was spent again: the old points say nothing."""
    bucket = first_refusal(300, 100)
    bucket.refused(300, T0 + 10_000, T0 + 10_300, None)
    assert [p.at for p in bucket.points] == [T0 + 10_300]
    assert bucket.rate == pytest.approx(1.0)  # bounded by this refusal's size over its wait


def test_a_quiet_day_ends_the_line() -> None:
    bucket = first_refusal(300, 100)
    assert not bucket.expired(T0 + 100 + DAY_S - 1)
    assert bucket.expired(T0 + 100 + DAY_S)


def test_the_line_survives_a_dump_without_what_was_in_flight() -> None:
    bucket = first_refusal(300, 100)
    bucket.reserve(50)
    bucket.refused(300, T0 + 200, T0 + 400, None)
    loaded = DrainedBucket.load(bucket.dump())
    assert loaded.reserved == 0
    assert loaded.points == bucket.points
    assert (loaded.rate, loaded.offset, loaded.spent) == (bucket.rate, bucket.offset, bucket.spent)
