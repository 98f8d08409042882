"""Provider rate-limit header dialects, each read into one `RateLimitSnapshot`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from chain429.quota.hints import MAX_HORIZON, parse_retry_after

Kind = Literal["requests", "tokens"]
Period = Literal["second", "minute", "hour", "day", "month", "unknown"]


@dataclass(frozen=True, slots=True)
class Window:
    """One counter the provider told us about."""

    kind: Kind
    period: Period
    limit: int | None
    remaining: int | None
    reset_at: float | None  # epoch seconds

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0


@dataclass(frozen=True, slots=True)
class RateLimitSnapshot:
    """Every counter one upstream response reported, plus its retry hint."""

    observed_at: float
    windows: tuple[Window, ...]
    retry_at: float | None  # from retry-after-ms / retry-after


@dataclass(frozen=True, slots=True)
class _Dialect:
    # Periods of x-ratelimit-{field}-requests / -tokens without a period suffix; None = not read.
    suffixed: tuple[Period, Period] | None = None
    # Period of bare x-ratelimit-{limit,remaining,reset}; "auto" = judge by how far the reset is.
    bare: Period | Literal["auto"] | None = None
    tokenlimit: bool = False  # Together x-tokenlimit-{limit,remaining}
    bysize: bool = False  # Mistral's old ratelimitbysize-* family
    ietf: bool = False  # RateLimit-* draft headers
    anthropic: bool = False  # anthropic-ratelimit-* (RFC 3339 resets)


_DIALECTS: dict[str, _Dialect] = {
    "openai": _Dialect(suffixed=("minute", "minute")),
    # Groq's un-suffixed requests counter is per DAY, tokens per minute.
    "groq": _Dialect(suffixed=("day", "minute")),
    "cerebras": _Dialect(suffixed=("minute", "minute")),
    # Only on OpenRouter's own 429s; reset is an epoch in ms (next UTC midnight for the daily cap).
    "openrouter": _Dialect(bare="auto"),
    "mistral": _Dialect(suffixed=("minute", "minute"), bysize=True),
    "together": _Dialect(bare="second", tokenlimit=True),
    "github": _Dialect(suffixed=("unknown", "unknown")),
    # Anthropic's limits are per minute: requests, input tokens and output tokens.
    "anthropic": _Dialect(anthropic=True),
    "none": _Dialect(),
    "generic": _Dialect(suffixed=("minute", "minute"), bare="auto", ietf=True),
}
DIALECTS = frozenset(_DIALECTS)

# Lower-cased prefixes of every header any dialect reads; anything else is skipped at once.
_RELEVANT = ("x-ratelimit", "ratelimit", "retry-after", "x-tokenlimit", "anthropic-ratelimit")
_FIELDS = frozenset({"limit", "remaining", "reset"})
_KINDS: dict[str, Kind] = {"requests": "requests", "req": "requests", "tokens": "tokens"}
_PERIODS: dict[str, Period] = {
    "second": "second",
    "sec": "second",
    "minute": "minute",
    "min": "minute",
    "hour": "hour",
    "day": "day",
    "month": "month",
}
# Every header name the suffixed family can use, so reading one is a dict lookup (this runs on
# every response); period None means "the dialect's default for this kind".
_SUFFIXED_NAMES: dict[str, tuple[str, Kind, Period | None]] = {
    f"x-ratelimit-{field}-{kind_word}{'-' if period_word else ''}{period_word}": (
        field,
        kind,
        _PERIODS[period_word] if period_word else None,
    )
    for field in _FIELDS
    for kind_word, kind in _KINDS.items()
    for period_word in ("", *_PERIODS)
}
_PERIOD_ORDER = {p: i for i, p in enumerate(("second", "minute", "hour", "day", "month"))}
_WINDOW_PERIODS: dict[int, Period] = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
_LIMIT_TYPES: tuple[tuple[str, Period], ...] = (
    ("byday", "day"),
    ("byhour", "hour"),
    ("byminute", "minute"),
    ("bysecond", "second"),
)
_IETF_PARAM = re.compile(r"\b(limit|remaining|reset|q|r|t|w)\s*=\s*(\d+(?:\.\d+)?)")
_FIRST_NUMBER = re.compile(r"\d+")


class _Draft:
    __slots__ = ("limit", "remaining", "reset_at")

    def __init__(self) -> None:
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset_at: float | None = None


_Drafts = dict[tuple[Kind, Period], _Draft]


def parse_rate_limit_headers(
    dialect: str, headers: Mapping[str, str], now: float
) -> RateLimitSnapshot | None:
    """Read one response's rate-limit headers in `dialect`; None when it carries none."""
    spec = _DIALECTS.get(dialect)
    if spec is None:
        raise ValueError(f"unknown rate-limit header dialect {dialect!r}")
    h: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        if name.startswith(_RELEVANT):
            h[name] = value
    if not h:
        return None

    retry_at = _retry_at(h, now)
    drafts: _Drafts = {}
    if spec.suffixed is not None:
        _read_suffixed(h, now, drafts, *spec.suffixed)
    if spec.bare is not None:
        _read_bare(h, now, drafts, spec.bare)
    if spec.tokenlimit:
        _read_fields(
            h, now, drafts, "tokens", "second", "x-tokenlimit-limit", "x-tokenlimit-remaining"
        )
    if spec.bysize:
        _read_bysize(h, now, drafts)
    if spec.ietf:
        _read_ietf(h, now, drafts)
    if spec.anthropic:
        _read_anthropic(h, now, drafts)
    limit_type = h.get("x-ratelimit-type", "").lower()
    if limit_type:
        _read_limit_type(limit_type, retry_at, drafts)

    windows = tuple(
        Window(kind, period, d.limit, d.remaining, d.reset_at)
        for (kind, period), d in sorted(drafts.items(), key=_window_order)
        if d.limit is not None or d.remaining is not None or d.reset_at is not None
    )
    if not windows and retry_at is None:
        return None
    return RateLimitSnapshot(observed_at=now, windows=windows, retry_at=retry_at)


