"""Percentiles from latency bins give what percentiles of the raw values give."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from chain429.http.stats_shapes import binned_percentile, percentile


@pytest.mark.parametrize("p", [0.0, 0.5, 0.95, 1.0])
def test_binned_percentile_equals_the_percentile_of_the_expanded_values(p: float) -> None:
    rng = random.Random(p)
    values = [float(rng.choice([10, 20, 25, 300, 310, 4000])) for _ in range(501)]
    counts = sorted(Counter(values).items())
    assert binned_percentile(counts, p) == pytest.approx(percentile(sorted(values), p))


def test_binned_percentile_interpolates_between_bins_and_is_none_when_empty() -> None:
    assert binned_percentile([(100.0, 1), (200.0, 1)], 0.5) == 150.0
    assert binned_percentile([(100.0, 3)], 0.95) == 100.0
    assert binned_percentile([], 0.5) is None
