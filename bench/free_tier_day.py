"""`python -m bench.free_tier_day`: a compressed day of free-tier traffic, tracker ON vs OFF.

Five mock providers (chain429.testing.MockProvider) enforce free-tier budgets (requests and
tokens, per minute and per day) and speak four header dialects: Groq, Cerebras, OpenAI, and
"none" twice (Gemini- and NVIDIA-like: no rate-limit headers, so the proxy knows their limits
only from the config's `rate_limits`). The mocks and the in-process proxy (`create_app(...,
tracker=..., clock=...)`) share one accelerated clock, `--speed` times real time, so `--seconds`
of wall time per mode cover `seconds * speed` simulated seconds (default 240x30 s = 2 h). An
aiohttp client sends an open-loop Poisson traffic pattern (PHASES, in requests per simulated
minute, at most `--concurrency` in flight): above any single provider's capacity, above their
sum at the peak, and above what is left once the daily caps run out.

The same traffic (same `--seed`) runs twice, on fresh mocks and a fresh proxy: proactive
tracking ON (the default Policy) and OFF (Policy(proactive=False): reactive only, cooldowns from
429s). Figures per mode:

- served: the share of client requests answered 200, overall and per phase;
- failed while capacity left (target 0): a request whose walk failed while at least one entry
  of its chain could still have taken it, per the mocks' own BudgetTrackers at that instant (no
  await between the walk giving up and the check): every window has room for this request (1
  request, prompt + max_tokens tokens, as the mock counts them) on top of the requests already
  sent to that mock and not yet admitted by it. Listed by the first such entry and why the walk
  passed it over (a tracker check such as `cooldown` or `requests_per_minute`, `headers` for a
  counter learned from headers, or `call 429`);
- upstream 429s per 1,000 client requests (target <= 5): the mocks' `rate_limited` counters,
  also split by the window that refused (RPM, TPM, RPD, TPD);
- the latency skipping adds, two ways: (a) the time spent inside `tracker.acquire()` for the
  entries it refused, summed per request that skipped >= 1 entry; (b) "walk overhead": the
  request's logged latency (from its `RequestFinished` event, which the bench subscribes to
  like any subscriber) minus the duration of the upstream call that served it, for
  served requests that skipped >= 1 entry minus those that skipped none (neither met a 429).
  For contrast, the same for requests that bounced off >= 1 429 (mostly OFF); the mocks answer
  429s at once over loopback, a real upstream adds its round trip to every bounce;
- diagnostics: entries refused for quota although their mock had room ("needless skips"), the
  daily budget left at the end, and 429s ON / OFF.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import math
import random
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from chain429.config.load import parse_config
from chain429.engine.upstream import UpstreamResponse
from chain429.events import RequestFinished
from chain429.http.app import create_app
from chain429.http.errors import Handler
from chain429.http.state import STATE
from chain429.providers.upstream import AiohttpUpstream
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.storage.records import AttemptRecord
from chain429.testing import Budget, MockProvider, Reply
from chain429.testing.budget import Rejection
from chain429.testing.dialects import Dialect
from chain429.testing.responses import prompt_tokens
from chain429.vocabulary import QUOTA_KINDS, Entry, Ticket, Verdict

KEY = "bench-free-tier-key"
CHAIN = "free"
# 08:00 UTC: the Gemini-like preset's daily reset (Pacific midnight) stays out of the run.
SIM_START = datetime(2025, 6, 2, 8, 0, tzinfo=UTC).timestamp()
TARGET_429_PER_1000 = 5.0


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One mock provider: its preset in the proxy, its enforced budget, its headers."""

    id: str
    type: str  # the proxy's preset (decides the header parser and the preset's limits)
    model: str
    dialect: Dialect  # what the mock sends
    budget: Budget
    latency_s: float  # simulated upstream latency of a success
    rate_limits: dict[str, Any] | None = None  # config `rate_limits` (header-less providers)


