"""The quota tracker: holds what we know of each entry and answers "may I send this, here, now?".

Three things can keep an entry out, checked in this order before any call is made:
cooldowns (set by outcomes: 429s, auth failures, the breaker), counters learned from the
upstream's rate-limit headers, and the manual limits of the config (or the preset's documented
free-tier limits). `reserve` holds one request and the estimated tokens against the last two;
`settle` ends the reservation with the real usage and applies what the upstream said (the
outcome and rate-limit snapshot that `engine.settle` made of its answer).

`QuotaTracker` is the interface the engine and the HTTP layer use; `MemoryTracker` is the
in-process implementation, and a shared one (Redis) implements the same interface.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, Protocol

from chain429.config.schema import RateLimits, Settings
from chain429.quota.drained import DAY_S, DrainedBucket
from chain429.quota.headers import RateLimitSnapshot
from chain429.quota.hints import next_daily_reset
from chain429.quota.learned import PERIOD_S, LearnedWindow
from chain429.quota.persist import PersistStatus, StateStore, TrackerPersister
from chain429.quota.persist_codec import ENTRY, QUOTA, export_state, restore_state
from chain429.quota.report import EntryReport, entry_report
from chain429.quota.state import Cooldown, EntryState, QuotaState, quota_key
from chain429.quota.windows import SLIDING, FixedWindow, SlidingWindow
from chain429.tasks import Tasks
from chain429.vocabulary import (
    Action,
    Entry,
    Headroom,
    Latency,
    Outcome,
    OutcomeKind,
    Ticket,
    Verdict,
)

Clock = Callable[[], float]

# Cooldowns at least this long are written to disk at once, not at the next tick.
WRITE_THROUGH_S = 60.0
# Manual limits: (field of RateLimits, what it counts, its period).
MANUAL = (
    ("requests_per_minute", "requests", "minute"),
    ("tokens_per_minute", "tokens", "minute"),
    ("requests_per_hour", "requests", "hour"),
    ("tokens_per_hour", "tokens", "hour"),
    ("requests_per_day", "requests", "day"),
    ("tokens_per_day", "tokens", "day"),
)


@dataclass(frozen=True, slots=True)
class Policy:
    cooldown_default_s: float = 60.0
    cooldown_max_s: float = 86_400.0
    cooldown_min_s: float = 2.0  # no 429 cools an entry for less
    model_not_found_s: float = 3_600.0
    breaker_threshold: int = 3
    breaker_cooldown_s: float = 30.0
    proactive: bool = True  # use learned headers and manual limits before sending
    ad_hoc_entries: int = 1_000  # client-named `provider/model` entries remembered (LRU)
    cold_in_flight: int = 4  # requests in flight to an entry before its first answer (0: any)

    def with_settings(self, settings: Settings) -> Policy:
        """This policy with what the config's settings say (the rest, e.g. `proactive`, kept)."""
        return replace(
            self,
            cooldown_default_s=settings.cooldown_default_ms / 1000,
            cooldown_max_s=settings.cooldown_max_ms / 1000,
            breaker_threshold=settings.breaker_threshold,
            breaker_cooldown_s=settings.breaker_cooldown_ms / 1000,
        )


