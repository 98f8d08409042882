"""Settle: the one place where a provider's answer becomes a decision.

Every upstream answer goes through `settle`, which returns the attempt's `Outcome` (what it
came to, and so, by the outcome table, what the walk and the tracker do about it) and the
`RateLimitSnapshot` its headers carry. The walk hands both to the tracker's `settle`.

What happens when Groq answers 429, end to end:

1. The preset (`providers/presets.yaml`, `groq`) names the header dialect `groq`: its
   un-suffixed `x-ratelimit-*-requests` counter is per day, `-tokens` per minute.
2. `parse_rate_limit_headers` (`quota/headers.py`) reads the headers once into a snapshot:
   e.g. requests/day remaining 14 370, tokens/minute remaining 0 resetting in 7.66 s, and the
   `retry-after: 8` hint.
3. `classify_response` (`engine/outcome.py`, the outcome table) reads the status and body with
   that snapshot: a 429 whose exhausted counter is per day (or whose body says "per day") is
   QUOTA_EXHAUSTED until the daily reset; any other 429 is RATE_LIMITED until the retry hint
   (else the exhausted counter's reset, else a body's "try again in 7.66s").
4. Here: the counter a Groq body names ("on tokens per day (TPD): Limit 100000, Used 97050,
   Requested 3619 … try again in 9m38s") joins the snapshot. A 429 whose snapshot shows a
   counter too low for this request is *explained*. The tracker then sets no cooldown: the
   learned counters alone hold back exactly the requests that do not fit until the bucket
   refills (Groq's preset says `refill: continuous`), while a smaller request may still go.
5. The tracker's `settle` (`quota/tracker.py`) gives back the refused reservation, learns the
   snapshot's counters (state only moves forward), and applies the outcome table's action:
   COOLDOWN for RATE_LIMITED (unless explained), LONG_COOLDOWN for QUOTA_EXHAUSTED,
   COOLDOWN_PROVIDER for a bad key, COUNT_FAILURE (the breaker) for 5xx, timeouts and junk.
6. The walk moves to the next entry; the next request skips Groq without a call until its
   counters or cooldown say it has room again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from chain429.deep_json import loads_writable
from chain429.engine.operations import Operation
from chain429.engine.outcome import (
    classify_anthropic_error,
    classify_response,
    classify_stream_error,
)
from chain429.quota.headers import RateLimitSnapshot, Window, parse_rate_limit_headers
from chain429.quota.hints import decode_error_body, quota_usage
from chain429.vocabulary import SUCCESS, Entry, Outcome, OutcomeKind


@dataclass(frozen=True, slots=True)
class Settled:
    outcome: Outcome
    snapshot: RateLimitSnapshot | None
    answer: dict[str, Any] | None = None  # the decoded body of a whole successful answer


def settle(
    entry: Entry,
    status: int,
    headers: Mapping[str, str],
    body: bytes | None,
    now: float,
    *,
    operation: Operation,
    est_tokens: int = 0,
) -> Settled:
    """What one upstream answer means. `body` is None for a stream's 2xx head: its first event
    decides it later (`engine.relay`)."""
    preset = entry.preset
    snapshot = parse_rate_limit_headers(preset.dialect, headers, now)
    if 200 <= status < 300:
        if body is None:
            return Settled(SUCCESS, snapshot)
        return _answer(entry, status, body, now, operation, snapshot)
    outcome = classify_response(
        status,
        headers,
        body or b"",
        now=now,
        daily_reset=entry.daily_reset,
        dialect=preset.dialect,
        snapshot=snapshot,
        refill=preset.refill,
    ).scrubbed(entry.api_key)
    if status == 429:
        snapshot = _with_body_counter(snapshot, body, outcome, now)
    if outcome.kind in _QUOTA and _explains(snapshot, est_tokens):
        outcome = replace(outcome, explained=True)  # daily and counter stay: the tracker reads them
    return Settled(outcome, snapshot)


def _answer(
    entry: Entry,
    status: int,
    body: bytes,
    now: float,
    operation: Operation,
    snapshot: RateLimitSnapshot | None,
) -> Settled:
    data = loads_writable(body)  # None for junk, and for JSON we could not write again
    if isinstance(data, dict) and "error" in data and not data.get(operation.answer_field):
        # OpenRouter answers some failures with HTTP 200 and an in-band error.
        in_band = (
            classify_anthropic_error if operation.api == "anthropic" else classify_stream_error
        )
        outcome = in_band(data, now=now).scrubbed(entry.api_key)
        return Settled(outcome, snapshot)
    if not operation.accepts(data):
        return Settled(Outcome(OutcomeKind.MALFORMED, status, "malformed response body"), snapshot)
    assert isinstance(data, dict)
    return Settled(SUCCESS, snapshot, data)


_QUOTA = frozenset({OutcomeKind.RATE_LIMITED, OutcomeKind.QUOTA_EXHAUSTED})


def _with_body_counter(
    snapshot: RateLimitSnapshot | None, body: bytes | None, outcome: Outcome, now: float
) -> RateLimitSnapshot | None:
    """Add the counter a Groq-style body names ("on tokens per day (TPD): Limit 100000, Used
    97050, Requested 3619") to what the headers said: then only requests that do not fit the
    2,950 tokens left are held back, not the whole entry for the rest of the day."""
    usage = quota_usage(decode_error_body(body or b""))
    if usage is None or usage.remaining is None or outcome.retry_at is None:
        return snapshot
    # The body's wait is when `requested` fits; the counter's own reset is when it is full.
    missing = max(usage.requested - usage.remaining, 1)
    rate = missing / max(outcome.retry_at - now, 1e-3)
    full_at = now + (usage.limit - usage.remaining) / rate
    window = Window(usage.kind, usage.period, usage.limit, usage.remaining, full_at)
    if snapshot is None:
        return RateLimitSnapshot(now, (window,), None)
    kept = tuple(w for w in snapshot.windows if (w.kind, w.period) != (usage.kind, usage.period))
    return replace(snapshot, windows=(*kept, window))


def _explains(snapshot: RateLimitSnapshot | None, est_tokens: int) -> bool:
    """Whether the 429's own counters show why: one of them has less than this request needs."""
    if snapshot is None:
        return False
    for window in snapshot.windows:
        need = 1 if window.kind == "requests" else max(est_tokens, 1)
        if window.remaining is not None and window.remaining < need:
            return True
    return False
