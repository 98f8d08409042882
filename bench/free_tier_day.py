"""`python -m bench.free_tier_day`: a compressed day of free-tier traffic, tracker ON vs OFF.

Five mock providers (chain429.testing.MockProvider) enforce free-tier budgets (requests and
tokens, per minute and per day) and speak four header dialects: Groq, Cerebras, OpenAI, and
"none" twice (Gemini- and NVIDIA-like: no rate-limit headers, so the proxy knows their limits
only from the config's `rate_limits`). The mocks and the in-process proxy (`create_app(...,
tracker=..., clock=...)`) share one accelerated clock, `--speed` times real time, so `--seconds`
of wall time per mode cover `seconds * speed` simulated seconds (default 60x120 s = 2 h). An
aiohttp client sends an open-loop Poisson traffic pattern (PHASES, in requests per simulated
minute, at most `--concurrency` in flight): above any single provider's capacity, above their
sum at the peak, and above what is left once the daily caps run out.

The same traffic (same `--seed`) runs twice, on fresh mocks and a fresh proxy: proactive
tracking ON (the default Policy) and OFF (Policy(proactive=False): reactive only, cooldowns from
429s). Figures per mode:

- served, and the shortfall against a perfect-knowledge replay (target 0; bench/replay.py):
  the proxy's own arrival times, each request (prompt + max_tokens tokens, as the mocks charge)
  given to the first entry whose mock budget admits it then. Shortfall = replay served - proxy
  served; negative when the proxy did better (timing). Overall and per phase; with the requests
  the replay served and the proxy failed, by the replay's entry and the proxy's attempt trail
  (from the `RequestFinished` events the bench subscribes to like any subscriber);
- upstream 429s per 1,000 client requests, avoidable (target <= 1) and unavoidable
  (bench/avoidable.py: the first 429 of a limit no header shows and the proxy's config and
  preset do not match, once per day), split by provider and window (RPM, TPM, RPD, TPD);
- the latency skipping adds, two ways: (a) the time spent inside `tracker.acquire()` for the
  entries it refused, summed per request that skipped >= 1 entry; (b) "walk overhead": the
  request's logged latency minus the duration of the upstream call that served it (real ms
  both), for served requests that skipped >= 1 entry minus those that skipped none (neither
  met a 429). For contrast, the same for requests that bounced off >= 1 429 (mostly OFF); the
  mocks answer 429s at once over loopback, a real upstream adds its round trip to every bounce;
- client lag: how late each request was sent against its schedule, in simulated seconds
  (p50, p99, max). A p99 above LAG_WARN_S prints a warning: the proxy then saw bunched traffic,
  not the schedule, and that mode's figures are suspect;
- diagnostics: requests served per entry (proxy and replay), daily budget left at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import json
import logging
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware

from bench.avoidable import WINDOWS, Refusal, split_429s, unknowable_windows
from bench.replay import Arrival, ReplayEntry, replay
from chain429.config.load import parse_config
from chain429.events import RequestFinished
from chain429.http.app import create_app
from chain429.http.errors import Handler
from chain429.http.state import STATE
from chain429.providers.upstream import AiohttpUpstream
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.storage.records import AttemptRecord
from chain429.testing import Budget, MockProvider, Reply
from chain429.testing.budget import Rejection
from chain429.testing.dialects import Dialect, rejection_response
from chain429.testing.responses import prompt_tokens
from chain429.vocabulary import QUOTA_KINDS, Entry, Ticket, Verdict

KEY = "bench-free-tier-key"
CHAIN = "free"
# 08:00 UTC: the Gemini-like preset's daily reset (Pacific midnight) stays out of the run.
SIM_START = datetime(2025, 6, 2, 8, 0, tzinfo=UTC).timestamp()
TARGET_SHORTFALL = 0  # requests the perfect replay served beyond the proxy
TARGET_AVOIDABLE_PER_1000 = 1.0  # avoidable upstream 429s per 1,000 client requests
LAG_WARN_S = 1.0  # client lag p99 (simulated s) above which a mode's figures are suspect
MAX_SECONDS = 150  # wall seconds per mode; two modes run
TRAILS_SHOWN = 12  # attempt trails listed for requests the replay served and the proxy failed


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
    id: int  # the client's request number (X-Bench-Id)
    sim_t: float  # simulated seconds since the start when the proxy received it
    served_by: str | None = None  # the provider that answered 200
    skipped: int = 0
    bounced: int = 0  # calls answered 429 (or another quota refusal)
    walk_ms: float = 0.0  # real ms, arrival to answer
    serving_call_ms: float = 0.0  # real ms of the call that served it
    skip_ns: int = 0  # time spent in acquire() for refused entries
    trail: str = ""  # a failed walk: each attempt as provider:cause


CURRENT: contextvars.ContextVar[WalkRecord | None] = contextvars.ContextVar(
    "free_tier_walk", default=None
)
BENCH_ID = "X-Bench-Id"  # the client numbers its requests, so proxy records meet client results


def mock_tokens(body: dict[str, Any]) -> int:
    """What a mock charges a request against its token windows: prompt + max_tokens."""
    max_tokens = body.get("max_tokens")
    return prompt_tokens(body) + (max_tokens if isinstance(max_tokens, int) else 0)


class TimedTracker(MemoryTracker):
    """The real tracker, plus a stopwatch on the entries it refuses."""

    def __init__(self, policy: Policy, clock: Callable[[], float]) -> None:
        super().__init__(policy, clock)
        self.skips = 0

    def acquire(self, entry: Entry, est_tokens: int) -> Ticket | Verdict:
        started = time.perf_counter_ns()
        result = super().acquire(entry, est_tokens)
        spent = time.perf_counter_ns() - started
        if isinstance(result, Verdict):
            self.skips += 1
            record = CURRENT.get()
            if record is not None:
                record.skip_ns += spent
        return result


def walk_context(clock: FastClock) -> Middleware:
    """Open a `WalkRecord` for each chat completion, before its walk starts.

    The tracker's stopwatch (`TimedTracker.acquire`) finds it through `CURRENT`, also from
    the tasks a waiting request's walk runs in (they copy this context); `WalkObserver` closes
    it when the request's `RequestFinished` event arrives.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/v1/chat/completions":
            return await handler(request)
        arrived = clock.elapsed()
        try:
            bench_id = int(request.headers.get(BENCH_ID, "-1"))
        except ValueError:
            bench_id = -1
        token = CURRENT.set(WalkRecord(bench_id, arrived))
        try:
            return await handler(request)
        finally:
            CURRENT.reset(token)

    return middleware


