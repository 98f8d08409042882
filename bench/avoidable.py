"""Which upstream 429s a proxy could have avoided: all but its first sight of an unknowable limit.

A limit is knowable when the provider's rate-limit headers show it (the proxy reads them on
every answer) or when the proxy's own figure for it, from its config's `rate_limits` or its
preset, equals the limit the mock enforces. A 429 from a knowable limit is avoidable. A limit
nothing shows (Cerebras' tokens per day, OpenAI's requests per day in this bench) can only be
found by hitting it: the first 429 it gives in each day is unavoidable, and every later one
that day is avoidable, since the 429 said the cap was spent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chain429.config.schema import RateLimits
from chain429.testing.budget import DAY, Budget, BudgetTracker, Kind, Period
from chain429.testing.dialects import Dialect, rate_limit_headers

WINDOWS: Mapping[tuple[Kind, Period], str] = {
    ("requests", "minute"): "RPM",
    ("requests", "day"): "RPD",
    ("tokens", "minute"): "TPM",
    ("tokens", "day"): "TPD",
}
_BUDGET_FIELDS = {"RPM": "rpm", "RPD": "rpd", "TPM": "tpm", "TPD": "tpd"}
_LIMIT_FIELDS = {
    "RPM": "requests_per_minute",
    "RPD": "requests_per_day",
    "TPM": "tokens_per_minute",
    "TPD": "tokens_per_day",
}
_SENTINEL = 1_000_003  # distinct window limits, to tell which of them the headers show


def header_windows(dialect: Dialect, budget: Budget) -> frozenset[str]:
    """The windows of `budget` whose limit the mock's headers in `dialect` show."""
    sentinels = {
        name: _SENTINEL + i
        for i, name in enumerate(WINDOWS.values())
        if getattr(budget, _BUDGET_FIELDS[name]) is not None
    }
    probe = Budget(**{_BUDGET_FIELDS[name]: value for name, value in sentinels.items()})
    headers = rate_limit_headers(dialect, BudgetTracker(probe, lambda: 0.0))
    shown = {v for k, v in headers.items() if k.lower().startswith("x-ratelimit-limit-")}
    return frozenset(name for name, value in sentinels.items() if str(value) in shown)


def unknowable_windows(
    dialect: Dialect, budget: Budget, limits: RateLimits | None
) -> frozenset[str]:
    """The windows of `budget` that neither the headers show nor the proxy's limits match."""
    shown = header_windows(dialect, budget)
    out = set()
    for name in WINDOWS.values():
        enforced = getattr(budget, _BUDGET_FIELDS[name])
        if enforced is None or name in shown:
            continue
        if limits is not None and getattr(limits, _LIMIT_FIELDS[name]) == enforced:
            continue
        out.add(name)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Refusal:
    """One upstream 429: when (simulated seconds since the start), who, and which window."""

    t: float
    provider: str
    window: str  # RPM, RPD, TPM, TPD (or another rejection kind, always avoidable)


@dataclass(slots=True)
class Split:
    """Upstream 429s by "provider:window", avoidable and unavoidable."""

    avoidable: Counter[str] = field(default_factory=Counter)
    unavoidable: Counter[str] = field(default_factory=Counter)


def split_429s(refusals: Iterable[Refusal], unknowable: Mapping[str, frozenset[str]]) -> Split:
    """The first 429 of each unknowable (provider, window) per day is unavoidable, the rest not.

    Days count from the start of the run. A per-minute window nothing shows (none in this
    bench) gets one unavoidable 429 for the whole run: after it, the proxy has seen it bind.
    """
    split = Split()
    seen: set[tuple[str, str, int]] = set()
    for refusal in sorted(refusals, key=lambda r: r.t):
        name = f"{refusal.provider}:{refusal.window}"
        day = int(refusal.t // DAY) if refusal.window in ("RPD", "TPD") else 0
        key = (refusal.provider, refusal.window, day)
        if refusal.window in unknowable.get(refusal.provider, frozenset()) and key not in seen:
            seen.add(key)
            split.unavoidable[name] += 1
        else:
            split.avoidable[name] += 1
    return split