# Free tiers: per-minute limits as documented, daily caps scaled (250-1,000) so that the day's
# budget is spent within the simulated span. Header-dialect providers carry no config limits
# beyond their preset's.
PROVIDERS: tuple[ProviderSpec, ...] = (
    # Groq: headers give requests/day and tokens/minute; its RPM (30) only the preset knows.
    ProviderSpec("groq", "groq", "llama-3.1-8b-instant", "groq", Budget(30, 1000, 6000), 0.4),
    # Cerebras: requests/day and tokens/minute headers; the token/day cap shows only in a 429.
    ProviderSpec(
        "cerebras", "cerebras", "llama3.1-8b", "cerebras", Budget(30, 900, 8000, 300_000), 0.3
    ),
    # OpenAI-style: requests/minute and tokens/minute headers; the daily cap only in a 429.
    ProviderSpec("openai", "openai", "gpt-4o-mini", "openai", Budget(20, 500, 10_000), 0.8),
    # Gemini-like: no headers at all; the limits come from the config.
    ProviderSpec(
        "gemini",
        "gemini",
        "gemini-2.5-flash",
        "none",
        Budget(15, 250, 20_000),
        1.2,
        {
            "requests_per_minute": 15,
            "requests_per_day": 250,
            "tokens_per_minute": 20_000,
            "daily_reset": "rolling",
        },
    ),
    # NVIDIA-like: no headers, ~40 RPM, no daily cap.
    ProviderSpec(
        "nvidia",
        "nvidia",
        "meta/llama-3.3-70b-instruct",
        "none",
        Budget(40),
        1.5,
        {"requests_per_minute": 40},
    ),
)


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    start: float  # fraction of the simulated span
    end: float
    rpm: float  # offered requests per simulated minute


# The sum of per-minute request limits is 135 RPM (about 110 once tokens per minute bind); the
# largest single provider takes 40. The daily caps add up to ~2,600 requests, spent by the end
# of the peak (at the defaults: 2 simulated hours); from then on only the uncapped NVIDIA-like
# entry is left, and the afternoon is a little above what remains.
PHASES: tuple[Phase, ...] = (
    Phase("morning", 0.00, 0.30, 50.0),
    Phase("peak", 0.30, 0.40, 140.0),
    Phase("afternoon", 0.40, 0.80, 45.0),
    Phase("evening", 0.80, 1.00, 25.0),
)
PROMPT_TOKENS = (40, 80, 150, 250, 400, 700)  # drawn uniformly
MAX_TOKENS = (64, 128, 256)
# The mocks charge prompt + max_tokens against their token windows when a request arrives; the
# usage they report is prompt + this reply (48 tokens, below every max_tokens: a reply never
# outgrows its budget).
REPLY_TEXT = "word " * 38


