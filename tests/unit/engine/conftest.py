"""Fixtures shared by the engine's unit tests: a fake clock, a fake upstream, a tracker."""

from __future__ import annotations

import pytest

from chain429.quota.tracker import MemoryTracker, Policy
from tests.unit.engine.fakes import FakeClock, FakeUpstream


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
def tracker(clock: FakeClock) -> MemoryTracker:
    return MemoryTracker(Policy(breaker_threshold=3), clock)
