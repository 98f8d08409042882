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

The providers and the traffic are in bench/day_scenario.py, the text report in
bench/day_report.py; this module runs the day and works out the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import json
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware

from bench.avoidable import WINDOWS, Refusal, split_429s, unknowable_windows
from bench.day_report import (
    LAG_WARN_S,
    TARGET_AVOIDABLE_PER_1000,
    TARGET_SHORTFALL,
    ModeResult,
    report,
    strict_json,
)
from bench.day_scenario import (
    CHAIN,
    KEY,
    PHASES,
    PROMPT_TOKENS,
    PROVIDERS,
    REPLY_TEXT,
    SIM_START,
    arrivals,
    phase_of,
)
from bench.replay import Arrival, ReplayEntry, replay
from chain429.config.load import parse_config
from chain429.events import RequestFinished
from chain429.http.app import create_app
from chain429.http.errors import Handler
from chain429.http.state import STATE
from chain429.providers.upstream import AiohttpUpstream
from chain429.quota.tracker import MemoryTracker, Policy
from chain429.storage.records import AttemptRecord
from chain429.testing import MockProvider, Reply
from chain429.testing.budget import Rejection
from chain429.testing.dialects import rejection_response
from chain429.testing.responses import prompt_tokens
from chain429.vocabulary import QUOTA_KINDS, Entry, Ticket, Verdict

MAX_SECONDS = 150  # wall seconds per mode; two modes run
TRAILS_SHOWN = 12  # attempt trails listed for requests the replay served and the proxy failed


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
            print(json.dumps(strict_json(data), indent=2))
        else:
            for line in report(on, off, args):
                print(line)
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