class FastClock:
    """Simulated epoch seconds: SIM_START plus `speed` times the wall time since `restart`."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._t0 = time.monotonic()

    def restart(self) -> None:
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return SIM_START + (time.monotonic() - self._t0) * self.speed

    def elapsed(self) -> float:
        """Simulated seconds since the restart."""
        return (time.monotonic() - self._t0) * self.speed


# -- per-request records --------------------------------------------------------------------


@dataclass(slots=True)
class WalkRecord:
    sim_t: float  # simulated seconds since the start
    mock_tokens: int  # what the mocks charge this request: prompt + max_tokens
    served: bool = False
    skipped: int = 0
    bounced: int = 0  # calls answered 429 (or another quota refusal)
    walk_ms: float = 0.0
    serving_call_ms: float = 0.0
    skip_ns: int = 0  # time spent in acquire() for refused entries
    room_left: str | None = None  # failure: the first entry whose mock still had room


CURRENT: contextvars.ContextVar[WalkRecord | None] = contextvars.ContextVar(
    "free_tier_walk", default=None
)


class CountingUpstream:
    """The proxy's real upstream client, counting what it sent to each provider.

    With the mocks' own `calls`, that gives the requests on their way to a mock (sent, not yet
    admitted): room that is already promised to them is not room left.
    """

    def __init__(self, inner: AiohttpUpstream, mocks: dict[str, MockProvider]) -> None:
        self.inner = inner
        self.mocks = mocks
        self.sent: Counter[str] = Counter()
        self._recent: dict[str, deque[int]] = {pid: deque(maxlen=256) for pid in mocks}

    async def open(self, entry: Entry, path: str, body: bytes) -> UpstreamResponse:
        self.sent[entry.provider] += 1
        recent = self._recent.get(entry.provider)
        if recent is not None:
            recent.append(mock_tokens(orjson.loads(body)))
        return await self.inner.open(entry, path, body)

    def pending(self, provider: str) -> tuple[int, int]:
        """Requests (and their tokens) sent to `provider` that its mock has not yet seen."""
        mock, recent = self.mocks.get(provider), self._recent.get(provider)
        if mock is None or recent is None:
            return 0, 0
        count = min(max(0, self.sent[provider] - mock.calls), len(recent))
        return count, sum(itertools.islice(reversed(recent), count))


def mock_tokens(body: dict[str, Any]) -> int:
    """What a mock charges a request against its token windows: prompt + max_tokens."""
    max_tokens = body.get("max_tokens")
    return prompt_tokens(body) + (max_tokens if isinstance(max_tokens, int) else 0)


def has_room(mock: MockProvider, tokens: int, pending: tuple[int, int] = (0, 0)) -> bool:
    """Whether the mock's budget would admit one more request of `tokens` right now, after the
    `pending` (requests, tokens) already on their way to it."""
    budget = mock.budget
    if budget is None:
        return True
    concurrent = budget.budget.concurrent
    if concurrent is not None and mock.in_flight + pending[0] >= concurrent:
        return False
    now = budget.clock()
    return all(
        w.wait(now, 1 + pending[0] if w.kind == "requests" else tokens + pending[1]) == 0
        for w in budget.windows
    )


class AuditedTracker(MemoryTracker):
    """The real tracker, plus a stopwatch on refusals and a check of each against the mock."""

    def __init__(
        self,
        policy: Policy,
        clock: Callable[[], float],
        mocks: dict[str, MockProvider],
        upstream: CountingUpstream,
    ) -> None:
        super().__init__(policy, clock)
        self.mocks = mocks
        self.upstream = upstream
        self.skips = 0
        self.needless: Counter[str] = Counter()  # provider -> quota refusals the mock would take

    def acquire(self, entry: Entry, est_tokens: int) -> Ticket | Verdict:
        started = time.perf_counter_ns()
        result = super().acquire(entry, est_tokens)
        spent = time.perf_counter_ns() - started
        if isinstance(result, Verdict):
            self.skips += 1
            record = CURRENT.get()
            if record is not None:
                record.skip_ns += spent
                mock = self.mocks.get(entry.provider)
                if (
                    result.kind in QUOTA_KINDS
                    and mock is not None
                    and has_room(mock, record.mock_tokens, self.upstream.pending(entry.provider))
                ):
                    self.needless[
                        f"{entry.provider}:{verdict_cause(result.reason, result.kind)}"
                    ] += 1
        return result


def walk_context(clock: FastClock) -> Middleware:
    """Open a `WalkRecord` for each chat completion, before its walk starts.

    The tracker's stopwatch (`AuditedTracker.acquire`) finds it through `CURRENT`, also from
    the tasks a waiting request's walk runs in (they copy this context); `WalkObserver` closes
    it when the request's `RequestFinished` event arrives.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/v1/chat/completions":
            return await handler(request)
        try:
            tokens = mock_tokens(orjson.loads(await request.read()))
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            tokens = 0
        token = CURRENT.set(WalkRecord(clock.elapsed(), tokens))
        try:
            return await handler(request)
        finally:
            CURRENT.reset(token)

    return middleware