def _read_limit_type(limit_type: str, retry_at: float | None, drafts: _Drafts) -> None:
    """GitHub Models' 429 names the counter that ran out; retry-after says when it refills."""
    for marker, period in _LIMIT_TYPES:
        if marker in limit_type:
            draft = drafts.setdefault(("requests", period), _Draft())
            draft.remaining, draft.reset_at = 0, retry_at
            return


def _window_order(item: tuple[tuple[Kind, Period], _Draft]) -> tuple[str, int]:
    kind, period = item[0]
    return kind, _PERIOD_ORDER.get(period, len(_PERIOD_ORDER))


def _retry_at(h: dict[str, str], now: float) -> float | None:
    millis = h.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return now + min(value / 1000.0, MAX_HORIZON)
    retry_after = h.get("retry-after")
    return None if retry_after is None else parse_retry_after(retry_after, now)


def _count(value: str) -> int | None:
    try:
        return max(int(value), 0)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return None
    return max(int(number), 0) if math.isfinite(number) else None


def _store(draft: _Draft, field: str, value: str, now: float) -> None:
    if field == "limit":
        draft.limit = _count(value)
    elif field == "remaining":
        draft.remaining = _count(value)
    else:
        draft.reset_at = parse_retry_after(value, now)


def _read_suffixed(
    h: dict[str, str], now: float, drafts: _Drafts, requests: Period, tokens: Period
) -> None:
    """x-ratelimit-{limit,remaining,reset}-{requests,req,tokens}[-{period}] (OpenAI and kin)."""
    for name, value in h.items():
        parsed = _SUFFIXED_NAMES.get(name)
        if parsed is None:  # tokens_usage_based, -dynamic, audio-seconds, query-cost, …
            continue
        field, kind, period = parsed
        if period is None:
            period = requests if kind == "requests" else tokens
        _store(drafts.setdefault((kind, period), _Draft()), field, value, now)


def _read_fields(
    h: dict[str, str],
    now: float,
    drafts: _Drafts,
    kind: Kind,
    period: Period,
    limit: str,
    remaining: str,
    reset: str = "",
) -> _Draft | None:
    found = False
    draft = _Draft()
    for field, name in (("limit", limit), ("remaining", remaining), ("reset", reset)):
        value = h.get(name) if name else None
        if value is not None:
            _store(draft, field, value, now)
            found = True
    if not found:
        return None
    drafts[(kind, period)] = draft
    return draft


