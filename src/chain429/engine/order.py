"""The order a chain tries its entries in, now: the one step a routing strategy changes.

The walk asks `order` for its candidates, and so does `/v1/ratelimits` for "serves next", so
the two never disagree. Cooldowns, reservations and the wait room are the same whatever the
order; a strategy only ranks.
"""

from __future__ import annotations

from typing import Protocol

from chain429.vocabulary import Chain, Entry, Strategy, Verdict


class TrackerView(Protocol):
    """What ordering may read of the tracker: a look, reserving nothing."""

    def blocked(self, entry: Entry, est_tokens: int = 0) -> Verdict | None: ...

    def latency_ms(self, entry: Entry) -> float | None: ...


def order(chain: Chain, view: TrackerView, now: float) -> tuple[Entry, ...]:
    """The chain's entries in the order to try them."""
    if chain.strategy is Strategy.ORDERED:
        return chain.entries  # the waterfall: config order
    raise ValueError(f"unknown strategy {chain.strategy!r}")


def serves_next(chain: Chain, view: TrackerView, now: float) -> Entry | None:
    """The entry the next request would be sent to, if any has room now."""
    return next((e for e in order(chain, view, now) if view.blocked(e) is None), None)