class WalkObserver:
    """Subscribes to the proxy's `RequestFinished` events: who served, times, skips, trails."""

    def __init__(self, clock: FastClock, records: list[WalkRecord], limit: int) -> None:
        self.clock, self.records, self.limit = clock, records, limit

    def __call__(self, event: RequestFinished) -> None:
        record = CURRENT.get()
        log = event.record
        if record is None or event.chain is None or log.outcome not in WALK_ENDS:
            return  # refused before any walk (bad body, no key, ...)
        if len(self.records) < self.limit:
            self.records.append(record)
        # The request's time as the proxy logged it (arrival to answer, real ms): the walk plus
        # a constant parse-and-reply cost that cancels out in the skip/no-skip difference.
        record.walk_ms = log.latency_ms
        attempts = log.attempts
        record.skipped = sum(1 for a in attempts if a.skipped)
        record.bounced = sum(1 for a in attempts if not a.skipped and a.outcome in QUOTA_KINDS)
        if log.provider is not None and log.status == 200:
            record.served_by = log.provider
            # The walker times its calls on the simulated clock: back to real ms.
            call_ms = attempts[-1].latency_ms if attempts else 0.0
            record.serving_call_ms = call_ms / self.clock.speed
        else:
            record.trail = " > ".join(f"{a.provider}:{attempt_cause(a)}" for a in attempts)


WALK_ENDS = frozenset({"success", "stream_failed", "exhausted", "upstream_rejected"})


def verdict_cause(reason: str, kind: str) -> str:
    """Which of the tracker's checks refused an entry, from its verdict's wording."""
    if reason.startswith("cooling down"):
        return "cooldown-daily" if kind == "quota_exhausted" else "cooldown"
    if " left this " in reason:
        return "headers"  # a counter learned from rate-limit headers
    return reason.split(" ", 1)[0]  # a manual limit (requests_per_minute, ...), learning, ...


def attempt_cause(attempt: AttemptRecord) -> str:
    if attempt.skipped:
        return verdict_cause(attempt.reason, attempt.outcome)
    return f"call {attempt.status}"


