"""bench-day's comparison with the perfect replay: shortfall, its sign, and where it arose."""

from __future__ import annotations

from bench.day_report import ModeResult
from bench.day_scenario import PROVIDERS
from bench.free_tier_day import (
    ClientResult,
    ModeRun,
    TimedTracker,
    WalkRecord,
    compare_with_replay,
)

from chain429.quota.tracker import Policy
from chain429.testing import MockProvider

SPAN = 7200.0


def run_of(answers: list[ClientResult], records: list[WalkRecord]) -> ModeRun:
    mocks = {
        s.id: MockProvider(limits=s.budget, header_dialect=s.dialect, models=[s.model])
        for s in PROVIDERS
    }
    tracker = TimedTracker(Policy(), lambda: 0.0)
    return ModeRun(answers, records, mocks, [], {}, tracker, SPAN)


def answer(n: int, t: float, status: int) -> ClientResult:
    return ClientResult(n, t, t, t, 100, status)


def test_requests_the_replay_serves_and_the_proxy_fails_are_the_shortfall_with_trails() -> None:
    answers = [answer(0, 10.0, 200), answer(1, 11.0, 429), answer(2, 12.0, 0)]
    failed = WalkRecord(1, 11.0, trail="groq:headers > cerebras:call 429")
    records = [WalkRecord(0, 10.0, served_by="groq"), failed]
    result = ModeResult("on", requests=3, served=1)

    compare_with_replay(result, run_of(answers, records))

    assert (result.replay_served, result.shortfall) == (3, 2)
    assert result.replay_only == 2
    assert result.replay_only_by == {"groq": 2}
    assert result.replay_only_trails == {
        "replay=groq | groq:headers > cerebras:call 429": 1,
        "replay=groq | status 0, no walk": 1,
    }
    assert result.proxy_only == 0
    assert result.phases["morning"]["replay_served"] == 3


def test_a_proxy_that_serves_more_than_the_replay_shows_a_negative_shortfall() -> None:
    # 200 requests in one instant: the replay's budgets take 30+30+20+15+40 of them.
    answers = [answer(n, 5.0, 200) for n in range(200)]
    records = [WalkRecord(n, 5.0, served_by="nvidia") for n in range(200)]
    result = ModeResult("off", requests=200, served=200)

    compare_with_replay(result, run_of(answers, records))

    assert result.replay_served == 135
    assert result.shortfall == -65
    assert (result.replay_only, result.proxy_only) == (0, 65)
    assert result.proxy_only_by == {"nvidia": 65}


def test_the_replay_uses_the_proxy_arrival_not_the_client_schedule() -> None:
    # Scheduled together; the proxy saw the second a minute later, when groq's RPM had room.
    answers = [answer(n, 0.0, 200) for n in range(136)]
    records = [WalkRecord(n, 0.0 if n < 135 else 61.0) for n in range(136)]
    result = ModeResult("on", requests=136, served=136)

    compare_with_replay(result, run_of(answers, records))

    assert result.replay_served == 136