class QuotaTracker(Protocol):
    """What the engine and the HTTP layer ask of quota state, wherever it lives."""

    @property
    def policy(self) -> Policy: ...

    def configure(self, policy: Policy) -> None:
        """Use `policy` from now on (a config reload); state is kept."""
        ...

    async def reserve(self, entry: Entry, est_tokens: int) -> Ticket | Verdict:
        """Hold capacity for one request, or say why the entry cannot take it now."""
        ...

    async def settle(
        self,
        ticket: Ticket,
        outcome: Outcome,
        snapshot: RateLimitSnapshot | None = None,
        used_tokens: int | None = None,
    ) -> None:
        """End a reservation with what the upstream said."""
        ...

    async def cancel(self, ticket: Ticket) -> None:
        """Give back a reservation whose request never reached a verdict."""
        ...

    def blocked(self, entry: Entry, est_tokens: int = 0) -> Verdict | None:
        """A look, reserving nothing: why the entry could not take a request now, or None."""
        ...

    def latency_ms(self, entry: Entry) -> float | None:
        """The entry's smoothed recent latency, if it has been measured."""
        ...

    def latency(self, entry: Entry) -> Latency | None:
        """`latency_ms` and when it was last measured, for the `fastest` strategy."""
        ...

    def headroom(self, entry: Entry) -> Headroom:
        """A look: requests and tokens left now, from the longest window known of each."""
        ...

    async def report(self, entry: Entry) -> EntryReport: ...

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever capacity may have freed, so waiters can look again."""
        ...

    async def start(self, store: StateStore | None, status: PersistStatus | None = None) -> None:
        """Restore state kept in `store` (if any) and keep it there from now on; `status` is
        told how that goes. Raises if the store cannot be read (the caller falls back)."""
        ...

    async def close(self) -> None:
        """Write what is not yet kept, and stop."""
        ...


def tracker_for(settings: Settings, clock: Clock = time.time) -> QuotaTracker:
    """The tracker a config asks for. (Today the in-process one; a shared one joins it here.)"""
    return MemoryTracker(Policy().with_settings(settings), clock)


class MemoryTracker:
    """The in-process tracker. One event loop, so check-and-reserve is atomic."""

    def __init__(
        self,
        policy: Policy | None = None,
        clock: Clock = time.time,
        *,
        persist_every_s: float = 1.0,
    ) -> None:
        self._policy = policy or Policy()
        self.clock = clock
        self._persist_every_s = persist_every_s
        self._entries: dict[str, EntryState] = {}
        self._providers: dict[str, EntryState] = {}
        self._quotas: dict[str, QuotaState] = {}
        # Client-named entries, least recently used first: bounded, so that a client inventing
        # `provider/<anything>` ids cannot grow state (and the state file) without end.
        self._ad_hoc: OrderedDict[str, Entry] = OrderedDict()
        self.dirty: set[str] = set()  # keys whose state changed since the last persist
        self._listeners: list[Callable[[], None]] = []
        self._persister: TrackerPersister | None = None  # while `start`ed with a store
        self._tasks = Tasks()

    @property
    def policy(self) -> Policy:
        return self._policy

    def configure(self, policy: Policy) -> None:
        self._policy = policy

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def start(self, store: StateStore | None, status: PersistStatus | None = None) -> None:
        if store is None:
            return
        persister = TrackerPersister(self, store, self._persist_every_s, status=status)
        try:
            persister.restore()
        except Exception:
            await persister.close()
            raise
        self._persister = persister
        self._tasks.start(persister.run(), "persist-tracker")

    async def close(self) -> None:
        await self._tasks.close()
        if self._persister is not None:
            persister, self._persister = self._persister, None
            await persister.close()

    # -- state lookup -------------------------------------------------------------------

    def state(self, entry: Entry) -> EntryState:
        state = self._entries.get(entry.key)
        if state is None:
            state = self._entries[entry.key] = EntryState()
            if entry.ad_hoc:
                self._remember_ad_hoc(entry)
        elif entry.ad_hoc:
            if entry.key in self._ad_hoc:
                self._ad_hoc.move_to_end(entry.key)
            else:  # restored from the state store: bound it from now on
                self._remember_ad_hoc(entry)
        return state

    def quota(self, entry: Entry) -> QuotaState:
        key = quota_key(entry)
        state = self._quotas.get(key)
        if state is None:
            state = self._quotas[key] = QuotaState()
        return state

    def _remember_ad_hoc(self, entry: Entry) -> None:
        self._ad_hoc[entry.key] = entry
        excess = len(self._ad_hoc) - self._policy.ad_hoc_entries
        # The oldest few are almost always idle; one in flight is skipped, not waited for.
        for key in list(islice(self._ad_hoc, max(0, excess) + 8)):
            if excess <= 0:
                break
            state = self._entries.get(key)
            if key == entry.key or (state is not None and state.in_flight):
                continue
            self._forget(self._ad_hoc.pop(key))
            excess -= 1

    def _forget(self, entry: Entry) -> None:
        """Drop an ad-hoc entry's state here and, at the next write, from the state store."""
        self._entries.pop(entry.key, None)
        self.dirty.add(ENTRY + entry.key)
        if quota_key(entry) == entry.key:  # a provider-wide quota is shared: keep it
            self._quotas.pop(entry.key, None)
            self.dirty.add(QUOTA + entry.key)

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
        if verdict is None and self._policy.proactive:
            quota = self._quotas.get(quota_key(entry))
            if quota is not None:
                verdict = self._learned_verdict(quota, est_tokens, now)
            if verdict is None and quota is not None and quota.drained is not None:
                verdict = self._drained_verdict(entry, quota, quota.drained, est_tokens, now)
            if verdict is None and entry.limits is not None:
                verdict = self._manual_verdict(entry, est_tokens, now)
            if verdict is None and quota is not None:
                verdict = self._cold(quota, now)
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

    def _cold(self, quota: QuotaState, now: float) -> Verdict | None:
        """Until its first answer teaches an entry's limits, only a few requests go to it: a
        cold burst of 50 against 3 left would otherwise spend 47 round trips on 429s."""
        cap = self._policy.cold_in_flight
        if quota.answered or quota.learned or not cap or quota.in_flight < cap:
            return None
        reason = f"learning its limits: {quota.in_flight} in flight until the first answer"
        return Verdict(reason, "learning", now + 0.5)

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

    def _drained_verdict(
        self, entry: Entry, quota: QuotaState, bucket: DrainedBucket, est_tokens: int, now: float
    ) -> Verdict | None:
        if bucket.expired(now):
            quota.drained = None
            self.dirty.add(quota_key(entry))
            return None
        cost = bucket.cost(est_tokens)
        left = bucket.available(now)
        if cost <= 0 or left >= cost:
            return None
        free_at = bucket.free_at(now, cost)
        reason = (
            f"{bucket.kind}/day spent, refilling at ~{bucket.rate * 3600:.0f}/h: "
            f"this request fits in {_seconds(free_at - now)}"
        )
        return Verdict(reason, "quota_exhausted", free_at)

    def _manual_verdict(self, entry: Entry, est_tokens: int, now: float) -> Verdict | None:
        limits = entry.limits
        assert limits is not None
        quota = self.quota(entry)
        if limits.concurrent_requests and quota.in_flight >= limits.concurrent_requests:
            reason = (
                f"{quota.in_flight} in flight, concurrent_requests {limits.concurrent_requests}"
            )
            return Verdict(reason, "concurrency", now + 1.0)
        for name, kind, period in MANUAL:
            limit = getattr(limits, name)
            cost = 1 if kind == "requests" else est_tokens
            if limit is None or cost <= 0:
                continue
            if cost > limit:
                return Verdict(f"request (~{cost} tokens) exceeds {name} {limit}", "too_large")
            counter = self._counter(entry, quota, name, period)
            if counter.used(now) + cost > limit:
                free_at = counter.free_at(now, cost, limit)
                reason = f"{name} {limit} reached, frees in {_seconds(free_at - now)}"
                daily = period == "day"
                return Verdict(reason, "quota_exhausted" if daily else "rate_limited", free_at)
        return None

    def _counter(
        self, entry: Entry, quota: QuotaState, name: str, period: str
    ) -> SlidingWindow | FixedWindow:
        counter = quota.manual.get(name)
        if counter is None:
            if period != "day" or entry.daily_reset == "rolling":
                counter = SLIDING[period]()
            else:
                counter = FixedWindow()
            quota.manual[name] = counter
        return counter

    def latency_ms(self, entry: Entry) -> float | None:
        state = self._entries.get(entry.key)
        return state.latency_ms if state is not None else None

    def latency(self, entry: Entry) -> Latency | None:
        state = self._entries.get(entry.key)
        if state is None or state.latency_ms is None:
            return None
        return Latency(state.latency_ms, state.latency_at, state.latency_samples)

    def headroom(self, entry: Entry) -> Headroom:
        """Left now per kind, from the longest period known (a daily tier says more about how
        to share than a per-minute window); of two windows of that period, the tighter."""
        now = self.clock()
        best: dict[str, tuple[float, float]] = {}  # kind -> (period length, left)

        def consider(kind: str, period: str, left: float) -> None:
            length = PERIOD_S.get(period, 60.0)
            known = best.get(kind)
            if known is None or length > known[0] or (length == known[0] and left < known[1]):
                best[kind] = (length, left)

        quota = self._quotas.get(quota_key(entry))
        if quota is not None:
            for window in quota.learned.values():
                consider(window.kind, window.period, window.available(now))
            if quota.drained is not None:
                consider(quota.drained.kind, "day", quota.drained.available(now))
        limits = entry.limits
        if limits is not None:
            for name, kind, period in MANUAL:
                limit = getattr(limits, name)
                if limit is None:
                    continue
                counter = quota.manual.get(name) if quota is not None else None
                consider(kind, period, limit - (counter.used(now) if counter else 0.0))
        requests, tokens = best.get("requests"), best.get("tokens")
        return Headroom(requests[1] if requests else None, tokens[1] if tokens else None)

    # -- reservations ------------------------------------------------------------------------

    async def reserve(self, entry: Entry, est_tokens: int) -> Ticket | Verdict:
        return self.acquire(entry, est_tokens)

    async def settle(
        self,
        ticket: Ticket,
        outcome: Outcome,
        snapshot: RateLimitSnapshot | None = None,
        used_tokens: int | None = None,
    ) -> None:
        self.release(ticket, outcome, snapshot, used_tokens)

    async def cancel(self, ticket: Ticket) -> None:
        self.give_back(ticket)

    def acquire(self, entry: Entry, est_tokens: int) -> Ticket | Verdict:
        """`reserve`, synchronously: one event loop makes check-and-reserve atomic."""
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
        if self._policy.proactive:
            for window in quota.learned.values():
                window.reserved += 1 if window.kind == "requests" else est_tokens
            if quota.drained is not None:
                quota.drained.reserve(quota.drained.cost(est_tokens))
            if entry.limits is not None:
                self._reserve_manual(entry, quota, entry.limits, est_tokens, now)
        self.dirty.add(quota_key(entry))
        return Ticket(entry, now, est_tokens, probe)

    def _reserve_manual(
        self, entry: Entry, quota: QuotaState, limits: RateLimits, est_tokens: int, now: float
    ) -> None:
        for name, kind, period in MANUAL:
            if getattr(limits, name) is None:
                continue
            counter = self._counter(entry, quota, name, period)
            amount = 1 if kind == "requests" else est_tokens
            if isinstance(counter, FixedWindow):
                counter.add(now, amount, next_daily_reset(now, entry.daily_reset))
            else:
                counter.add(now, amount)

    def give_back(self, ticket: Ticket) -> None:
        """`cancel`, synchronously: a reservation whose request never reached a verdict."""
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
        """`settle`, synchronously."""
        if ticket.released:
            return
        self.give_back(ticket)
        entry = ticket.entry
        quota = self.quota(entry)
        now = self.clock()
        self._observe_latency(ticket, outcome, now)
        quota.answered = quota.answered or outcome.status is not None
        if used_tokens is not None:
            self._settle_tokens(quota, ticket, used_tokens)
        elif _refused(outcome):
            self._unreserve(quota, ticket)
        if quota.drained is not None:
            cost = quota.drained.cost(ticket.est_tokens)
            quota.drained.settle(ticket.started_at, cost, charged=not _refused(outcome))
        if _drains(entry, outcome):
            self._learn_drained(entry, quota, ticket, outcome)
        if snapshot is not None:
            self._observe(quota, snapshot, entry.preset.refill == "continuous")
            if self._persister is not None and _spends_a_long_cap(snapshot):
                self._persister.wake()
        if outcome.explained and self._policy.proactive:
            self._hold_for_hint(ticket, outcome, quota, now)
        else:
            self._apply(ticket, outcome, now)
        self.dirty.update((entry.key, quota_key(entry), f"provider:{entry.provider}"))

    def _hold_for_hint(
        self, ticket: Ticket, outcome: Outcome, quota: QuotaState, now: float
    ) -> None:
        """An explained 429 needs no cooldown: the counters hold back what does not fit. But a
        fixed window's counters can be wrong about when it reopens (a window the headers do not
        show, another counter): a retry time later than they predict is kept, since sending
        before it only earns another 429. A token bucket's counters are the truth, and its
        retry time is about this request's size: a smaller one may go sooner."""
        if outcome.retry_at is None or ticket.entry.preset.refill == "continuous":
            return
        verdict = self._learned_verdict(quota, ticket.est_tokens, now)
        predicted = verdict.free_at if verdict is not None and verdict.free_at else now
        if outcome.retry_at > predicted + 1.0:
            self._cool(self.state(ticket.entry), outcome, outcome.retry_at, now)

    def _learn_drained(
        self, entry: Entry, quota: QuotaState, ticket: Ticket, outcome: Outcome
    ) -> None:
        """A spent daily bucket no header shows: a new point on its line (see `drained`)."""
        kind, fits_at = outcome.counter, outcome.retry_at
        assert kind is not None and fits_at is not None
        size = 1.0 if kind == "requests" else float(ticket.est_tokens)
        if size <= 0:
            return
        limits = entry.limits
        daily = getattr(limits, f"{kind}_per_day") if limits is not None else None
        ceiling = daily / DAY_S if daily else None
        bucket = quota.drained
        if bucket is None or bucket.kind != kind:
            quota.drained = DrainedBucket.learn(
                kind, size, ticket.started_at, fits_at, ceiling, self.clock()
            )
        else:
            bucket.refused(size, ticket.started_at, fits_at, ceiling)

    def _observe_latency(self, ticket: Ticket, outcome: Outcome, now: float) -> None:
        """Successes and timeouts teach an entry's speed; time to first token for a stream."""
        if outcome.kind not in (OutcomeKind.SUCCESS, OutcomeKind.TIMEOUT):
            return
        end = ticket.first_byte_at or now
        self.state(ticket.entry).observe_latency((end - ticket.started_at) * 1000, now)

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
        for name, kind, _ in MANUAL:
            counter = quota.manual.get(name) if kind == "tokens" else None
            if counter is not None:
                counter.adjust(ticket.started_at, delta)

    def _observe(self, quota: QuotaState, snapshot: RateLimitSnapshot, continuous: bool) -> None:
        for window in snapshot.windows:
            if window.remaining is None:
                continue
            key = f"{window.kind}/{window.period}"
            known = quota.learned.get(key)
            if known is not None and known.observed_at > snapshot.observed_at:
                continue  # state only moves forward: a late response does not undo a newer one
            reserved = quota.in_flight if window.kind == "requests" else quota.in_flight_tokens
            if quota.drained is not None and key == f"{quota.drained.kind}/day":
                quota.drained = None  # the headers show the counter now: they know better
            quota.learned[key] = LearnedWindow.observe(
                window, snapshot.observed_at, reserved, continuous=continuous
            )

    # -- outcomes ---------------------------------------------------------------------------

    def _apply(self, ticket: Ticket, outcome: Outcome, now: float) -> None:
        state = self.state(ticket.entry)
        action = outcome.action
        if action is Action.SUCCEED:
            self._succeeded(state, ticket)
        elif action is Action.COOLDOWN:
            self._cool(state, outcome, self._cooldown_end(state, outcome, now), now)
        elif action is Action.LONG_COOLDOWN:
            # A spent daily cap of an account-wide quota (OpenRouter's free models) is spent for
            # every model of the provider, not just the one that hit it.
            shared = outcome.daily and ticket.entry.preset.quota_scope == "provider"
            target = self._provider_state(ticket.entry.provider) if shared else state
            until = self._long_cooldown_end(target, ticket, outcome, now)
            if until is not None:
                self._cool(target, outcome, until, now)
        elif action is Action.COOLDOWN_PROVIDER:
            provider = self._provider_state(ticket.entry.provider)
            self._cool(provider, outcome, now + self._policy.cooldown_max_s, now)
        elif action is Action.COUNT_FAILURE:
            self._failed(state, ticket, outcome, now)

    def _cooldown_end(self, state: EntryState, outcome: Outcome, now: float) -> float:
        """A stated time if there is one; else the default, doubled for each 429 in a row that
        stated none (NVIDIA, Chutes and a bare Gemini 429 would be re-probed every minute)."""
        if outcome.kind is OutcomeKind.MODEL_NOT_FOUND:
            return outcome.retry_at or now + self._policy.model_not_found_s
        if outcome.retry_at is not None:
            state.unhinted = 0
            return outcome.retry_at
        state.unhinted += 1
        return now + self._policy.cooldown_default_s * 2.0 ** (state.unhinted - 1)

    def _long_cooldown_end(
        self, state: EntryState, ticket: Ticket, outcome: Outcome, now: float
    ) -> float | None:
        """A stated reset, else the longest cooldown; None: no cooldown. A token bucket's daily
        429 states when *this* request fits, while the bucket's size is unknown: each such 429 in
        a row doubles the wait, so a spent daily cap no header shows is not re-probed every
        couple of minutes. The first of a row cools nothing when the bucket's line is known
        (`drained`): it holds back each request until it fits, and a smaller one fits sooner.
        """
        if outcome.retry_at is None:
            return now + self._policy.cooldown_max_s
        if ticket.entry.preset.refill != "continuous" or not outcome.daily:
            return outcome.retry_at
        state.spent_daily += 1
        if state.spent_daily == 1 and self._paced(ticket.entry, outcome):
            return None
        return now + (outcome.retry_at - now) * 2.0 ** (state.spent_daily - 1)

    def _paced(self, entry: Entry, outcome: Outcome) -> bool:
        """Whether the line of a drained bucket paces this entry after this 429."""
        quota = self._quotas.get(quota_key(entry))
        drained = quota.drained if quota is not None else None
        return (
            self._policy.proactive
            and drained is not None
            and drained.kind == outcome.counter
            and _drains(entry, outcome)
        )

    def _succeeded(self, state: EntryState, ticket: Ticket) -> None:
        state.failures = 0
        state.breaker_opens = 0
        state.unhinted = 0
        state.spent_daily = 0
        # State only moves forward: a cooldown set while this request was running stays.
        if state.cooldown is not None and state.cooldown.set_at <= ticket.started_at:
            state.cooldown = None

    def _cool(self, state: EntryState, outcome: Outcome, until: float, now: float) -> None:
        # A floor: "retry-after: 0", a past date or a reset a few seconds gone on a 429 would
        # otherwise send the very next request straight back to the provider.
        until = min(
            max(until, now + self._policy.cooldown_min_s), now + self._policy.cooldown_max_s
        )
        current = state.cooldown
        if current is None or current.until <= now or until >= current.until:
            state.cooldown = Cooldown(until, outcome.kind.value, outcome.message, now)
            if until - now >= WRITE_THROUGH_S and self._persister is not None:
                self._persister.wake()

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
        if state.failures < self._policy.breaker_threshold and not _half_open(state, now):
            if outcome.retry_at:  # e.g. a 503 with Retry-After: honour it
                self._cool(state, outcome, outcome.retry_at, now)
            return
        state.failures = 0
        state.breaker_opens += 1
        length = self._policy.breaker_cooldown_s * 2 ** (state.breaker_opens - 1)
        until = min(max(now + length, outcome.retry_at or 0), now + self._policy.cooldown_max_s)
        reason = f"breaker open after {outcome.message}"
        state.cooldown = Cooldown(until, "breaker", reason, now)

    # -- reporting and persistence -------------------------------------------------------------

    async def report(self, entry: Entry) -> EntryReport:
        return self.report_now(entry)

    def report_now(self, entry: Entry) -> EntryReport:
        now = self.clock()
        verdict = self.blocked(entry, 1)  # one token, so an empty token bucket shows
        return entry_report(
            entry,
            verdict,
            self._entries.get(entry.key),
            self._quotas.get(quota_key(entry)),
            now,
        )

    def export(self, keys: set[str] | None = None) -> dict[str, dict[str, Any]]:
        """State worth keeping across a restart, by key (all keys, or just `keys`)."""
        rows = export_state(self._entries, self._providers, self._quotas, keys, self.clock())
        for key in keys or ():
            if key.startswith((ENTRY, QUOTA)) and key not in rows:
                rows[key] = {}  # forgotten (an ad-hoc entry past the bound): delete its row
        return rows

    def restore(self, rows: dict[str, dict[str, Any]]) -> None:
        restore_state(self._entries, self._providers, self._quotas, rows, self.clock())


def _refused(outcome: Outcome) -> bool:
    """The upstream turned the request away before doing (and counting) any work."""
    status = outcome.status
    return (status is not None and 400 <= status < 500) or (
        outcome.kind is OutcomeKind.CONNECTION_ERROR and status is None
    )


def _drains(entry: Entry, outcome: Outcome) -> bool:
    """A daily 429 of a steadily refilling bucket that names its counter and when this request
    fits: a point on the bucket's line. (A 429 its headers explain lost these on the way.)"""
    return (
        outcome.kind is OutcomeKind.QUOTA_EXHAUSTED
        and outcome.daily
        and outcome.counter is not None
        and outcome.retry_at is not None
        and entry.preset.refill == "continuous"
    )


def _spends_a_long_cap(snapshot: RateLimitSnapshot) -> bool:
    return any(w.remaining == 0 and w.period in ("day", "month") for w in snapshot.windows)


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