class WalkObserver:
    """Subscribes to the proxy's `RequestFinished` events: times, skips, bounces, audits.

    It is called synchronously when the request finishes; for a failed walk that is before any
    await since the walk gave up, so the mocks' budgets are read as they were at that instant.
    """

    def __init__(
        self, clock: FastClock, upstream: CountingUpstream, records: list[WalkRecord], limit: int
    ) -> None:
        self.clock, self.upstream, self.records, self.limit = clock, upstream, records, limit

    def __call__(self, event: RequestFinished) -> None:
        record = CURRENT.get()
        log = event.record
        if record is None or event.chain is None or log.outcome not in WALK_ENDS:
            return  # refused before any walk (bad body, no key, ...)
        if len(self.records) < self.limit:
            self.records.append(record)
        # The request's time as the proxy logged it (arrival to answer): the walk plus a
        # constant parse-and-reply cost that cancels out in the skip/no-skip difference.
        record.walk_ms = log.latency_ms
        _count_attempts(record, log.attempts)
        if log.provider is not None:
            record.served = True
            record.serving_call_ms = log.attempts[-1].latency_ms if log.attempts else 0.0
            return
        for entry in event.chain.entries:
            mock = self.upstream.mocks.get(entry.provider)
            pending = self.upstream.pending(entry.provider)
            if mock is not None and has_room(mock, record.mock_tokens, pending):
                mine = [a for a in log.attempts if (a.provider, a.model) == entry_pair(entry)]
                cause = attempt_cause(mine[0]) if mine else "untried"
                record.room_left = f"{entry.provider}:{cause}"
                break


WALK_ENDS = frozenset({"success", "stream_failed", "exhausted", "upstream_rejected"})


def entry_pair(entry: Entry) -> tuple[str, str]:
    return entry.provider, entry.model


def verdict_cause(reason: str, kind: str) -> str:
    """Which of the tracker's checks refused an entry, from its verdict's wording."""
    if reason.startswith("cooling down"):
        return "cooldown-daily" if kind == "quota_exhausted" else "cooldown"
    if " left this " in reason:
        return "headers"  # a counter learned from rate-limit headers
    if " reached, frees in " in reason:
        return reason.split(" ", 1)[0]  # a manual limit: requests_per_minute, ...
    return reason.split(" ", 1)[0]


def attempt_cause(attempt: AttemptRecord) -> str:
    if attempt.skipped:
        return verdict_cause(attempt.reason, attempt.outcome)
    return f"call {attempt.status}"


_WINDOW_NAMES = {
    ("requests", "minute"): "RPM",
    ("requests", "day"): "RPD",
    ("tokens", "minute"): "TPM",
    ("tokens", "day"): "TPD",
}


def count_refusals(mock: MockProvider, provider: str, into: Counter[str]) -> None:
    """Count the mock's refusals by the window that refused (RPM, TPD, ...)."""
    budget = mock.budget
    if budget is None:
        return
    admit = budget.admit

    def counted(tokens: int, in_flight: int) -> Rejection | None:
        rejection = admit(tokens, in_flight)
        if rejection is not None:
            window = _WINDOW_NAMES.get((rejection.kind, rejection.period or ""), rejection.kind)
            into[f"{provider}:{window}"] += 1
        return rejection

    budget.admit = counted  # type: ignore[method-assign]


def _count_attempts(record: WalkRecord, attempts: list[AttemptRecord]) -> None:
    record.skipped = sum(1 for a in attempts if a.skipped)
    record.bounced = sum(1 for a in attempts if not a.skipped and a.outcome in QUOTA_KINDS)


# -- traffic --------------------------------------------------------------------------------


def rate_at(fraction: float) -> float:
    for phase in PHASES:
        if phase.start <= fraction < phase.end:
            return phase.rpm
    return 0.0


def phase_of(fraction: float) -> str:
    for phase in PHASES:
        if phase.start <= fraction < phase.end:
            return phase.name
    return PHASES[-1].name


