"""Manual-limit counters and learned header counters."""

from __future__ import annotations

import pytest

from chain429.quota.headers import Window
from chain429.quota.learned import LearnedWindow
from chain429.quota.windows import FixedWindow, SlidingWindow, minute_window


def test_sliding_window_forgets_after_the_span() -> None:
    window = SlidingWindow(60.0, 1.0)
    window.add(100.0, 3)
    window.add(130.5, 2)
    assert window.used(130.9) == 5
    assert window.used(160.9) == 5  # the first bucket [100, 101) counts until 161
    assert window.used(161.0) == 2
    assert window.used(191.0) == 0


def test_sliding_window_free_at_is_when_enough_has_aged_out() -> None:
    window = SlidingWindow(60.0, 1.0)
    window.add(100.0, 3)
    window.add(110.0, 2)
    assert window.free_at(115.0, need=1, limit=5) == 161.0
    assert window.free_at(115.0, need=4, limit=5) == 171.0


def test_sliding_window_adjust_settles_an_estimate() -> None:
    window = SlidingWindow(60.0, 1.0)
    window.add(100.0, 500)
    window.add(105.0, 10)
    window.adjust(100.2, -450)
    assert window.used(106.0) == 60
    window.adjust(100.0, -10_000)  # never below zero
    assert window.used(106.0) == 10


def test_sliding_window_round_trips_through_dump() -> None:
    window = SlidingWindow(86_400.0, 60.0)
    window.add(1000.0, 7)
    copy = SlidingWindow(86_400.0, 60.0)
    copy.load(window.dump())
    assert copy.used(1000.0) == 7


def test_a_minute_slot_frees_a_margin_after_our_send_plus_the_minute() -> None:
    """The upstream counts a request when it arrives, after our send: a request sent at a
    bucket's very end must not free its slot at that end plus the minute."""
    window = minute_window()
    window.add(100.0499, 1)  # the end of the bucket [100.0, 100.05)
    assert window.free_at(120.0, need=1, limit=1) >= 100.0499 + 60 + 0.1
    assert window.used(160.14) == 1
    assert window.used(160.16) == 0


def test_minute_counts_kept_by_an_older_version_still_count() -> None:
    """Its buckets were a quarter second wide: each still counts until its own end."""
    window = minute_window()
    window.load({"buckets": [[400, 1], [401, 2]]})  # [100, 100.25) and [100.25, 100.5)
    assert window.used(160.3) == 3
    assert window.used(160.4) == 2
    assert window.used(160.61) == 0


def test_fixed_window_resets_at_its_boundary() -> None:
    window = FixedWindow()
    window.add(100.0, 5, boundary=200.0)
    assert window.used(199.0) == 5
    assert window.free_at(150.0, 1, 5) == 200.0
    assert window.used(200.0) == 0
    window.add(201.0, 1, boundary=300.0)
    assert window.used(250.0) == 1


def learned(
    remaining: int, limit: int | None, period: str, reset_in: float, *, continuous: bool = False
) -> LearnedWindow:
    window = Window("requests", period, limit, remaining, 1000.0 + reset_in)  # type: ignore[arg-type]
    return LearnedWindow.observe(window, 1000.0, reserved=0, continuous=continuous)


def test_learned_daily_counter_does_not_refill_before_reset() -> None:
    window = learned(0, 1000, "day", 3600)
    assert window.available(2000.0) == 0
    assert window.free_at(2000.0, 1) == 4600.0


def test_learned_counter_rolls_over_after_reset() -> None:
    window = learned(0, 1000, "day", 3600)
    assert window.available(4600.0) == 1000


def test_learned_minute_bucket_refills_pro_rata() -> None:
    window = learned(0, 60, "minute", 60, continuous=True)
    assert window.available(1030.0) == pytest.approx(30)
    assert window.free_at(1000.0, 10) == pytest.approx(1010.0)


def test_a_continuous_daily_bucket_refills_pro_rata_too() -> None:
    """Groq's RPD: "the reset moved by 86.4 s per request" at 1,000 a day."""
    window = learned(0, 1000, "day", 86_400, continuous=True)
    assert window.free_at(1000.0, 1) == pytest.approx(1086.4)


def test_a_fixed_minute_window_gives_nothing_back_before_its_reset() -> None:
    """A gateway's 10/min fixed window: re-probing it mid-window only earns 429s."""
    window = learned(0, 10, "minute", 45)
    assert window.available(1030.0) == 0
    assert window.free_at(1000.0, 1) == 1045.0
    assert window.available(1045.0) == 10


def test_reservations_are_subtracted() -> None:
    window = learned(5, 100, "day", 3600)
    window.reserved += 3
    assert window.available(1001.0) == 2
