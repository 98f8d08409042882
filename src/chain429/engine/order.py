"""The order a chain tries its entries in, now: the one step a routing strategy changes.

The walk asks the `Router` for its candidates, and so does `/v1/ratelimits` for "would try
now" (with `peek=True`, which draws no randomness and advances no round robin), so the two
never disagree. Cooldowns, reservations and the wait room are the same whatever the order; a
strategy only ranks, and an entry it puts last is still tried (or skipped, with its reason).

- `ordered`: config order, untouched (the hot path: no allocation, no look at the tracker).
- `fastest`: entries with room now by their recent latency (time to first token for streams,
  total otherwise), unmeasured ones after the measured in config order. One request in
  `explore_every` goes first to an entry with no data, too little (fewer than `min_samples`
  since start-up: one slow first answer must not bury an entry), or stale data, so it gets
  measured.
- `spread`: smooth weighted round robin (as nginx does) over the entries with room, each
  weighted by the requests it has left, so daily free tiers drain evenly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from chain429.vocabulary import Chain, Entry, Headroom, Latency, Strategy, Verdict

Random = Callable[[], float]  # uniform in [0, 1)


class TrackerView(Protocol):
    """What ordering may read of the tracker: a look, reserving nothing."""

    def blocked(self, entry: Entry, est_tokens: int = 0) -> Verdict | None: ...

    def latency(self, entry: Entry) -> Latency | None: ...

    def headroom(self, entry: Entry) -> Headroom: ...


class Router:
    """Ranks candidates per strategy; holds the round-robin state and the randomness."""

    def __init__(
        self,
        rng: Random = random.random,
        *,
        explore_every: int = 20,
        stale_s: float = 600.0,
        min_samples: int = 3,
    ) -> None:
        self._rng = rng
        self.explore_every = explore_every
        self.min_samples = min_samples
        self.stale_s = stale_s  # a latency older than this is worth measuring again
        # Smooth weighted round robin: each chain's current score per entry key.
        self._scores: dict[str, dict[str, float]] = {}

    def order(
        self, chain: Chain, view: TrackerView, now: float, *, peek: bool = False
    ) -> tuple[Entry, ...]:
        """The chain's entries in the order to try them. `peek`: look without taking a turn."""
        strategy = chain.strategy
        if strategy is Strategy.ORDERED:
            return chain.entries
        if strategy is Strategy.FASTEST:
            return self._fastest(chain, view, now, peek)
        if strategy is Strategy.SPREAD:
            return self._spread(chain, view, peek)
        raise ValueError(f"unknown strategy {strategy!r}")

    def serves_next(self, chain: Chain, view: TrackerView, now: float) -> Entry | None:
        """The entry the next request would be sent to, if any has room now."""
        return next(
            (e for e in self.order(chain, view, now, peek=True) if view.blocked(e) is None), None
        )

    # -- fastest -------------------------------------------------------------------------------

    def _fastest(
        self, chain: Chain, view: TrackerView, now: float, peek: bool
    ) -> tuple[Entry, ...]:
        ready, blocked = _partition(chain, view)
        measured: list[tuple[float, int, Entry]] = []
        unmeasured: list[Entry] = []
        explore: list[Entry] = []
        for index, entry in enumerate(ready):
            latency = view.latency(entry)
            if latency is None:
                unmeasured.append(entry)
                explore.append(entry)
                continue
            measured.append((latency.ms, index, entry))
            if now - latency.at > self.stale_s or latency.samples < self.min_samples:
                explore.append(entry)
        measured.sort(key=lambda item: (item[0], item[1]))
        ranked = [entry for _, _, entry in measured] + unmeasured
        # Exploring only makes sense when something else would go first.
        if not peek and explore and measured and self._rng() * self.explore_every < 1:
            pick = explore[min(int(self._rng() * len(explore)), len(explore) - 1)]
            ranked.remove(pick)
            ranked.insert(0, pick)
        return (*ranked, *blocked)

    # -- spread --------------------------------------------------------------------------------

    def _spread(self, chain: Chain, view: TrackerView, peek: bool) -> tuple[Entry, ...]:
        ready, blocked = _partition(chain, view)
        if len(ready) < 2:
            return (*ready, *blocked)
        weights = _weights(ready, view)
        scores = self._scores.get(chain.name)
        if scores is None or scores.keys() != {e.key for e in chain.entries}:
            scores = {e.key: 0.0 for e in chain.entries}  # new chain, or its entries changed
            if not peek:
                self._scores[chain.name] = scores
        after = {e.key: scores[e.key] + w for e, w in zip(ready, weights, strict=True)}
        pick = max(range(len(ready)), key=lambda i: (after[ready[i].key], -i))
        if not peek:
            scores.update(after)
            scores[ready[pick].key] -= sum(weights)
        rest = sorted((i for i in range(len(ready)) if i != pick), key=lambda i: (-weights[i], i))
        return (ready[pick], *(ready[i] for i in rest), *blocked)


def _partition(chain: Chain, view: TrackerView) -> tuple[list[Entry], list[Entry]]:
    """Entries that could take a request now, and the rest (still tried last, for reasons)."""
    ready: list[Entry] = []
    blocked: list[Entry] = []
    for entry in chain.entries:
        (ready if view.blocked(entry) is None else blocked).append(entry)
    return ready, blocked


def _weights(entries: list[Entry], view: TrackerView) -> list[float]:
    """Requests left per entry; an entry whose quota is unknown weighs the known ones' mean
    (1 when none is known), so two healthy unknown entries share evenly."""
    left = [_requests_left(view.headroom(e)) for e in entries]
    known = [w for w in left if w is not None]
    default = sum(known) / len(known) if known else 1.0
    weights = [default if w is None else w for w in left]
    if not any(weights):
        return [1.0] * len(entries)
    return weights


def _requests_left(headroom: Headroom) -> float | None:
    if headroom.requests is None:
        return None
    return max(0.0, min(headroom.requests, 1e12))  # an unbounded window is "plenty", not inf