def count_refusals(
    mock: MockProvider, provider: str, model: str, clock: FastClock, into: list[Refusal]
) -> None:
    """Record each 429 the mock answers: when, and the window that refused (RPM, TPD, ...)."""
    budget = mock.budget
    if budget is None:
        return
    admit = budget.admit
    dialect = mock.header_dialect

    def counted(tokens: int, in_flight: int) -> Rejection | None:
        rejection = admit(tokens, in_flight)
        # Only 429s: Groq answers a request larger than a whole window with a 413.
        if rejection is not None and rejection_response(dialect, rejection, model)[0] == 429:
            kind, period = rejection.kind, rejection.period
            window = WINDOWS[(kind, period)] if kind != "concurrent" and period else kind
            into.append(Refusal(clock.elapsed(), provider, window))
        return rejection

    budget.admit = counted  # type: ignore[method-assign]


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
    id: int
    sim_t: float  # when the schedule says to send it (simulated seconds since the start)
    ready_t: float  # when the client's loop got to it (later than sim_t: the loop was busy)
    sent_t: float  # when it was sent (later than ready_t: `--concurrency` requests in flight)
    tokens: int  # what the mocks charge it: prompt + max_tokens
    status: int

    @property
    def lag(self) -> float:
        return self.sent_t - self.sim_t


