"""Perfect-knowledge replay: what a proxy that knew every budget exactly could have served.

The free-tier bench records, for each client request, the simulated time the proxy really saw
it and the tokens the mocks charge it (prompt + max_tokens). The replay takes those arrivals in
order and gives each to the first entry, in chain order, whose budget admits it at that instant.
The budgets are fresh `BudgetTracker`s built exactly like the mock providers' own (same
`Budget`, token buckets for the same dialects), read on a clock the replay sets to each arrival.

The proxy's shortfall against it (replay served - proxy served) is the benchmark's measure of
requests lost while capacity existed. It counts capacity once, not once per failing request,
and it does not count a safety margin the proxy keeps as a loss unless a request needed it.
The replay's only advantage is knowledge: it sees the budgets, not headers or 429s. It does not
model upstream latency or concurrency limits (the bench's budgets set none), so a proxy whose
calls reach the mock a little later than it received them can come out ahead by a request or
two; a negative shortfall is shown as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chain429.testing import MockProvider
from chain429.testing.budget import Budget, BudgetTracker
from chain429.testing.mock_provider import DAILY_BUCKET_DIALECTS, TOKEN_BUCKET_DIALECTS


@dataclass(frozen=True, slots=True)
class Arrival:
    """One client request as the proxy saw it."""

    id: int
    t: float  # simulated seconds, on the mocks' clock
    tokens: int  # what a mock charges it: prompt + max_tokens


@dataclass(frozen=True, slots=True)
class ReplayEntry:
    """One chain entry: its provider and the budget its mock enforces."""

    provider: str
    budget: Budget
    buckets: bool  # per-minute limits are token buckets, as the mock's are
    daily_buckets: bool = False  # per-day limits too, as the mock's are for Groq and Cerebras

    @classmethod
    def like(cls, provider: str, mock: MockProvider) -> ReplayEntry:
        """The entry a mock enforces, by the mock's own rule for buckets vs sliding windows."""
        if mock.budget is None:
            return cls(provider, Budget(), buckets=False)
        dialect = mock.header_dialect
        return cls(
            provider,
            mock.budget.budget,
            dialect in TOKEN_BUCKET_DIALECTS,
            dialect in DAILY_BUCKET_DIALECTS,
        )


class SetClock:
    """A clock the replay moves by hand to each arrival."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(slots=True)
class Replay:
    """Which entry served each arrival (None: no budget had room for it)."""

    served_by: dict[int, str | None]

    @property
    def served(self) -> int:
        return sum(1 for provider in self.served_by.values() if provider is not None)

    def by_provider(self) -> Counter[str]:
        return Counter(p for p in self.served_by.values() if p is not None)


def replay(arrivals: Iterable[Arrival], entries: Sequence[ReplayEntry]) -> Replay:
    """Give each arrival, in time order, to the first entry whose budget admits it then."""
    clock = SetClock()
    trackers: list[tuple[str, BudgetTracker]] = []
    for entry in entries:
        if entry.budget.concurrent is not None:
            # Concurrency depends on upstream latency, which the replay does not model.
            raise ValueError(f"{entry.provider}: a concurrency limit cannot be replayed")
        tracker = BudgetTracker(
            entry.budget, clock, buckets=entry.buckets, daily_buckets=entry.daily_buckets
        )
        trackers.append((entry.provider, tracker))
    served_by: dict[int, str | None] = {}
    for arrival in sorted(arrivals, key=lambda a: (a.t, a.id)):
        clock.now = arrival.t
        served_by[arrival.id] = next(
            (provider for provider, budget in trackers if budget.admit(arrival.tokens, 0) is None),
            None,
        )
    return Replay(served_by)