def _read_bare(
    h: dict[str, str], now: float, drafts: _Drafts, period: Period | Literal["auto"]
) -> None:
    """x-ratelimit-{limit,remaining,reset}: Together (per second) or OpenRouter (auto)."""
    names = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
    if period != "auto":
        _read_fields(h, now, drafts, "requests", period, *names)
        return
    scratch: _Drafts = {}
    draft = _read_fields(h, now, scratch, "requests", "unknown", *names)
    if draft is None:
        return
    # OpenRouter uses these for both its per-minute and its daily free cap; a reset hours away
    # can only be the daily one.
    far = draft.reset_at is not None and draft.reset_at - now > 3600
    drafts[("requests", "day" if far else "unknown")] = draft


def _read_anthropic(h: dict[str, str], now: float, drafts: _Drafts) -> None:
    """anthropic-ratelimit-*: requests per minute, and one tokens-per-minute counter.

    `tokens-*` is, in Anthropic's words, the most restrictive token limit in effect, so it
    is the counter when sent; otherwise the input or output family with less left stands in.
    """
    _read_fields(h, now, drafts, "requests", "minute", *_anthropic_names("requests"))
    tightest: _Draft | None = None
    for family in ("tokens", "input-tokens", "output-tokens"):
        draft = _read_fields(h, now, {}, "tokens", "minute", *_anthropic_names(family))
        if draft is not None and (family == "tokens" or _less_left(draft, tightest)):
            tightest = draft
            if family == "tokens":
                break
    if tightest is not None:
        drafts[("tokens", "minute")] = tightest


def _anthropic_names(family: str) -> tuple[str, str, str]:
    prefix = f"anthropic-ratelimit-{family}-"
    return prefix + "limit", prefix + "remaining", prefix + "reset"


def _less_left(draft: _Draft, other: _Draft | None) -> bool:
    if other is None or other.remaining is None:
        return True
    return draft.remaining is not None and draft.remaining < other.remaining


def _read_bysize(h: dict[str, str], now: float, drafts: _Drafts) -> None:
    """Mistral's older token budget headers: ratelimitbysize-* (minute) and -month."""
    minute = _Draft()
    for field in ("limit", "remaining"):
        value = h.get(f"x-ratelimitbysize-{field}-minute", h.get(f"ratelimitbysize-{field}"))
        if value is not None:
            _store(minute, field, value, now)
    reset = h.get("ratelimitbysize-reset")
    if reset is not None:
        _store(minute, "reset", reset, now)
    if minute.limit is not None or minute.remaining is not None or minute.reset_at is not None:
        drafts[("tokens", "minute")] = minute
    _read_fields(
        h,
        now,
        drafts,
        "tokens",
        "month",
        "x-ratelimitbysize-limit-month",
        "x-ratelimitbysize-remaining-month",
    )


def _read_ietf(h: dict[str, str], now: float, drafts: _Drafts) -> None:
    """IETF draft RateLimit-Limit/-Remaining/-Reset, the combined `RateLimit:` form and -Policy."""
    params: dict[str, str] = {}
    for name in ("ratelimit-policy", "ratelimit"):
        if name in h:
            params.update(_IETF_PARAM.findall(h[name].lower()))
    limit = h.get("ratelimit-limit", params.get("limit", params.get("q")))
    remaining = h.get("ratelimit-remaining", params.get("remaining", params.get("r")))
    reset = h.get("ratelimit-reset", params.get("reset", params.get("t")))
    if limit is None and remaining is None and reset is None:
        return
    window = params.get("w")
    if window is None and limit is not None:
        # draft-03 lists policies in the limit value itself: "100, 100;w=60"
        window = dict(_IETF_PARAM.findall(limit.lower())).get("w")
    period = _WINDOW_PERIODS.get(int(float(window)), "unknown") if window else "unknown"
    draft = drafts.setdefault(("requests", period), _Draft())
    for field, value in (("limit", limit), ("remaining", remaining), ("reset", reset)):
        if value is not None:
            first = _FIRST_NUMBER.search(value) if field != "reset" else None
            _store(draft, field, first.group() if first else value, now)
