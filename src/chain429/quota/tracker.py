"""The quota tracker: holds what we know of each entry and answers "may I send this, here, now?".

Three things can keep an entry out, checked in this order before any call is made:
cooldowns (set by outcomes: 429s, auth failures, the breaker), counters learned from the
upstream's rate-limit headers, and the manual limits of the config (or the preset's documented
free-tier limits). Sending reserves one request and the estimated tokens against the last two;
`release` settles the reservation with the real usage and applies the response's headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chain429.config.schema import RateLimits
from chain429.engine.chain import Entry
from chain429.engine.outcome import Action, Outcome, OutcomeKind
from chain429.quota.headers import RateLimitSnapshot
from chain429.quota.hints import DailyReset, next_daily_reset
from chain429.quota.learned import LearnedWindow
from chain429.quota.persist_codec import export_state, restore_state
from chain429.quota.report import describe_entry
from chain429.quota.state import (
    Cooldown,
    EntryState,
    QuotaState,
    Ticket,
    Verdict,
    quota_key,
)
from chain429.quota.windows import FixedWindow, SlidingWindow, day_window, minute_window

Clock = Callable[[], float]

# Verdict kinds that mean "out of quota": a chain made only of these answers 429, not 503.
QUOTA_KINDS = frozenset({"rate_limited", "quota_exhausted", "concurrency"})
MANUAL = (
    ("requests_per_minute", "requests", False),
    ("tokens_per_minute", "tokens", False),
    ("requests_per_day", "requests", True),
    ("tokens_per_day", "tokens", True),
)


@dataclass(frozen=True, slots=True)
class Policy:
    cooldown_default_s: float = 60.0
    cooldown_max_s: float = 86_400.0
    model_not_found_s: float = 3_600.0
    breaker_threshold: int = 3
    breaker_cooldown_s: float = 30.0
    proactive: bool = True  # use learned headers and manual limits before sending


class QuotaTracker(Protocol):
    def acquire(self, entry: Entry, est_tokens: int) -> Ticket | Verdict: ...

    def release(
        self,
        ticket: Ticket,
        outcome: Outcome,
        snapshot: RateLimitSnapshot | None = None,
        used_tokens: int | None = None,
    ) -> None: ...

    def cancel(self, ticket: Ticket) -> None: ...

    def blocked(self, entry: Entry, est_tokens: int = 0) -> Verdict | None: ...

    def state(self, entry: Entry) -> EntryState: ...

    def describe(self, entry: Entry) -> dict[str, Any]: ...

    def subscribe(self, listener: Callable[[], None]) -> None: ...


class MemoryTracker:
    """The in-process tracker. One event loop, so check-and-reserve is atomic."""

    def __init__(self, policy: Policy | None = None, clock: Clock = time.time) -> None:
        self.policy = policy or Policy()
        self.clock = clock
        self._entries: dict[str, EntryState] = {}
        self._providers: dict[str, EntryState] = {}
        self._quotas: dict[str, QuotaState] = {}
        self.dirty: set[str] = set()  # keys whose state changed since the last persist
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever a reservation ends, so waiters can look again."""
        self._listeners.append(listener)

    # -- state lookup -------------------------------------------------------------------

    def state(self, entry: Entry) -> EntryState:
        state = self._entries.get(entry.key)
        if state is None:
            state = self._entries[entry.key] = EntryState()
        return state

    def quota(self, entry: Entry) -> QuotaState:
        key = quota_key(entry)
        state = self._quotas.get(key)
        if state is None:
            state = self._quotas[key] = QuotaState()
        return state

    def _provider_state(self, provider: str) -> EntryState:
        state = self._providers.get(provider)
        if state is None:
            state = self._providers[provider] = EntryState()
        return state

    # -- the question ----------------------------------------------------------------------

    def blocked(self, entry: Entry, est_tokens: int = 0) -> Verdict | None:
        """Why the entry cannot take this request right now, or None if it can."""
        now = self.clock()
        verdict = self._cooling(entry, now)
        if verdict is None and self.policy.proactive:
            quota = self._quotas.get(quota_key(entry))
            if quota is not None:
                verdict = self._learned_verdict(quota, est_tokens, now)
            if verdict is None and entry.limits is not None:
                verdict = self._manual_verdict(entry, est_tokens, now)
        return verdict

    def _cooling(self, entry: Entry, now: float) -> Verdict | None:
        if entry.disabled:
            return Verdict(f"provider disabled: {entry.disabled}", "disabled")
        provider = self._providers.get(entry.provider)
        if provider and provider.cooldown and provider.cooldown.until > now:
            return _cooling(provider.cooldown, now)
        state = self._entries.get(entry.key)
        if state is None or state.cooldown is None:
            return None
        cooldown = state.cooldown
        if cooldown.until > now:
            return _cooling(cooldown, now)
        if cooldown.kind == "breaker" and state.probing:
            return Verdict("breaker half-open, probe in flight", "breaker", cooldown.until)
        return None

    def _learned_verdict(self, quota: QuotaState, est_tokens: int, now: float) -> Verdict | None:
        for window in quota.learned.values():
            cost = 1 if window.kind == "requests" else est_tokens
            if cost <= 0:
                continue
            if window.kind == "tokens" and window.limit is not None and cost > window.limit:
                return Verdict(
                    f"request (~{cost} tokens) exceeds the {window.limit} tokens/{window.period}",
                    "too_large",
                )
            left = window.available(now)
            if left < cost:
                free_at = window.free_at(now, cost)
                kind = "quota_exhausted" if window.daily else "rate_limited"
                reason = (
                    f"{max(0, int(left))} {window.kind} left this {window.period}, "
                    f"resets in {_seconds(free_at - now)}"
                )
                return Verdict(reason, kind, free_at)
        return None

    def _manual_verdict(self, entry: Entry, est_tokens: int, now: float) -> Verdict | None:
        limits = entry.limits
        assert limits is not None
        quota = self.quota(entry)
        if limits.concurrent_requests and quota.in_flight >= limits.concurrent_requests:
            reason = (
                f"{quota.in_flight} in flight, concurrent_requests {limits.concurrent_requests}"
            )
            return Verdict(reason, "concurrency", now + 1.0)
        for name, kind, daily in MANUAL:
            limit = getattr(limits, name)
            cost = 1 if kind == "requests" else est_tokens
            if limit is None or cost <= 0:
                continue
            if cost > limit:
                return Verdict(f"request (~{cost} tokens) exceeds {name} {limit}", "too_large")
            counter = self._counter(entry, quota, name, daily)
            if counter.used(now) + cost > limit:
                free_at = counter.free_at(now, cost, limit)
                reason = f"{name} {limit} reached, frees in {_seconds(free_at - now)}"
                return Verdict(reason, "quota_exhausted" if daily else "rate_limited", free_at)
        return None

    def _counter(
        self, entry: Entry, quota: QuotaState, name: str, daily: bool
    ) -> SlidingWindow | FixedWindow:
        counter = quota.manual.get(name)
        if counter is None:
            if not daily:
                counter = minute_window()
            elif _daily_mode(entry) == "rolling":
                counter = day_window()
            else:
                counter = FixedWindow()
            quota.manual[name] = counter
        return counter

    # -- reservations ------------------------------------------------------------------------

    def acquire(self, entry: Entry, est_tokens: int) -> Ticket | Verdict:
        verdict = self.blocked(entry, est_tokens)
        if verdict is not None:
            return verdict
        now = self.clock()
        state = self.state(entry)
        probe = state.cooldown is not None and state.cooldown.kind == "breaker"
        state.probing = state.probing or probe
        state.in_flight += 1
        quota = self.quota(entry)
        quota.in_flight += 1
        quota.in_flight_tokens += est_tokens
        if self.policy.proactive:
            for window in quota.learned.values():
                window.reserved += 1 if window.kind == "requests" else est_tokens
            if entry.limits is not None:
                self._reserve_manual(entry, quota, entry.limits, est_tokens, now)
        self.dirty.add(quota_key(entry))
        return Ticket(entry, now, est_tokens, probe)

    def _reserve_manual(
        self, entry: Entry, quota: QuotaState, limits: RateLimits, est_tokens: int, now: float
    ) -> None:
        for name, kind, daily in MANUAL:
            if getattr(limits, name) is None:
                continue
            counter = self._counter(entry, quota, name, daily)
            amount = 1 if kind == "requests" else est_tokens
            if isinstance(counter, FixedWindow):
                counter.add(now, amount, next_daily_reset(now, _daily_mode(entry)))
            else:
                counter.add(now, amount)

    def cancel(self, ticket: Ticket) -> None:
        """Give back a reservation whose request never reached a verdict (client went away)."""
        if ticket.released:
            return
        ticket.released = True
        state = self.state(ticket.entry)
        state.in_flight -= 1
        if ticket.probe:
            state.probing = False
        quota = self.quota(ticket.entry)
        quota.in_flight -= 1
        quota.in_flight_tokens -= ticket.est_tokens
        for listener in self._listeners:
            listener()

    def release(
        self,
        ticket: Ticket,
        outcome: Outcome,
        snapshot: RateLimitSnapshot | None = None,
        used_tokens: int | None = None,
    ) -> None:
        """Settle a reservation with what the upstream said."""
        if ticket.released:
            return
        self.cancel(ticket)
        entry = ticket.entry
        quota = self.quota(entry)
        now = self.clock()
        if used_tokens is not None:
            self._settle_tokens(quota, ticket, used_tokens)
        elif _refused(outcome):
            self._unreserve(quota, ticket)
        if snapshot is not None:
            self._observe(quota, snapshot)
        if not self._explained(quota, ticket, outcome, snapshot, now):
            self._apply(ticket, outcome, now)
        self.dirty.update((entry.key, quota_key(entry), f"provider:{entry.provider}"))

    def _explained(
        self,
        quota: QuotaState,
        ticket: Ticket,
        outcome: Outcome,
        snapshot: RateLimitSnapshot | None,
        now: float,
    ) -> bool:
        """A 429 whose own counters explain it needs no cooldown: the learned counters now hold
        back exactly the requests that do not fit, where a cooldown would stop smaller ones too.
        """
        return (
            outcome.kind is OutcomeKind.RATE_LIMITED
            and snapshot is not None
            and bool(snapshot.windows)
            and self.policy.proactive
            and self._learned_verdict(quota, ticket.est_tokens, now) is not None
        )

    def _unreserve(self, quota: QuotaState, ticket: Ticket) -> None:
        """The upstream refused the request, so it spent nothing: give the reservation back."""
        for window in quota.learned.values():
            cost = 1 if window.kind == "requests" else ticket.est_tokens
            window.reserved = max(0.0, window.reserved - cost)
        for name, kind, _ in MANUAL:
            counter = quota.manual.get(name)
            if counter is not None:
                counter.adjust(ticket.started_at, -(1 if kind == "requests" else ticket.est_tokens))

    def _settle_tokens(self, quota: QuotaState, ticket: Ticket, used: int) -> None:
        delta = used - ticket.est_tokens
        for window in quota.learned.values():
            if window.kind == "tokens":
                window.reserved = max(0.0, window.reserved + delta)
        for name in ("tokens_per_minute", "tokens_per_day"):
            counter = quota.manual.get(name)
            if counter is not None:
                counter.adjust(ticket.started_at, delta)

    def _observe(self, quota: QuotaState, snapshot: RateLimitSnapshot) -> None:
        for window in snapshot.windows:
            if window.remaining is None:
                continue
            key = f"{window.kind}/{window.period}"
            known = quota.learned.get(key)
            if known is not None and known.observed_at > snapshot.observed_at:
                continue  # state only moves forward: a late response does not undo a newer one
            reserved = quota.in_flight if window.kind == "requests" else quota.in_flight_tokens
            quota.learned[key] = LearnedWindow.observe(window, snapshot.observed_at, reserved)

    # -- outcomes ---------------------------------------------------------------------------

    def _apply(self, ticket: Ticket, outcome: Outcome, now: float) -> None:
        state = self.state(ticket.entry)
        action = outcome.action
        if action is Action.SUCCEED:
            self._succeeded(state, ticket)
        elif action is Action.COOLDOWN:
            default = (
                self.policy.model_not_found_s
                if outcome.kind is OutcomeKind.MODEL_NOT_FOUND
                else self.policy.cooldown_default_s
            )
            self._cool(state, outcome, outcome.retry_at or now + default, now)
        elif action is Action.LONG_COOLDOWN:
            self._cool(state, outcome, outcome.retry_at or now + self.policy.cooldown_max_s, now)
        elif action is Action.COOLDOWN_PROVIDER:
            provider = self._provider_state(ticket.entry.provider)
            self._cool(provider, outcome, now + self.policy.cooldown_max_s, now)
        elif action is Action.COUNT_FAILURE:
            self._failed(state, ticket, outcome, now)

    def _succeeded(self, state: EntryState, ticket: Ticket) -> None:
        state.failures = 0
        state.breaker_opens = 0
        # State only moves forward: a cooldown set while this request was running stays.
        if state.cooldown is not None and state.cooldown.set_at <= ticket.started_at:
            state.cooldown = None

    def _cool(self, state: EntryState, outcome: Outcome, until: float, now: float) -> None:
        until = min(until, now + self.policy.cooldown_max_s)
        current = state.cooldown
        if current is None or current.until <= now or until >= current.until:
            state.cooldown = Cooldown(until, outcome.kind.value, outcome.message, now)

    def _failed(self, state: EntryState, ticket: Ticket, outcome: Outcome, now: float) -> None:
        cooldown = state.cooldown
        if (
            cooldown is not None
            and cooldown.kind == "breaker"
            and cooldown.set_at >= ticket.started_at
        ):
            # Sent before the breaker opened: its failure is already what opened it.
            return
        state.failures += 1
        if state.failures < self.policy.breaker_threshold and not _half_open(state, now):
            if outcome.retry_at:  # e.g. a 503 with Retry-After: honour it
                self._cool(state, outcome, outcome.retry_at, now)
            return
        state.failures = 0
        state.breaker_opens += 1
        length = self.policy.breaker_cooldown_s * 2 ** (state.breaker_opens - 1)
        until = min(max(now + length, outcome.retry_at or 0), now + self.policy.cooldown_max_s)
        reason = f"breaker open after {outcome.message}"
        state.cooldown = Cooldown(until, "breaker", reason, now)

    # -- reporting and persistence -------------------------------------------------------------

    def describe(self, entry: Entry) -> dict[str, Any]:
        """Everything known about one entry, for `/v1/ratelimits`."""
        return describe_entry(self, entry, self.clock())

    def entry_state(self, key: str) -> EntryState | None:
        return self._entries.get(key)

    def provider_state(self, provider: str) -> EntryState | None:
        return self._providers.get(provider)

    def quota_state(self, key: str) -> QuotaState | None:
        return self._quotas.get(key)

    def export(self, keys: set[str] | None = None) -> dict[str, dict[str, Any]]:
        """State worth keeping across a restart, by key (all keys, or just `keys`)."""
        return export_state(self._entries, self._providers, self._quotas, keys, self.clock())

    def restore(self, rows: dict[str, dict[str, Any]]) -> None:
        restore_state(self._entries, self._providers, self._quotas, rows, self.clock())


def _refused(outcome: Outcome) -> bool:
    """The upstream turned the request away before doing (and counting) any work."""
    status = outcome.status
    return (status is not None and 400 <= status < 500) or (
        outcome.kind is OutcomeKind.CONNECTION_ERROR and status is None
    )


def _daily_mode(entry: Entry) -> DailyReset:
    mode = entry.limits.daily_reset if entry.limits is not None else None
    return mode or entry.preset.daily_reset


def _half_open(state: EntryState, now: float) -> bool:
    cooldown = state.cooldown
    return cooldown is not None and cooldown.kind == "breaker" and cooldown.until <= now


def _cooling(cooldown: Cooldown, now: float) -> Verdict:
    left = cooldown.until - now
    return Verdict(
        f"cooling down, {_seconds(left)} left ({cooldown.reason})", cooldown.kind, cooldown.until
    )


def _seconds(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:.1f}h"
    if value >= 60:
        return f"{value / 60:.0f}m"
    return f"{max(value, 0):.0f}s"
