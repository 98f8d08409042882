"""The quota tracker: holds what we know of each entry and answers "may I send this, here, now?"."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from chain429.engine.chain import Entry
from chain429.engine.outcome import Action, Outcome, OutcomeKind
from chain429.quota.headers import RateLimitSnapshot

Clock = Callable[[], float]

# Cooldown kinds that mean "out of quota": a chain made only of these answers 429, not 503.
QUOTA_KINDS = frozenset({"rate_limited", "quota_exhausted"})


@dataclass(slots=True)
class Cooldown:
    until: float
    kind: str  # an OutcomeKind value, or "breaker"
    reason: str
    set_at: float


@dataclass(slots=True)
class EntryState:
    cooldown: Cooldown | None = None
    failures: int = 0  # consecutive failures that count towards the breaker
    breaker_opens: int = 0  # consecutive times the breaker opened, for escalation
    probing: bool = False  # a half-open probe is in flight
    in_flight: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why an entry may not be sent to now, and when that might change."""

    reason: str
    kind: str
    free_at: float | None = None

    @property
    def out_of_quota(self) -> bool:
        return self.kind in QUOTA_KINDS


@dataclass(slots=True)
class Ticket:
    """A reservation of one request on an entry, settled by `release`."""

    entry: Entry
    started_at: float
    est_tokens: int
    probe: bool = False
    released: bool = field(default=False)


@dataclass(frozen=True, slots=True)
class Policy:
    cooldown_default_s: float = 60.0
    cooldown_max_s: float = 86_400.0
    model_not_found_s: float = 3_600.0
    breaker_threshold: int = 3
    breaker_cooldown_s: float = 30.0


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

    def blocked(self, entry: Entry) -> Verdict | None: ...

    def state(self, entry: Entry) -> EntryState: ...


class MemoryTracker:
    """The in-process tracker. Single event loop, so check-and-reserve is atomic."""

    def __init__(self, policy: Policy | None = None, clock: Clock = time.time) -> None:
        self.policy = policy or Policy()
        self.clock = clock
        self._entries: dict[str, EntryState] = {}
        self._providers: dict[str, EntryState] = {}

    def state(self, entry: Entry) -> EntryState:
        state = self._entries.get(entry.key)
        if state is None:
            state = self._entries[entry.key] = EntryState()
        return state

    def _provider_state(self, provider: str) -> EntryState:
        state = self._providers.get(provider)
        if state is None:
            state = self._providers[provider] = EntryState()
        return state

    def blocked(self, entry: Entry) -> Verdict | None:
        """Why the entry cannot be sent to right now, or None if it can."""
        now = self.clock()
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

    def acquire(self, entry: Entry, est_tokens: int) -> Ticket | Verdict:
        verdict = self.blocked(entry)
        if verdict is not None:
            return verdict
        state = self.state(entry)
        probe = state.cooldown is not None and state.cooldown.kind == "breaker"
        if probe:
            state.probing = True
        state.in_flight += 1
        return Ticket(entry, self.clock(), est_tokens, probe)

    def cancel(self, ticket: Ticket) -> None:
        """Give back a reservation whose request never reached a verdict (client went away)."""
        if not ticket.released:
            ticket.released = True
            state = self.state(ticket.entry)
            state.in_flight -= 1
            if ticket.probe:
                state.probing = False

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
        state = self.state(ticket.entry)
        now = self.clock()
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
            self._failed(state, outcome, now)

    def _succeeded(self, state: EntryState, ticket: Ticket) -> None:
        state.failures = 0
        state.breaker_opens = 0
        # State only moves forward: a cooldown set while this request was running stays.
        if state.cooldown is not None and state.cooldown.set_at <= ticket.started_at:
            state.cooldown = None

    def _cool(self, state: EntryState, outcome: Outcome, until: float, now: float) -> None:
        until = min(until, now + self.policy.cooldown_max_s)
        if state.cooldown is None or state.cooldown.until <= now or until >= state.cooldown.until:
            state.cooldown = Cooldown(until, outcome.kind.value, outcome.message, now)

    def _failed(self, state: EntryState, outcome: Outcome, now: float) -> None:
        state.failures += 1
        if state.failures < self.policy.breaker_threshold and not _half_open(state, now):
            if outcome.retry_at:  # e.g. a 503 with Retry-After: honour it
                self._cool(state, outcome, outcome.retry_at, now)
            return
        state.failures = 0
        state.breaker_opens += 1
        length = self.policy.breaker_cooldown_s * 2 ** (state.breaker_opens - 1)
        until = max(now + length, outcome.retry_at or 0)
        reason = f"breaker open after {outcome.message}"
        state.cooldown = Cooldown(
            min(until, now + self.policy.cooldown_max_s), "breaker", reason, now
        )


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
