"""bench-day's 429 split: only the first sight of a limit nothing shows is unavoidable."""

from __future__ import annotations

import pytest
from bench.avoidable import Refusal, header_windows, split_429s, unknowable_windows

from chain429.config.schema import RateLimits
from chain429.testing import Budget
from chain429.testing.budget import DAY
from chain429.testing.dialects import Dialect

ALL = Budget(rpm=30, rpd=1000, tpm=6000, tpd=300_000)


@pytest.mark.parametrize(
    ("dialect", "budget", "shown"),
    [
        ("openai", ALL, {"RPM", "TPM"}),  # the minute windows shadow the daily ones
        ("openai", Budget(rpd=500, tpm=10_000), {"RPD", "TPM"}),
        ("groq", ALL, {"RPD", "TPM"}),
        ("cerebras", ALL, {"RPD", "TPM"}),
        ("none", ALL, set()),
    ],
)
def test_header_windows_are_those_the_dialect_shows(
    dialect: Dialect, budget: Budget, shown: set[str]
) -> None:
    assert header_windows(dialect, budget) == shown


def test_a_limit_the_proxy_has_the_same_figure_for_is_knowable() -> None:
    budget = Budget(rpm=30, rpd=1000, tpm=8000, tpd=300_000)

    matching = RateLimits(requests_per_minute=30, tokens_per_day=300_000)
    different = RateLimits(requests_per_minute=30, tokens_per_day=1_000_000)

    assert unknowable_windows("cerebras", budget, matching) == set()
    assert unknowable_windows("cerebras", budget, different) == {"TPD"}
    assert unknowable_windows("cerebras", budget, None) == {"RPM", "TPD"}
    assert unknowable_windows("none", budget, None) == {"RPM", "RPD", "TPM", "TPD"}


def test_only_the_first_429_of_an_unknowable_window_is_unavoidable() -> None:
    refusals = [
        Refusal(100.0, "openai", "RPD"),
        Refusal(101.0, "openai", "RPD"),
        Refusal(102.0, "openai", "RPM"),
        Refusal(103.0, "cerebras", "TPD"),
        Refusal(104.0, "groq", "RPD"),
    ]
    unknowable = {"openai": frozenset({"RPD"}), "cerebras": frozenset({"TPD"})}

    split = split_429s(refusals, unknowable)

    assert split.unavoidable == {"openai:RPD": 1, "cerebras:TPD": 1}
    assert split.avoidable == {"openai:RPD": 1, "openai:RPM": 1, "groq:RPD": 1}


def test_a_new_day_makes_a_daily_cap_unknown_again_and_order_is_by_time() -> None:
    refusals = [
        Refusal(DAY + 5.0, "openai", "RPD"),
        Refusal(10.0, "openai", "RPD"),
        Refusal(DAY + 1.0, "openai", "RPD"),
        Refusal(20.0, "openai", "RPD"),
    ]

    split = split_429s(refusals, {"openai": frozenset({"RPD"})})

    assert split.unavoidable == {"openai:RPD": 2}
    assert split.avoidable == {"openai:RPD": 2}


def test_a_minute_window_nothing_shows_is_found_once_per_run() -> None:
    refusals = [Refusal(t, "x", "RPM") for t in (1.0, 61.0, DAY + 1.0)]

    split = split_429s(refusals, {"x": frozenset({"RPM"})})

    assert split.unavoidable == {"x:RPM": 1}
    assert split.avoidable == {"x:RPM": 2}