def arrivals(span_s: float, seed: int) -> list[tuple[float, int, int]]:
    """(simulated second, prompt tokens, max_tokens) of every request: a Poisson process."""
    rng = random.Random(seed)
    out: list[tuple[float, int, int]] = []
    t = 0.0
    while True:
        rpm = max(rate_at(t / span_s), 1e-9)
        t += rng.expovariate(rpm / 60.0)
        if t >= span_s:
            return out
        out.append((t, rng.choice(PROMPT_TOKENS), rng.choice(MAX_TOKENS)))


@dataclass(slots=True)
class ClientResult:
    sim_t: float
    status: int


async def drive(
    url: str,
    schedule: list[tuple[float, int, int]],
    clock: FastClock,
    concurrency: int,
    wall_limit_s: float,
) -> tuple[list[ClientResult], float]:
    """Send the schedule on the simulated clock; returns the results and the worst lag (sim s)."""
    results: list[ClientResult] = []
    gate = asyncio.Semaphore(concurrency)
    lag = 0.0
    headers = {"Authorization": f"Bearer {KEY}"}
    prompts = {n: "lorem " * (n * 4 // 6) for n in PROMPT_TOKENS}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    tasks: set[asyncio.Task[None]] = set()

    async def one(sim_t: float, prompt: int, max_tokens: int) -> None:
        nonlocal lag
        body = {
            "model": CHAIN,
            "messages": [{"role": "user", "content": prompts[prompt]}],
            "max_tokens": max_tokens,
        }
        async with gate:
            lag = max(lag, clock.elapsed() - sim_t)
            try:
                async with session.post(url, json=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
        results.append(ClientResult(sim_t, status))

    deadline = time.monotonic() + wall_limit_s
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        clock.restart()
        for sim_t, prompt, max_tokens in schedule:
            wait = (sim_t - clock.elapsed()) / clock.speed
            if wait > 0:
                await asyncio.sleep(wait)
            if time.monotonic() > deadline:
                break
            task = asyncio.create_task(one(sim_t, prompt, max_tokens))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=max(1.0, deadline + 5 - time.monotonic()))
        leftover = list(tasks)
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)
    return results, lag


# -- one run --------------------------------------------------------------------------------


def proxy_config(mocks: dict[str, MockProvider]) -> str:
    providers = []
    for spec in PROVIDERS:
        provider: dict[str, Any] = {
            "id": spec.id,
            "type": spec.type,
            "api_key": f"sk-bench-{spec.id}",
            "base_url": mocks[spec.id].url,
        }
        if spec.rate_limits:
            provider["rate_limits"] = spec.rate_limits
        providers.append(provider)
    config = {
        "version": 1,
        "settings": {
            "api_keys": [KEY],
            "database_url": "memory",
            "log_level": "error",
            "default_chain": CHAIN,
        },
        "providers": providers,
        "chains": [
            {
                "name": CHAIN,
                "entries": [{"provider": s.id, "model": s.model} for s in PROVIDERS],
            }
        ],
    }
    return json.dumps(config)


@dataclass(slots=True)
class ModeResult:
    mode: str
    requests: int = 0
    served: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failed_with_capacity: int = 0
    failed_with_capacity_by: dict[str, int] = field(default_factory=dict)
    upstream_429: int = 0
    upstream_429_by: dict[str, int] = field(default_factory=dict)  # "provider:window" -> n
    upstream_calls: int = 0
    per_1000: float = 0.0
    skips: int = 0
    needless_skips: dict[str, int] = field(default_factory=dict)
    skip_decision_us: dict[str, float] = field(default_factory=dict)
    overhead_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    extra_ms: dict[str, float] = field(default_factory=dict)
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    served_by: dict[str, int] = field(default_factory=dict)
    daily_left: dict[str, int] = field(default_factory=dict)  # "provider:RPD" -> left at the end
    client_lag_s: float = 0.0
    wall_s: float = 0.0

    @property
    def share(self) -> float:
        return self.served / self.requests if self.requests else 0.0


async def run_mode(mode: str, args: argparse.Namespace) -> ModeResult:
    """One day on fresh mocks and a fresh proxy, with proactive tracking ON or OFF."""
    clock = FastClock(args.speed)
    span = args.seconds * args.speed
    mocks: dict[str, MockProvider] = {}
    refusals: Counter[str] = Counter()
    records: list[WalkRecord] = []
    result = ModeResult(mode)
    async with contextlib.AsyncExitStack() as stack:
        for spec in PROVIDERS:
            mock = MockProvider(
                limits=spec.budget,
                header_dialect=spec.dialect,
                clock=clock,
                models=[spec.model],
                default=Reply(delay=spec.latency_s / args.speed),
                reply_text=REPLY_TEXT,
                record=False,
            )
            await stack.enter_async_context(mock)
            mocks[spec.id] = mock
            count_refusals(mock, spec.id, refusals)
        loaded = parse_config(proxy_config(mocks), env={}, source="<bench>")
        settings = loaded.config.settings
        policy = Policy(
            cooldown_default_s=settings.cooldown_default_ms / 1000,
            cooldown_max_s=settings.cooldown_max_ms / 1000,
            breaker_threshold=settings.breaker_threshold,
            breaker_cooldown_s=settings.breaker_cooldown_ms / 1000,
            proactive=mode == "on",
        )
        client = AiohttpUpstream(connect_timeout_s=settings.connect_timeout_ms / 1000)
        await client.start()
        stack.push_async_callback(client.close)
        upstream = CountingUpstream(client, mocks)
        tracker = AuditedTracker(policy, clock, mocks, upstream)
        app = create_app(loaded, tracker=tracker, upstream=upstream, clock=clock)
        app.middlewares.append(walk_context(clock))
        app[STATE].events.subscribe(WalkObserver(clock, upstream, records, limit=500_000))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/chat/completions"
        schedule = arrivals(span, args.seed)
        started = time.monotonic()
        answers, result.client_lag_s = await drive(
            url, schedule, clock, args.concurrency, args.seconds + 5
        )
        result.wall_s = time.monotonic() - started
        summarize(result, answers, records, mocks, tracker, span)
        result.upstream_429_by = dict(refusals.most_common())
    return result


# -- figures --------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarize(
    result: ModeResult,
    answers: list[ClientResult],
    records: list[WalkRecord],
    mocks: dict[str, MockProvider],
    tracker: AuditedTracker,
    span: float,
) -> None:
    result.requests = len(answers)
    result.served = sum(1 for a in answers if a.status == 200)
    result.statuses = dict(Counter(str(a.status) for a in answers))
    failed = [r for r in records if not r.served]
    with_room = Counter(r.room_left for r in failed if r.room_left is not None)
    result.failed_with_capacity = sum(with_room.values())
    result.failed_with_capacity_by = {str(k): v for k, v in with_room.most_common()}
    result.upstream_429 = sum(m.rate_limited for m in mocks.values())
    for pid, mock in mocks.items():
        budget = mock.budget
        if budget is None:
            continue
        for w in budget.windows:
            if w.period == "day":
                name = _WINDOW_NAMES[(w.kind, w.period)]
                result.daily_left[f"{pid}:{name}"] = w.remaining(budget.clock())
    result.upstream_calls = sum(m.calls for m in mocks.values())
    result.per_1000 = 1000 * result.upstream_429 / result.requests if result.requests else 0.0
    result.skips = tracker.skips
    result.needless_skips = dict(tracker.needless.most_common())
    result.served_by = {pid: m.status_counts.get(200, 0) for pid, m in mocks.items()}

    skipping = [r.skip_ns / 1000 for r in records if r.skipped]
    result.skip_decision_us = {"n": len(skipping), "p50": pct(skipping, 0.5)}
    result.skip_decision_us["p95"] = pct(skipping, 0.95)
    groups: dict[str, list[float]] = {"clean": [], "skipped": [], "bounced": []}
    for r in records:
        if not r.served:
            continue
        overhead = r.walk_ms - r.serving_call_ms
        if r.bounced:
            groups["bounced"].append(overhead)
        elif r.skipped:
            groups["skipped"].append(overhead)
        else:
            groups["clean"].append(overhead)
    for name, values in groups.items():
        result.overhead_ms[name] = {
            "n": len(values),
            "p50": pct(values, 0.5),
            "p95": pct(values, 0.95),
        }
    clean = result.overhead_ms["clean"]
    for name in ("skipped", "bounced"):
        group = result.overhead_ms[name]
        result.extra_ms[f"{name}_p50"] = group["p50"] - clean["p50"]
        result.extra_ms[f"{name}_p95"] = group["p95"] - clean["p95"]

    for phase in PHASES:
        inside = [a for a in answers if phase_of(a.sim_t / span) == phase.name]
        ok = sum(1 for a in inside if a.status == 200)
        result.phases[phase.name] = {
            "requests": len(inside),
            "served": ok,
            "share": ok / len(inside) if inside else math.nan,
        }


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def report(on: ModeResult, off: ModeResult, args: argparse.Namespace) -> Iterator[str]:
    span_h = args.seconds * args.speed / 3600
    yield (
        f"free-tier day: {len(PROVIDERS)} mock providers, {span_h:.1f} simulated h at "
        f"{args.speed:g}x ({args.seconds:g} s wall per mode), concurrency {args.concurrency}"
    )
    yield "  chain: " + " > ".join(
        f"{s.id}[{s.dialect}] {_budget(s.budget)}" for s in PROVIDERS[:3]
    )
    yield "         " + " > ".join(
        f"{s.id}[{s.dialect}] {_budget(s.budget)}" for s in PROVIDERS[3:]
    )
    yield "  traffic (req/sim-min): " + ", ".join(
        f"{p.name} {p.rpm:g} ({p.start:.0%}-{p.end:.0%})" for p in PHASES
    )
    yield ""
    yield f"{'':34}{'ON (proactive)':>16}{'OFF (reactive)':>16}"
    rows: list[tuple[str, str, str]] = [
        ("requests", str(on.requests), str(off.requests)),
        ("served", f"{on.share:.1%}", f"{off.share:.1%}"),
    ]
    for phase in PHASES:
        a, b = on.phases[phase.name], off.phases[phase.name]
        rows.append(
            (f"  {phase.name} ({phase.rpm:g} rpm)", f"{a['share']:.1%}", f"{b['share']:.1%}")
        )
    rows += [
        (
            "failed while capacity left (0)",
            str(on.failed_with_capacity),
            str(off.failed_with_capacity),
        ),
        (
            f"upstream 429s /1000 req (<={TARGET_429_PER_1000:g})",
            _fmt(on.per_1000, 2),
            _fmt(off.per_1000, 2),
        ),
        ("upstream 429s (total)", str(on.upstream_429), str(off.upstream_429)),
        ("upstream calls", str(on.upstream_calls), str(off.upstream_calls)),
        ("entries skipped before sending", str(on.skips), str(off.skips)),
        (
            "  of which the mock had room",
            str(sum(on.needless_skips.values())),
            str(sum(off.needless_skips.values())),
        ),
        (
            "skip decisions/req p50|p95 (us)",
            f"{_fmt(on.skip_decision_us['p50'])}|{_fmt(on.skip_decision_us['p95'])}",
            f"{_fmt(off.skip_decision_us['p50'])}|{_fmt(off.skip_decision_us['p95'])}",
        ),
    ]
    for name, label in (("clean", "no skip"), ("skipped", ">=1 skip"), ("bounced", ">=1 429")):
        a, b = on.overhead_ms[name], off.overhead_ms[name]
        rows.append(
            (
                f"walk overhead ms, {label} p50|p95",
                f"{_fmt(a['p50'], 3)}|{_fmt(a['p95'], 3)}",
                f"{_fmt(b['p50'], 3)}|{_fmt(b['p95'], 3)}",
            )
        )
    for name, label in (("skipped", "skipping"), ("bounced", "a 429 bounce")):
        rows.append(
            (
                f"extra ms from {label} p50|p95",
                f"{_fmt(on.extra_ms[f'{name}_p50'], 3)}|{_fmt(on.extra_ms[f'{name}_p95'], 3)}",
                f"{_fmt(off.extra_ms[f'{name}_p50'], 3)}|{_fmt(off.extra_ms[f'{name}_p95'], 3)}",
            )
        )
    rows.append(("worst client lag (sim s)", _fmt(on.client_lag_s), _fmt(off.client_lag_s)))
    for label, a_text, b_text in rows:
        yield f"{label:34}{a_text:>16}{b_text:>16}"
    yield ""
    ratio = on.per_1000 / off.per_1000 if off.per_1000 else math.nan
    yield f"429s/1000 ON / OFF = {_fmt(ratio, 3)}"
    yield (
        "429s by provider  ON: "
        + _pairs(on.upstream_429_by)
        + "  OFF: "
        + _pairs(off.upstream_429_by)
    )
    yield "served by         ON: " + _pairs(on.served_by) + "  OFF: " + _pairs(off.served_by)
    if on.failed_with_capacity_by or off.failed_with_capacity_by:
        yield (
            "failed, room left ON: "
            + _pairs(on.failed_with_capacity_by)
            + "  OFF: "
            + _pairs(off.failed_with_capacity_by)
        )
    yield "daily left at end ON: " + _pairs(on.daily_left) + "  OFF: " + _pairs(off.daily_left)
    if on.needless_skips:
        yield "needless skips    ON: " + _pairs(on.needless_skips)
    ok_failed = on.failed_with_capacity == 0
    ok_429 = on.per_1000 <= TARGET_429_PER_1000
    yield (
        f"targets (ON): failed with capacity = 0 {'PASS' if ok_failed else 'MISS'}; "
        f"429s/1000 <= {TARGET_429_PER_1000:g} {'PASS' if ok_429 else 'MISS'}"
    )