async def drive(
    url: str,
    schedule: list[tuple[float, int, int]],
    clock: FastClock,
    concurrency: int,
    wall_limit_s: float,
) -> list[ClientResult]:
    """Send the schedule on the simulated clock, each request numbered by its place in it."""
    results: list[ClientResult] = []
    gate = asyncio.Semaphore(concurrency)
    prompts = {n: "lorem " * (n * 4 // 6) for n in PROMPT_TOKENS}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int, sim_t: float, prompt: int, max_tokens: int) -> None:
        body = {
            "model": CHAIN,
            "messages": [{"role": "user", "content": prompts[prompt]}],
            "max_tokens": max_tokens,
        }
        headers = {"Authorization": f"Bearer {KEY}", BENCH_ID: str(n)}
        ready_t = clock.elapsed()
        async with gate:
            sent_t = clock.elapsed()
            try:
                async with session.post(url, json=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
        results.append(ClientResult(n, sim_t, ready_t, sent_t, mock_tokens(body), status))

    deadline = time.monotonic() + wall_limit_s
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        clock.restart()
        for n, (sim_t, prompt, max_tokens) in enumerate(schedule):
            wait = (sim_t - clock.elapsed()) / clock.speed
            if wait > 0:
                await asyncio.sleep(wait)
            if time.monotonic() > deadline:
                break
            task = asyncio.create_task(one(n, sim_t, prompt, max_tokens))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=max(1.0, deadline + 5 - time.monotonic()))
        leftover = list(tasks)
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)
    return results


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
    # The perfect-knowledge replay (bench/replay.py) of the same arrivals.
    replay_served: int = 0
    shortfall: int = 0  # replay served - proxy served
    replay_only: int = 0  # requests the replay served and the proxy failed
    replay_only_by: dict[str, int] = field(default_factory=dict)  # by the replay's entry
    replay_only_trails: dict[str, int] = field(default_factory=dict)  # "replay=x | trail" -> n
    proxy_only: int = 0  # requests the proxy served and the replay could not
    proxy_only_by: dict[str, int] = field(default_factory=dict)  # by the proxy's entry
    # Upstream 429s (bench/avoidable.py).
    unknowable: dict[str, list[str]] = field(default_factory=dict)  # provider -> windows
    upstream_429: int = 0
    per_1000: float = 0.0
    avoidable: int = 0
    avoidable_per_1000: float = 0.0
    avoidable_by: dict[str, int] = field(default_factory=dict)  # "provider:window" -> n
    unavoidable: int = 0
    unavoidable_per_1000: float = 0.0
    unavoidable_by: dict[str, int] = field(default_factory=dict)
    upstream_calls: int = 0
    skips: int = 0
    skip_decision_us: dict[str, float] = field(default_factory=dict)
    overhead_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    extra_ms: dict[str, float] = field(default_factory=dict)
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    served_by: dict[str, int] = field(default_factory=dict)
    replay_served_by: dict[str, int] = field(default_factory=dict)
    daily_left: dict[str, int] = field(default_factory=dict)  # "provider:RPD" -> left at the end
    lag_s: dict[str, float] = field(default_factory=dict)  # p50, p99, max (simulated seconds)
    lagged: bool = False  # p99 lag above LAG_WARN_S: the figures are suspect
    wall_s: float = 0.0

    @property
    def share(self) -> float:
        return self.served / self.requests if self.requests else 0.0


@dataclass(slots=True)
class ModeRun:
    """What one mode leaves behind for `summarize`."""

    answers: list[ClientResult]
    records: list[WalkRecord]
    mocks: dict[str, MockProvider]
    refusals: list[Refusal]
    unknowable: dict[str, frozenset[str]]
    tracker: TimedTracker
    span: float


async def run_mode(mode: str, args: argparse.Namespace) -> ModeResult:
    """One day on fresh mocks and a fresh proxy, with proactive tracking ON or OFF."""
    clock = FastClock(args.speed)
    span = args.seconds * args.speed
    mocks: dict[str, MockProvider] = {}
    refusals: list[Refusal] = []
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
            count_refusals(mock, spec.id, spec.model, clock, refusals)
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
        tracker = TimedTracker(policy, clock)
        app = create_app(loaded, tracker=tracker, upstream=client, clock=clock)
        app.middlewares.append(walk_context(clock))
        app[STATE].events.subscribe(WalkObserver(clock, records, limit=500_000))
        # What the proxy itself knows of each limit: its entries' config and preset limits.
        limits = {e.provider: e.limits for e in app[STATE].routes.chains[CHAIN].entries}
        unknowable = {
            s.id: unknowable_windows(s.dialect, s.budget, limits.get(s.id)) for s in PROVIDERS
        }
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/chat/completions"
        schedule = arrivals(span, args.seed)
        started = time.monotonic()
        answers = await drive(url, schedule, clock, args.concurrency, args.seconds + 5)
        result.wall_s = time.monotonic() - started
        summarize(result, ModeRun(answers, records, mocks, refusals, unknowable, tracker, span))
    return result


# -- figures --------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarize(result: ModeResult, run: ModeRun) -> None:
    answers, records, mocks = run.answers, run.records, run.mocks
    result.requests = len(answers)
    result.served = sum(1 for a in answers if a.status == 200)
    result.statuses = dict(Counter(str(a.status) for a in answers))
    result.served_by = {pid: m.status_counts.get(200, 0) for pid, m in mocks.items()}
    result.upstream_calls = sum(m.calls for m in mocks.values())
    result.skips = run.tracker.skips
    compare_with_replay(result, run)
    split_upstream_429s(result, run)
    for pid, mock in mocks.items():
        budget = mock.budget
        if budget is None:
            continue
        for w in budget.windows:
            if w.period == "day":
                name = WINDOWS[(w.kind, w.period)]
                result.daily_left[f"{pid}:{name}"] = w.remaining(budget.clock())

    lags = [a.lag for a in answers]
    result.lag_s = {"p50": pct(lags, 0.5), "p99": pct(lags, 0.99), "max": max(lags, default=0.0)}
    # Its two causes: a busy event loop, and the client's `--concurrency` slots all taken.
    result.lag_s["loop_p99"] = pct([a.ready_t - a.sim_t for a in answers], 0.99)
    result.lag_s["slot_p99"] = pct([a.sent_t - a.ready_t for a in answers], 0.99)
    result.lagged = result.lag_s["p99"] > LAG_WARN_S

    skipping = [r.skip_ns / 1000 for r in records if r.skipped]
    result.skip_decision_us = {"n": len(skipping), "p50": pct(skipping, 0.5)}
    result.skip_decision_us["p95"] = pct(skipping, 0.95)
    groups: dict[str, list[float]] = {"clean": [], "skipped": [], "bounced": []}
    for r in records:
        if r.served_by is None:
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


def compare_with_replay(result: ModeResult, run: ModeRun) -> None:
    """Replay the proxy's arrivals with perfect knowledge; the shortfall and where it arose."""
    by_id = {r.id: r for r in run.records}
    arrived: list[Arrival] = []
    for a in run.answers:
        record = by_id.get(a.id)
        # The proxy's own arrival time; a request it never logged counts from its sending.
        arrived.append(Arrival(a.id, SIM_START + (record.sim_t if record else a.sent_t), a.tokens))
    entries = [ReplayEntry.like(s.id, run.mocks[s.id]) for s in PROVIDERS]
    perfect = replay(arrived, entries)
    result.replay_served = perfect.served
    result.replay_served_by = dict(perfect.by_provider())
    result.shortfall = result.replay_served - result.served
    replay_only: Counter[str] = Counter()
    trails: Counter[str] = Counter()
    proxy_only: Counter[str] = Counter()
    for a in run.answers:
        ideal = perfect.served_by.get(a.id)
        record = by_id.get(a.id)
        if ideal is not None and a.status != 200:
            replay_only[ideal] += 1
            trail = record.trail if record is not None else f"status {a.status}, no walk"
            trails[f"replay={ideal} | {trail}"] += 1
        elif ideal is None and a.status == 200:
            proxy_only[(record.served_by if record is not None else None) or "?"] += 1
    result.replay_only = sum(replay_only.values())
    result.replay_only_by = dict(replay_only.most_common())
    result.replay_only_trails = dict(trails.most_common(TRAILS_SHOWN))
    result.proxy_only = sum(proxy_only.values())
    result.proxy_only_by = dict(proxy_only.most_common())
    for phase in PHASES:
        inside = [a for a in run.answers if phase_of(a.sim_t / run.span) == phase.name]
        ok = sum(1 for a in inside if a.status == 200)
        replayed = sum(1 for a in inside if perfect.served_by.get(a.id) is not None)
        n = len(inside)
        result.phases[phase.name] = {
            "requests": n,
            "served": ok,
            "share": ok / n if n else math.nan,
            "replay_served": replayed,
            "replay_share": replayed / n if n else math.nan,
            "lag_p99_s": pct([a.lag for a in inside], 0.99),
        }


def split_upstream_429s(result: ModeResult, run: ModeRun) -> None:
    """Upstream 429s per 1,000 client requests, avoidable and unavoidable (bench/avoidable.py)."""
    result.unknowable = {p: sorted(w) for p, w in run.unknowable.items() if w}
    split = split_429s(run.refusals, run.unknowable)
    result.avoidable_by = dict(split.avoidable.most_common())
    result.unavoidable_by = dict(split.unavoidable.most_common())
    result.avoidable = split.avoidable.total()
    result.unavoidable = split.unavoidable.total()
    result.upstream_429 = result.avoidable + result.unavoidable
    per = 1000 / result.requests if result.requests else 0.0
    result.per_1000 = result.upstream_429 * per
    result.avoidable_per_1000 = result.avoidable * per
    result.unavoidable_per_1000 = result.unavoidable * per


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _pass(ok: bool) -> str:
    return "PASS" if ok else "MISS"


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
    yield "  limits no header or proxy setting shows: " + (
        " ".join(f"{p}:{'/'.join(w)}" for p, w in on.unknowable.items()) or "-"
    )
    yield ""
    yield f"{'':36}{'ON (proactive)':>18}{'OFF (reactive)':>18}"
    rows: list[tuple[str, str, str]] = [
        ("requests", str(on.requests), str(off.requests)),
        ("served: proxy | perfect replay", _served(on), _served(off)),
        (
            f"shortfall, replay - proxy ({TARGET_SHORTFALL})",
            f"{on.shortfall:+d}" if on.shortfall else "0",
            f"{off.shortfall:+d}" if off.shortfall else "0",
        ),
        (
            "  replay served, proxy failed",
            str(on.replay_only),
            str(off.replay_only),
        ),
        ("  proxy served, replay could not", str(on.proxy_only), str(off.proxy_only)),
    ]
    for phase in PHASES:
        a, b = on.phases[phase.name], off.phases[phase.name]
        rows.append(
            (
                f"  {phase.name} ({phase.rpm:g} rpm) share",
                f"{a['share']:.1%} | {a['replay_share']:.1%}",
                f"{b['share']:.1%} | {b['replay_share']:.1%}",
            )
        )
    rows += [
        ("upstream 429s /1000 req", _fmt(on.per_1000, 2), _fmt(off.per_1000, 2)),
        (
            f"  avoidable /1000 (<={TARGET_AVOIDABLE_PER_1000:g})",
            _fmt(on.avoidable_per_1000, 2),
            _fmt(off.avoidable_per_1000, 2),
        ),
        (
            "  unavoidable /1000",
            _fmt(on.unavoidable_per_1000, 2),
            _fmt(off.unavoidable_per_1000, 2),
        ),
        (
            "upstream 429s avoidable|unavoidable",
            f"{on.avoidable}|{on.unavoidable}",
            f"{off.avoidable}|{off.unavoidable}",
        ),
        ("upstream calls", str(on.upstream_calls), str(off.upstream_calls)),
        ("entries skipped before sending", str(on.skips), str(off.skips)),
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
                f"{_fmt(a['p50'], 2)}|{_fmt(a['p95'], 2)}",
                f"{_fmt(b['p50'], 2)}|{_fmt(b['p95'], 2)}",
            )
        )
    for name, label in (("skipped", "skipping"), ("bounced", "a 429 bounce")):
        rows.append(
            (
                f"extra ms from {label} p50|p95",
                f"{_fmt(on.extra_ms[f'{name}_p50'], 2)}|{_fmt(on.extra_ms[f'{name}_p95'], 2)}",
                f"{_fmt(off.extra_ms[f'{name}_p50'], 2)}|{_fmt(off.extra_ms[f'{name}_p95'], 2)}",
            )
        )
    rows.append(("client lag sim s p50|p99|max", _lag(on), _lag(off)))
    for label, a_text, b_text in rows:
        yield f"{label:36}{a_text:>18}{b_text:>18}"
    yield ""
    for label, by_on, by_off in (
        ("avoidable 429s", on.avoidable_by, off.avoidable_by),
        ("unavoidable 429s", on.unavoidable_by, off.unavoidable_by),
        ("served by proxy", on.served_by, off.served_by),
        ("served by replay", on.replay_served_by, off.replay_served_by),
        ("daily left at end", on.daily_left, off.daily_left),
    ):
        yield f"{label:18}ON: {_pairs(by_on)}  OFF: {_pairs(by_off)}"
    if on.replay_only or on.proxy_only:
        yield (
            "ON, replay served / proxy failed, by the replay's entry: "
            + _pairs(on.replay_only_by)
            + "; proxy served / replay could not: "
            + _pairs(on.proxy_only_by)
        )
        if on.replay_only_trails:
            yield "ON, the proxy's attempts for them (replay's entry | attempt trail):"
            for trail, n in on.replay_only_trails.items():
                yield f"  {n:5}  {trail}"
    for result in (on, off):
        if result.lagged:
            lag = result.lag_s
            worst = max(PHASES, key=lambda p: _or0(result.phases[p.name]["lag_p99_s"]))
            yield (
                f"WARNING ({result.mode.upper()}): the client lagged, p99 {_fmt(lag['p99'], 2)} "
                f"simulated s > {LAG_WARN_S:g} s (worst in the {worst.name}): the proxy saw "
                "bunched traffic, not the schedule, so this mode's figures are suspect. p99 of "
                f"the busy loop {_fmt(lag['loop_p99'], 2)} s (lower --speed, quieter machine), "
                f"of all --concurrency slots taken {_fmt(lag['slot_p99'], 2)} s (raise it)."
            )
    yield (
        f"targets (ON): shortfall = {TARGET_SHORTFALL} {_pass(on.shortfall <= TARGET_SHORTFALL)}; "
        f"avoidable 429s/1000 <= {TARGET_AVOIDABLE_PER_1000:g} "
        f"{_pass(on.avoidable_per_1000 <= TARGET_AVOIDABLE_PER_1000)}"
        + (" (client lagged: suspect)" if on.lagged else "")
    )


def _or0(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def _served(result: ModeResult) -> str:
    return f"{result.served} | {result.replay_served}"


def _lag(result: ModeResult) -> str:
    lag = result.lag_s
    return f"{_fmt(lag['p50'], 1)}|{_fmt(lag['p99'], 1)}|{_fmt(lag['max'], 1)}"


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
    parser.add_argument("--seconds", type=float, default=120.0, help="wall seconds per mode")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated / real time")
    parser.add_argument("--concurrency", type=int, default=24, help="client requests in flight")
    parser.add_argument("--seed", type=int, default=429)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be within 1..{MAX_SECONDS} (two modes run, each this long)")
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
                "targets": {
                    "shortfall": TARGET_SHORTFALL,
                    "avoidable_429_per_1000": TARGET_AVOIDABLE_PER_1000,
                    "lag_p99_warn_s": LAG_WARN_S,
                },
            }
            data |= {mode: asdict(r) | {"share": r.share} for mode, r in results.items()}
            print(json.dumps(_finite(data), indent=2))
        else:
            for line in report(on, off, args):
                print(line)
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
