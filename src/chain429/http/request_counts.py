"""The request tallies /health shows, kept by subscribing to `RequestFinished` events."""

from __future__ import annotations

from chain429.events import RequestFinished
from chain429.vocabulary import RequestOutcome

# The walk ended without a server.
FAILED = frozenset({RequestOutcome.EXHAUSTED, RequestOutcome.UPSTREAM_REJECTED})


class RequestCounts:
    """The /health tallies, kept by subscribing to `RequestFinished`.

    `requests` counts requests that resolved a chain; `served` those an entry served (a stream
    that broke after it started included); `failed` those whose walk found no entry.
    """

    __slots__ = ("failed", "requests", "served")

    def __init__(self) -> None:
        self.requests = self.served = self.failed = 0

    def on_finished(self, event: RequestFinished) -> None:
        if event.chain is None:
            return
        self.requests += 1
        if event.record.provider is not None:
            self.served += 1
        elif event.record.outcome in FAILED:
            self.failed += 1

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "served": self.served, "failed": self.failed}