def _budget(budget: Budget) -> str:
    parts = [
        f"{value}{unit}"
        for value, unit in (
            (budget.rpm, "rpm"),
            (budget.rpd, "rpd"),
            (budget.tpm, "tpm"),
            (budget.tpd, "tpd"),
        )
        if value is not None
    ]
    return "/".join(parts)


def _finite(value: Any) -> Any:
    """NaN (an empty group) as null, so the JSON output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _pairs(values: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items()) or "-"


async def _main(args: argparse.Namespace) -> dict[str, ModeResult]:
    return {mode: await run_mode(mode, args) for mode in ("on", "off")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.free_tier_day",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="wall seconds per mode")
    parser.add_argument("--speed", type=float, default=240.0, help="simulated / real time")
    parser.add_argument("--concurrency", type=int, default=24, help="client requests in flight")
    parser.add_argument("--seed", type=int, default=429)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 60:
        parser.error("--seconds must be within 1..60 (two modes run, each this long)")
    if not 1 <= args.speed <= 1000:
        parser.error("--speed must be within 1..1000")
    if not 1 <= args.concurrency <= 256:
        parser.error("--concurrency must be within 1..256")
    logging.getLogger("chain429").setLevel(logging.ERROR)
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        results: dict[str, ModeResult] = runner(_main(args))
        on, off = results["on"], results["off"]
        if args.json:
            data: dict[str, Any] = {
                "settings": {
                    "seconds": args.seconds,
                    "speed": args.speed,
                    "concurrency": args.concurrency,
                    "seed": args.seed,
                    "simulated_s": args.seconds * args.speed,
                },
            }
            data |= {mode: asdict(r) | {"share": r.share} for mode, r in results.items()}
            data["ratio_429_per_1000_on_off"] = on.per_1000 / off.per_1000 if off.per_1000 else None
            print(json.dumps(_finite(data), indent=2))
        else:
            for line in report(on, off, args):
                print(line)
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
