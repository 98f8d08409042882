"""A spent daily bucket that no header shows, paced by the refill rate its own 429s teach.

Cerebras' tokens-per-day bucket refills steadily, but nothing shows its level: only a 429 says
it is spent ("Tokens per day limit exceeded"), with a `retry-after` that says when *that*
request fits again. Each such refusal is an exact point on the bucket's line: at `fits_at` it
holds the refused request's size, after whatever we had sent by then. Two points, and what we
sent between them, give the refill rate; from the last point, the rate and what we sent since,
the tracker paces the next request instead of sending it into another 429.

The model holds while the bucket stays below full, which is what "drained" means: it is
dropped after a quiet day (any daily bucket is full again by then) or when a header starts
showing the counter. Sizes are counted as the request was reserved (prompt + max_tokens): that
is what such providers charge up front, and the learned rate absorbs any steady difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

CounterKind = Literal["requests", "tokens"]

DAY_S = 86_400.0
# A refusal this many request sizes below what the model predicted means the line broke (the
# bucket filled up in a quiet spell, or someone else spends from it): start a new line.
_BROKEN = 2.0
# Two points closer than this say little about the rate (retry-after has whole seconds).
_MIN_BASELINE_S = 10.0


@dataclass(slots=True)
class Anchor:
    """One refusal's lesson: the bucket held `level` at `at`, once `spent` of ours was in."""

    at: float
    level: float
    spent: float  # the bucket's `spent` counter as the upstream judged the refusal
    judged_at: float  # when the refused request was sent (sends before it are in `level`)


@dataclass(slots=True)
class DrainedBucket:
    """The learned line of one spent daily bucket (per quota: one provider+model)."""

    kind: CounterKind
    rate: float  # refill per second: measured, or an upper bound until two refusals
    first: Anchor  # the line's first point: the longest baseline for the rate
    last: Anchor  # the newest point, where pacing starts from
    since: float  # when the model began: reservations from then on are counted here
    spent: float = 0.0  # what the upstream charged us since the first point
    reserved: float = 0.0  # sent since `since`, not settled yet

    @classmethod
    def learn(
        cls,
        kind: CounterKind,
        size: float,
        judged_at: float,
        fits_at: float,
        ceiling: float | None,
        now: float,
    ) -> DrainedBucket:
        """The model a first refusal starts. The bucket held at least nothing when it refused,
        so `size` refilled within the stated wait: the rate is at most `size / wait` (and at
        most the documented figure, `ceiling` per second, when there is one)."""
        rate = size / max(fits_at - judged_at, 1.0)
        if ceiling is not None:
            rate = min(rate, ceiling)
        anchor = Anchor(fits_at, size, 0.0, judged_at)
        return cls(kind, rate, anchor, Anchor(**asdict(anchor)), now)

    def cost(self, est_tokens: int) -> float:
        return 1.0 if self.kind == "requests" else float(est_tokens)

    def available(self, now: float) -> float:
        """What the bucket holds now by the line, minus what is in flight."""
        last = self.last
        return last.level + self.rate * (now - last.at) - (self.spent - last.spent) - self.reserved

    def free_at(self, now: float, need: float) -> float:
        """When `need` fits by the line."""
        return now + max(0.0, need - self.available(now)) / self.rate

    def expired(self, now: float) -> bool:
        """A quiet day refills any daily bucket: the line no longer says anything."""
        return now - self.last.at >= DAY_S

    def reserve(self, cost: float) -> None:
        self.reserved += cost

    def settle(self, started_at: float, cost: float, *, charged: bool) -> None:
        """A request sent while the model held has ended; `charged`: the upstream counted it."""
        if started_at >= self.since:
            self.reserved = max(0.0, self.reserved - cost)
        if not charged:
            return
        self.spent += cost
        # The upstream counted it before judging these refusals: their level includes it.
        for anchor in (self.first, self.last):
            if started_at <= anchor.judged_at:
                anchor.spent += cost

    def refused(self, size: float, judged_at: float, fits_at: float, ceiling: float | None) -> None:
        """Another refusal: a new point on the line, and from the first point, the rate."""
        point = Anchor(fits_at, size, self.spent, judged_at)
        predicted = self.available(judged_at) + self.reserved  # ours in flight are not in it
        if predicted - size > _BROKEN * size:
            # Far more was predicted than there was: the line broke. Start again from here,
            # keeping the rate (the bucket's refill did not change because it filled up).
            upper = size / max(fits_at - judged_at, 1.0)
            self.rate = min(self.rate, upper)
            self.first, self.last = point, Anchor(**asdict(point))
            return
        self.last = point
        baseline = point.at - self.first.at
        if baseline < _MIN_BASELINE_S:
            return
        refilled = point.level - self.first.level + point.spent - self.first.spent
        if refilled <= 0:
            return  # nothing refilled by our count: someone else spends; the cooldown escalates
        rate = refilled / baseline
        self.rate = rate if ceiling is None else min(rate, ceiling)

    def dump(self) -> dict[str, Any]:
        row = asdict(self)
        del row["reserved"]  # nothing is in flight after a restart
        return row

    @classmethod
    def load(cls, data: dict[str, Any]) -> DrainedBucket:
        fields = {k: v for k, v in data.items() if k not in ("first", "last")}
        return cls(first=Anchor(**data["first"]), last=Anchor(**data["last"]), **fields)
