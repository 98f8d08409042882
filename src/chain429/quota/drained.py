"""A spent daily bucket that no header shows, paced by the refill rate its own 429s teach.

Cerebras' tokens-per-day bucket refills steadily, but nothing shows its level: only a 429 says
it is spent ("Tokens per day limit exceeded"), with a `retry-after` that says when *that*
request fits again. Each such refusal is an exact point on the bucket's line: at `fits_at` it
holds the refused request's size, after whatever we had sent by then. Points, and what we sent
between them, give the refill rate; from the newest point, the rate and what we sent since, the
tracker paces the next request instead of sending it into another 429.

Sizes are our estimates (prompt + max_tokens, as such providers charge up front), and an
estimate is off by about the same few tokens on every request (JSON around the text, a
tokenizer's overhead). So the line has two unknowns: the refill rate and that per-request
offset; with three points or more, a least-squares fit over them learns both (until then, the
offset is taken as 0, and the rate absorbs it at the current pace of requests).

The model holds while the bucket stays below full, which is what "drained" means: it is
dropped after a quiet day (any daily bucket is full again by then) or when a header starts
showing the counter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

CounterKind = Literal["requests", "tokens"]

DAY_S = 86_400.0
# A refusal this many request sizes below what the line predicted means the line broke (the
# bucket filled up in a quiet spell, or someone else spends from it): start a new line.
_BROKEN = 2.0
# The points a fit uses, newest last: enough to average out retry-after's whole seconds.
_POINTS = 12
# Two unknowns need requests sent at two different paces; nearer than this to one pace, the
# fit learns the rate alone.
_COLLINEAR = 1e-6


@dataclass(slots=True)
class Point:
    """One refusal's lesson: the bucket held `level` at `at`, once our `spent` and `sends`
    (running totals) were in."""

    at: float
    level: float
    spent: float
    sends: int
    judged_at: float  # when the refused request was sent: sends before it are in `level`


@dataclass(slots=True)
class DrainedBucket:
    """The learned line of one spent daily bucket (per quota: one provider+model)."""

    kind: CounterKind
    rate: float  # refill per second: fitted, or an upper bound after a single refusal
    since: float  # when the model began: reservations from then on are counted here
    points: list[Point] = field(default_factory=list)  # oldest first, never empty
    offset: float = 0.0  # what each of our estimates says beyond what the upstream charges
    spent: float = 0.0  # what we sent that the upstream charged, running total
    sends: int = 0  # how many requests that was
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
        bucket = cls(kind, _capped(size / max(fits_at - judged_at, 1.0), ceiling), now)
        bucket.points.append(Point(fits_at, size, 0.0, 0, judged_at))
        return bucket

    @property
    def last(self) -> Point:
        return self.points[-1]

    def cost(self, est_tokens: int) -> float:
        return 1.0 if self.kind == "requests" else float(est_tokens)

    def available(self, now: float) -> float:
        """What the bucket holds now by the line, minus what is in flight."""
        last = self.last
        charged = self.spent - last.spent - self.offset * (self.sends - last.sends)
        return last.level + self.rate * (now - last.at) - charged - self.reserved

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
        self.sends += 1
        # The upstream counted it before judging these refusals: their level includes it.
        for point in self.points:
            if started_at <= point.judged_at:
                point.spent += cost
                point.sends += 1

    def refused(self, size: float, judged_at: float, fits_at: float, ceiling: float | None) -> None:
        """Another refusal: a new point on the line, and a new fit through the points."""
        point = Point(fits_at, size, self.spent, self.sends, judged_at)
        predicted = self.available(judged_at) + self.reserved  # ours in flight are not in it
        if predicted - size > _BROKEN * size:
            # Far more was predicted than there was: the line broke. Start again from here,
            # keeping the rate (the bucket's refill did not change because it filled up).
            self.rate = min(self.rate, size / max(fits_at - judged_at, 1.0))
            self.points = [point]
            return
        self.points = [*self.points[-(_POINTS - 1) :], point]
        fitted = _fit(self.points)
        if fitted is not None:
            rate, offset = fitted
            self.rate, self.offset = _capped(rate, ceiling), offset
        # Else nothing refilled by our count (someone else spends): the rate stays, and the
        # tracker's cooldown escalates on refusals in a row.

    def dump(self) -> dict[str, Any]:
        row = asdict(self)
        del row["reserved"]  # nothing is in flight after a restart
        return row

    @classmethod
    def load(cls, data: dict[str, Any]) -> DrainedBucket:
        fields = {k: v for k, v in data.items() if k != "points"}
        return cls(points=[Point(**p) for p in data["points"]], **fields)


def _fit(points: list[Point]) -> tuple[float, float] | None:
    """Rate and per-request offset through `points`, by least squares from the oldest: between
    two points the bucket refilled rate * time = level change + what we sent - offset * sends.
    None when the points show nothing refilled."""
    origin = points[0]
    rows = [
        (p.at - origin.at, p.sends - origin.sends, p.level - origin.level + p.spent - origin.spent)
        for p in points[1:]
        if p.at > origin.at
    ]
    if not rows:
        return None
    stt = sum(t * t for t, _, _ in rows)
    snn = sum(n * n for _, n, _ in rows)
    stn = sum(t * n for t, n, _ in rows)
    sty = sum(t * y for t, _, y in rows)
    sny = sum(n * y for _, n, y in rows)
    det = stt * snn - stn * stn
    if len(rows) >= 2 and det > _COLLINEAR * stt * snn:
        rate = (sty * snn - sny * stn) / det
        offset = (stt * sny - stn * sty) / det
        smallest = min(p.level for p in points)
        if rate > 0 and abs(offset) <= smallest / 2:
            return rate, offset
    # One pace only (or a fit that makes no sense): the rate alone, the offset inside it.
    rate = sty / stt
    return (rate, 0.0) if rate > 0 else None


def _capped(rate: float, ceiling: float | None) -> float:
    return rate if ceiling is None else min(rate, ceiling)
