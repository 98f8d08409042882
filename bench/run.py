"""`python -m bench`: measure 429chain against the same mock called directly, in one run.

Layout (as in shared/PERFORMANCE.md): the proxy under test runs pinned to one CPU; the fast
mock upstream and the load generator (wrk) share the other. Three targets are measured the same
way, one after the other:

- direct: the mock itself, the ceiling;
- baseline: a bare aiohttp server + aiohttp client pass-through (bench/passthrough.py);
- 429chain: `python -m chain429` with one openai-compatible provider (the mock), one chain;
- cached: the same with the response cache on and a temperature-0 request, so every measured
  request is a cache hit (non-stream only).

Then the cost of translation: the same stream through /v1/chat/completions, /v1/messages and
/v1/responses on the `429chain` target (bench/dialects.py); and, in this process, `fastest`
against `ordered` over two mocks of different speeds (bench/strategies.py).

For each: latency at concurrency 1 (non-stream), req/s at concurrency C (non-stream) and full
streams/s at concurrency C, each run after a warm-up. Prints a table with the added latency and
the throughput ratios, and the issue's targets with PASS/MISS; `--json` prints the figures as
JSON instead.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from bench import dialects
from bench.procs import Child, core_busy_seconds, cpu_seconds, free_port, pin_self
from bench.strategies import measure as measure_strategies
from bench.strategies import render as render_strategies
from bench.wrk import INSTALL_HINT, WrkResult, find_wrk, run_wrk, wrk_version

KEY = "bench-proxy-key"
PATH = "/v1/chat/completions"
TARGETS = ("direct", "baseline", "nolog", "429chain", "cached")
MODES = ("latency", "rps", "stream")
GOAL_ADDED_P50_MS = 0.6
GOAL_RPS = 3000.0
GOAL_LOG_RATIO = 0.9
GOAL_RPS_RATIO = 0.6  # issue 7: non-stream req/s at c=64 against the bare pass-through
GOAL_ADDED_OVER_BASELINE_MS = 0.25  # issue 7: p50 at c=1 above the pass-through's
FOREIGN_LIMIT_PCT = 5.0  # others' share of the proxy's CPU above which a run is suspect
BUSY_LIMIT_PCT = 85.0  # a proxy under c=64 load below this was not CPU-bound
_REQUEST: dict[str, Any] = {
    "model": "default",
    "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
    "max_tokens": 32,
}
BODY = orjson.dumps(_REQUEST)
CACHED_BODY = orjson.dumps(_REQUEST | {"temperature": 0})  # deterministic: cacheable
# The proxy always asks upstream for usage; the client asks too, so every target sends the
# same bytes (20 content events, a usage event, [DONE]).
STREAM_BODY = orjson.dumps(_REQUEST | {"stream": True, "stream_options": {"include_usage": True}})

CONFIG = """\
version: 1
settings:
  host: 127.0.0.1
  port: {port}
  api_keys: ["{key}"]
  default_chain: default
  log_level: warning
  database_url: {db}
  log_requests: {log}
  cache: {{enabled: {cache}}}
providers:
  - id: mock
    type: openai-compatible
    api_key: mock-upstream-key
    base_url: http://127.0.0.1:{mock_port}/v1
chains:
  - name: default
    entries:
      - {{provider: mock, model: mock-model}}
"""


@dataclass(slots=True)
class Run:
    """One measured wrk run, with the server's CPU time per request."""

    wrk: WrkResult
    cpu_us_per_req: float | None
    upstream_per_req: float | None = None  # mock calls per request (proxies only)
    busy_pct: float | None = None  # the server's CPU time / wall time
    foreign_pct: float | None = None  # others' use of the proxy's CPU / wall time

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self.wrk.as_dict()
        out["cpu_us_per_req"] = _round(self.cpu_us_per_req, 1)
        if self.upstream_per_req is not None:
            out["upstream_calls_per_req"] = round(self.upstream_per_req, 3)
        out["server_busy_pct"] = _round(self.busy_pct, 1)
        out["foreign_load_pct"] = _round(self.foreign_pct, 1)
        return out


@dataclass(slots=True)
class Target:
    name: str
    port: int
    pid: int  # the process whose CPU time is counted
    runs: dict[str, Run] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Options:
    duration: int
    warmup: int
    concurrency: int
    targets: tuple[str, ...]
    proxy_cpu: int | None
    load_cpu: int | None
    chunks: int
    stream_writes: str
    profile: str | None
    profile_duration: int
    as_json: bool
    strategy_requests: int = 300
    dialects: bool = True
    paired: int = 3


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure 429chain against a bare aiohttp pass-through and the mock itself.",
    )
    parser.add_argument("-d", "--duration", type=int, default=5, help="seconds per run (5)")
    parser.add_argument("-w", "--warmup", type=int, default=2, help="warm-up seconds (2; 0=none)")
    parser.add_argument("-c", "--concurrency", type=int, default=64, help="connections (64)")
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated subset of {','.join(TARGETS)} (direct is always run)",
    )
    parser.add_argument("--proxy-cpu", type=int, default=0, help="CPU for the proxies (0)")
    parser.add_argument("--load-cpu", type=int, default=1, help="CPU for mock and wrk (1)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--chunks", type=int, default=20, help="content events per stream (20)")
    parser.add_argument(
        "--stream-writes",
        choices=["each", "burst"],
        default="each",
        help="mock sends one socket write per SSE event (each, default) or one per stream",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="rps",
        choices=["rps", "stream"],
        help="afterwards, profile 429chain (cProfile) under the c=N load of this mode (rps)",
    )
    parser.add_argument("--profile-duration", type=int, default=5, help="seconds (5)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--strategy-requests",
        type=int,
        default=300,
        help="requests per strategy for fastest vs ordered (300; 0 = skip)",
    )
    parser.add_argument(
        "--paired",
        type=int,
        default=3,
        help="rounds alternating baseline and 429chain for the issue-7 ratios (3; 0 = skip)",
    )
    parser.add_argument(
        "--no-dialects",
        action="store_true",
        help="skip the /v1/messages and /v1/responses translation cost",
    )
    args = parser.parse_args(argv)
    targets = tuple(t for t in TARGETS if t == "direct" or t in args.targets.split(","))
    unknown = set(args.targets.split(",")) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    if args.duration < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--duration must be >= 1, --warmup >= 0, --concurrency >= 1")
    proxy_cpu, load_cpu = _cpus(args.proxy_cpu, args.load_cpu, args.no_pin)
    return Options(
        duration=args.duration,
        warmup=args.warmup,
        concurrency=args.concurrency,
        targets=targets,
        proxy_cpu=proxy_cpu,
        load_cpu=load_cpu,
        chunks=args.chunks,
        stream_writes=args.stream_writes,
        profile=args.profile,
        profile_duration=args.profile_duration,
        as_json=args.json,
        strategy_requests=args.strategy_requests,
        dialects=not args.no_dialects,
        paired=max(0, args.paired),
    )


def _cpus(proxy: int, load: int, no_pin: bool) -> tuple[int | None, int | None]:
    if no_pin:
        return None, None
    allowed = os.sched_getaffinity(0)
    if proxy == load or proxy not in allowed or load not in allowed:
        _say(f"warning: CPUs {proxy} and {load} are not two usable CPUs ({sorted(allowed)});")
        _say("         running unpinned, so the figures are not comparable to the reference.")
        return None, None
    return proxy, load


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    wrk = find_wrk()
    if wrk is None:
        _say(f"bench: {INSTALL_HINT}")
        _say("       (Debian/Ubuntu package `wrk`; the bench needs it as its load generator)")
        return 2
    pin_self(opts.load_cpu)  # this process only waits, but keep it off the proxy's CPU
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        try:
            results = _bench(opts, wrk, Path(tmp))
        except RuntimeError as err:
            _say(f"bench: {err}")
            return 1
    if opts.as_json:
        print(json.dumps(results, indent=2))
    else:
        print(render(results))
    return 0


def _bench(opts: Options, wrk: str, tmp: Path) -> dict[str, Any]:
    started = time.monotonic()
    mock_port = free_port()
    children: list[Child] = []
    try:
        mock = Child(
            "fastmock",
            [
                "-m",
                "bench.fastmock",
                f"--port={mock_port}",
                f"--chunks={opts.chunks}",
                f"--stream-writes={opts.stream_writes}",
            ],
            cpu=opts.load_cpu,
            log_dir=tmp,
        )
        children.append(mock)
        mock.wait_healthy(mock_port)
        targets = [Target("direct", mock_port, mock.pid)]
        if "baseline" in opts.targets:
            port = free_port()
            child = Child(
                "baseline",
                [
                    "-m",
                    "bench.passthrough",
                    f"--port={port}",
                    f"--upstream=http://127.0.0.1:{mock_port}",
                ],
                cpu=opts.proxy_cpu,
                log_dir=tmp,
            )
            children.append(child)
            child.wait_healthy(port)
            targets.append(Target("baseline", port, child.pid))
        for name, log in (("nolog", False), ("429chain", True), ("cached", True)):
            if name not in opts.targets:
                continue
            port = free_port()
            config = _write_config(tmp, port, mock_port, log=log, name=name, cache=name == "cached")
            child = Child(name, _proxy_argv(config, port), cpu=opts.proxy_cpu, log_dir=tmp)
            children.append(child)
            child.wait_healthy(port)
            targets.append(Target(name, port, child.pid))
        for target in targets:
            _check(target, opts.chunks)
        for target in targets:
            for mode in _modes(target):
                _say(f"bench: {target.name:<8} {_MODE_LABEL[mode]} ...")
                target.runs[mode] = _measure(opts, wrk, target, mode, mock_port)
        by_name = {t.name: t for t in targets}
        paired = None
        if opts.paired and {"baseline", "429chain"} <= set(by_name):
            paired = _paired(opts, wrk, by_name["baseline"], by_name["429chain"], mock_port)
        translation = None
        ours = by_name.get("429chain")
        if opts.dialects and ours is not None:
            translation = _translation(opts, wrk, ours)
        profile = None
        if opts.profile:
            profile = _profile(opts, wrk, tmp, mock_port)
    finally:
        for child in reversed(children):
            child.stop()
    strategies = None
    if opts.strategy_requests:
        _say("bench: fastest vs ordered over mocks at 40 ms and 4 ms ...")
        strategies = asyncio.run(measure_strategies(opts.strategy_requests))
    results = _results(opts, wrk, targets, profile, time.monotonic() - started)
    if paired is not None:
        results["paired"] = paired
        results["warnings"] += paired["warnings"]
    if translation is not None:
        results["translation"] = translation
    if strategies is not None:
        results["strategies"] = strategies
    return results


def _translation(opts: Options, wrk: str, target: Target) -> dict[str, Any]:
    """The same stream through chat, Anthropic Messages and Responses (bench/dialects.py)."""
    dialects.check(target.port, KEY)

    def load(url: str, body: bytes, connections: int, seconds: int) -> WrkResult:
        return run_wrk(
            wrk, url, body, key=KEY, connections=connections, seconds=seconds, cpu=opts.load_cpu
        )

    _say("bench: 429chain  stream via chat, /v1/messages, /v1/responses ...")
    runs = dialects.measure(
        target.port,
        target.pid,
        load,
        concurrency=opts.concurrency,
        seconds=opts.duration,
        warmup=opts.warmup,
    )
    return dialects.results(runs, opts.chunks)


def _modes(target: Target) -> tuple[str, ...]:
    """A cache hit is measured as a non-stream answer: latency and req/s."""
    return ("latency", "rps") if target.name == "cached" else MODES


_MODE_LABEL = {"latency": "latency c=1", "rps": "non-stream c=N", "stream": "stream c=N"}


def _proxy_argv(config: Path, port: int) -> list[str]:
    return ["-m", "chain429", "-c", str(config), "-p", str(port), "--log-level", "warning"]


def _write_config(
    tmp: Path,
    port: int,
    mock_port: int,
    *,
    log: bool = True,
    name: str = "429chain",
    cache: bool = False,
) -> Path:
    path = tmp / f"{name}.yaml"
    db = tmp / f"{name}.db"
    text = CONFIG.format(
        port=port,
        key=KEY,
        mock_port=mock_port,
        db=db,
        log="true" if log else "false",
        cache="true" if cache else "false",
    )
    path.write_text(text)
    return path


def _check(target: Target, chunks: int) -> None:
    """One request of each kind must come back whole before any load is sent."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
    try:
        if target.name == "cached":  # the first request stores, the second must hit
            for expected in ("miss", "hit"):
                conn.request("POST", PATH, CACHED_BODY, headers)
                response = conn.getresponse()
                raw = response.read()
                said = response.getheader("X-429chain-Cache")
                if response.status != 200 or said != expected:
                    raise RuntimeError(f"cached: expected a {expected}, got {said}: {raw!r}")
            return
        conn.request("POST", PATH, BODY, headers)
        response = conn.getresponse()
        raw = response.read()
        if response.status != 200 or not orjson.loads(raw).get("choices"):
            raise RuntimeError(f"{target.name}: bad non-stream answer {response.status}: {raw!r}")
        conn.request("POST", PATH, STREAM_BODY, headers)
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    events = [line for line in text.splitlines() if line.startswith("data: ")]
    wanted = chunks + 2  # content events, the usage event, [DONE]
    if response.status != 200 or len(events) != wanted or events[-1] != "data: [DONE]":
        raise RuntimeError(
            f"{target.name}: bad stream ({response.status}, {len(events)} events, "
            f"expected {wanted}): {text[-300:]!r}"
        )


def _mock_requests(mock_port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", mock_port, timeout=10)
    try:
        conn.request("GET", "/stats")
        count: int = orjson.loads(conn.getresponse().read())["requests"]
        return count
    finally:
        conn.close()


def _measure(opts: Options, wrk: str, target: Target, mode: str, mock_port: int) -> Run:
    url = f"http://127.0.0.1:{target.port}{PATH}"
    body = STREAM_BODY if mode == "stream" else BODY
    if target.name == "cached":
        body = CACHED_BODY
    connections = 1 if mode == "latency" else opts.concurrency

    def load(seconds: int) -> WrkResult:
        return run_wrk(
            wrk, url, body, key=KEY, connections=connections, seconds=seconds, cpu=opts.load_cpu
        )

    if opts.warmup:
        load(opts.warmup)
    proxied = target.name != "direct"
    core = opts.proxy_cpu if proxied else None
    upstream_before = _mock_requests(mock_port)
    core_before = core_busy_seconds(core) if core is not None else 0.0
    cpu_before = cpu_seconds(target.pid)
    started = time.monotonic()
    result = load(opts.duration)
    wall = time.monotonic() - started
    cpu = cpu_seconds(target.pid) - cpu_before
    foreign = None
    if core is not None:  # whatever else ran on the proxy's CPU meanwhile
        foreign = max(0.0, core_busy_seconds(core) - core_before - cpu) / wall * 100
    upstream = _mock_requests(mock_port) - upstream_before  # GET /stats is not counted
    per_req = cpu / result.requests * 1e6 if result.requests else None
    calls = upstream / result.requests if proxied and result.requests else None
    return Run(result, per_req, calls, cpu / wall * 100, foreign)


def _paired(
    opts: Options, wrk: str, baseline: Target, ours: Target, mock_port: int
) -> dict[str, Any]:
    """Baseline and 429chain measured back to back, `opts.paired` times: a busy machine's
    noise changes over seconds, so each round's ratio compares like with like, and the
    median of the rounds is the verdict."""
    short = replace(opts, duration=max(2, opts.duration // 2), warmup=0)
    rounds: list[dict[str, Any]] = []
    warnings: list[str] = []
    for n in range(opts.paired):
        # ABBA: whoever goes first alternates, so a drift within a round favours neither.
        first, second = (baseline, ours) if n % 2 == 0 else (ours, baseline)
        _say(f"bench: paired round {n + 1}/{opts.paired} ({first.name} first) ...")
        runs: dict[tuple[str, str], Run] = {}
        for mode in ("rps", "latency"):
            for target in (first, second):
                run = _measure(short, wrk, target, mode, mock_port)
                runs[(target.name, mode)] = run
                warnings += _run_warnings(f"{target.name} (paired round {n + 1})", mode, run)
        base_rps, our_rps = runs[(baseline.name, "rps")], runs[(ours.name, "rps")]
        base_lat, our_lat = runs[(baseline.name, "latency")], runs[(ours.name, "latency")]
        rounds.append(
            {
                "rps_ratio": round(our_rps.wrk.rps / max(base_rps.wrk.rps, 1e-9), 3),
                "added_p50_ms": round(our_lat.wrk.p50_ms - base_lat.wrk.p50_ms, 3),
                "cpu_us": [_round(base_rps.cpu_us_per_req, 0), _round(our_rps.cpu_us_per_req, 0)],
            }
        )
    ratio = statistics.median(r["rps_ratio"] for r in rounds)
    added = statistics.median(r["added_p50_ms"] for r in rounds)
    return {
        "rounds": rounds,
        "warnings": warnings,
        "goals": [
            _goal(f"req/s ÷ pass-through, c={opts.concurrency}", ">=", GOAL_RPS_RATIO, ratio),
            _goal("p50 over pass-through, c=1 (ms)", "<=", GOAL_ADDED_OVER_BASELINE_MS, added),
        ],
    }


def _profile(opts: Options, wrk: str, tmp: Path, mock_port: int) -> dict[str, Any]:
    from bench.profile_proxy import by_package, hot_spots

    mode = opts.profile or "rps"
    _say(f"bench: profiling 429chain (cProfile) under {_MODE_LABEL[mode]} ...")
    port = free_port()
    config = _write_config(tmp, port, mock_port)
    stats_file = tmp / "429chain.prof"
    argv = ["-m", "bench.profile_proxy", str(stats_file), "--", *_proxy_argv(config, port)[2:]]
    url = f"http://127.0.0.1:{port}{PATH}"
    body = STREAM_BODY if mode == "stream" else BODY
    with Child("429chain-profiled", argv, cpu=opts.proxy_cpu, log_dir=tmp) as child:
        child.wait_healthy(port)
        if opts.warmup:
            run_wrk(
                wrk,
                url,
                body,
                key=KEY,
                connections=opts.concurrency,
                seconds=opts.warmup,
                cpu=opts.load_cpu,
            )
        served_before = _mock_requests(mock_port)
        os.kill(child.pid, signal.SIGUSR1)  # profile the measured load only
        result = run_wrk(
            wrk,
            url,
            body,
            key=KEY,
            connections=opts.concurrency,
            seconds=opts.profile_duration,
            cpu=opts.load_cpu,
        )
        os.kill(child.pid, signal.SIGUSR2)
        served = _mock_requests(mock_port) - served_before
        deadline = time.monotonic() + 30
        while not stats_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not stats_file.exists():
            raise RuntimeError(f"the profiled proxy wrote no profile:\n{child.log_tail()}")
    return {
        "mode": mode,
        "seconds": opts.profile_duration,
        "requests_profiled": served,
        "rps_under_profiler": round(result.rps),
        "note": "µs per request, inflated by cProfile: compare them with each other",
        "by_package_pct": by_package(stats_file),
        "hot_spots": [s.as_dict() for s in hot_spots(stats_file, served)],
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _results(
    opts: Options,
    wrk: str,
    targets: list[Target],
    profile: dict[str, Any] | None,
    elapsed: float,
) -> dict[str, Any]:
    by_name = {t.name: t for t in targets}
    direct = by_name["direct"]
    out: dict[str, Any] = {
        "setup": {
            "proxy_cpu": opts.proxy_cpu,
            "load_cpu": opts.load_cpu,
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "concurrency": opts.concurrency,
            "stream_events": opts.chunks,
            "stream_writes": opts.stream_writes,
            "load_generator": wrk_version(wrk),
            "python": sys.version.split()[0],
            "elapsed_s": round(elapsed, 1),
        },
        "targets": {t.name: {m: r.as_dict() for m, r in t.runs.items()} for t in targets},
        "added_ms": {},
        "ratios": {},
    }
    for target in targets[1:]:
        out["added_ms"][target.name] = {
            "p50": round(_lat(target, "p50_ms") - _lat(direct, "p50_ms"), 3),
            "p99": round(_lat(target, "p99_ms") - _lat(direct, "p99_ms"), 3),
        }
    if "cached" in by_name and "429chain" in by_name:
        hit, miss = by_name["cached"], by_name["429chain"]
        out["cache"] = {
            "hit_p50_ms": round(_lat(hit, "p50_ms"), 3),
            "upstream_p50_ms": round(_lat(miss, "p50_ms"), 3),
            "hit_rps": round(_rps(hit, "rps")),
            "hit_rps_over_upstream_rps": round(_rps(hit, "rps") / max(_rps(miss, "rps"), 1e-9), 3),
            # The proxy's own CPU per request: the figure least disturbed by a busy machine.
            "hit_cpu_us": _round(hit.runs["rps"].cpu_us_per_req, 1),
            "upstream_cpu_us": _round(miss.runs["rps"].cpu_us_per_req, 1),
        }
    if "429chain" in by_name:
        ours = by_name["429chain"]
        for other in (t for t in targets if t is not ours and t.name != "cached"):
            out["ratios"][f"429chain/{other.name}"] = {
                "rps": round(_rps(ours, "rps") / max(_rps(other, "rps"), 1e-9), 3),
                "streams": round(_rps(ours, "stream") / max(_rps(other, "stream"), 1e-9), 3),
            }
        added = out["added_ms"]["429chain"]["p50"]
        rps = _rps(ours, "rps")
        out["goals"] = [
            _goal("added p50 latency, c=1 (ms)", "<=", GOAL_ADDED_P50_MS, added),
            _goal(f"non-stream req/s, c={opts.concurrency}", ">=", GOAL_RPS, rps),
        ]
        if "nolog" in by_name:  # issue 4: the request log may cost at most 10 % of req/s
            ratio = rps / max(_rps(by_name["nolog"], "rps"), 1e-9)
            out["goals"].append(_goal("req/s logging on ÷ off", ">=", GOAL_LOG_RATIO, ratio))
    out["warnings"] = _warnings(targets)
    if profile is not None:
        out["profile"] = profile
    return out


def _lat(target: Target, key: str) -> float:
    value: float = getattr(target.runs["latency"].wrk, key)
    return value


def _rps(target: Target, mode: str) -> float:
    return target.runs[mode].wrk.rps


def _goal(name: str, op: str, goal: float, value: float) -> dict[str, Any]:
    ok = value <= goal if op == "<=" else value >= goal
    return {"name": name, "goal": f"{op} {goal:g}", "value": round(value, 3), "pass": ok}


def _warnings(targets: list[Target]) -> list[str]:
    return [
        warning
        for target in targets
        for mode, run in target.runs.items()
        for warning in _run_warnings(target.name, mode, run)
    ]


def _run_warnings(name: str, mode: str, run: Run) -> list[str]:
    """What makes one run's figures suspect: errors, others' CPU, an idle proxy, extra calls."""
    warnings = []
    if run.wrk.errors or run.wrk.non_2xx:
        warnings.append(
            f"{name} {mode}: {run.wrk.errors} socket errors/timeouts, "
            f"{run.wrk.non_2xx} non-2xx answers"
        )
    if run.foreign_pct is not None and run.foreign_pct > FOREIGN_LIMIT_PCT:
        warnings.append(
            f"{name} {mode}: other processes used {run.foreign_pct:.0f}% of the "
            "proxy's CPU during the run; rerun on a quiet machine"
        )
    busy = run.busy_pct
    if mode != "latency" and name != "direct" and busy is not None and busy < BUSY_LIMIT_PCT:
        warnings.append(
            f"{name} {mode}: the proxy was busy only {busy:.0f}% of the run "
            "(a saturated proxy is ~100%): it waited on something"
        )
    expected = 0.0 if name == "cached" else 1.0  # a hit makes no call
    if run.upstream_per_req is not None and abs(run.upstream_per_req - expected) > 0.05:
        warnings.append(f"{name} {mode}: {run.upstream_per_req:.2f} upstream calls per request")
    return warnings


def render(results: dict[str, Any]) -> str:
    """The human-readable table."""
    setup = results["setup"]
    conc = setup["concurrency"]
    pinned = (
        f"proxy on CPU {setup['proxy_cpu']}, mock + wrk on CPU {setup['load_cpu']}"
        if setup["proxy_cpu"] is not None
        else "UNPINNED (figures not comparable)"
    )
    lines = [
        f"429chain bench: {pinned}; {setup['duration_s']} s per run after "
        f"{setup['warmup_s']} s warm-up; {setup['load_generator']}, Python {setup['python']}",
        f"stream = {setup['stream_events']} chunk events + usage + [DONE], mock writes: "
        f"{setup['stream_writes']}; CPU = the server's own CPU time per request",
        "",
        f"{'':<10}{'non-stream, c=1 (ms)':^30}  {f'non-stream, c={conc}':^20}"
        f"  {f'stream, c={conc}':^20}",
        f"{'target':<10}{'p50':>7}{'p99':>7}{'+p50':>8}{'+p99':>8}  "
        f"{'req/s':>9}{'CPU µs':>9}    {'streams/s':>9}{'CPU µs':>9}",
    ]
    targets: dict[str, dict[str, Any]] = results["targets"]
    for name, runs in targets.items():
        added = results["added_ms"].get(name)
        lat, rps, stream = runs["latency"], runs["rps"], runs.get("stream")
        streams = (
            f"{stream['rps']:>9,.0f}{_num(stream['cpu_us_per_req'], '.0f'):>9}"
            if stream
            else f"{'-':>9}{'-':>9}"
        )
        lines.append(
            f"{name:<10}{lat['p50_ms']:>7.3f}{lat['p99_ms']:>7.3f}"
            f"{_num(added and added['p50'], '+.3f'):>8}{_num(added and added['p99'], '+.3f'):>8}  "
            f"{rps['rps']:>9,.0f}{_num(rps['cpu_us_per_req'], '.0f'):>9}    "
            f"{streams}"
        )
    for name, ratio in results["ratios"].items():
        label = name.replace("/", " ÷ ")
        lines.append(f"{label:<42}  {ratio['rps']:>9.2f}{'':>9}    {ratio['streams']:>9.2f}")
    if "goals" in results:
        lines += ["", "targets (issue #2):", *_goal_lines(results["goals"])]
    if "paired" in results:
        paired = results["paired"]
        lines += ["", f"targets (issue #7), median of {len(paired['rounds'])} paired rounds:"]
        lines += _goal_lines(paired["goals"])
        shown = [
            f"{r['rps_ratio']:.2f}, {r['added_p50_ms']:+.3f}, "
            f"{_num(r['cpu_us'][0], '.0f')}/{_num(r['cpu_us'][1], '.0f')}"
            for r in paired["rounds"]
        ]
        lines.append("  rounds (ratio, +p50 ms, CPU µs pass-through/429chain): " + "; ".join(shown))
    if "cache" in results:
        cache = results["cache"]
        lines += [
            "",
            f"cache hit: p50 {cache['hit_p50_ms']:.3f} ms (upstream {cache['upstream_p50_ms']:.3f}"
            f" ms), {cache['hit_rps']:,} req/s = {cache['hit_rps_over_upstream_rps']:.2f}× "
            f"the upstream path; CPU {_num(cache['hit_cpu_us'], '.0f')} µs per hit against "
            f"{_num(cache['upstream_cpu_us'], '.0f')} µs",
        ]
    if "translation" in results:
        lines += dialects.render(results["translation"])
    if "strategies" in results:
        lines += ["", *render_strategies(results["strategies"])]
    for warning in results["warnings"]:
        lines.append(f"warning: {warning}")
    if "profile" in results:
        lines += ["", *_render_profile(results["profile"])]
    lines.append(f"\n(bench took {setup['elapsed_s']:.0f} s)")
    return "\n".join(lines)


def _goal_lines(goals: list[dict[str, Any]]) -> list[str]:
    return [
        f"  {g['name']:<32} {g['goal']:>8}   got {g['value']:>10,.3f}   "
        + ("PASS" if g["pass"] else "MISS")
        for g in goals
    ]


def _render_profile(profile: dict[str, Any]) -> list[str]:
    shares = ", ".join(f"{k} {v:.0f}%" for k, v in list(profile["by_package_pct"].items())[:7])
    lines = [
        f"profile of 429chain under {_MODE_LABEL[profile['mode']]} (cProfile, "
        f"{profile['rps_under_profiler']:,} req/s while profiled; µs per request, inflated):",
        f"  self time by package: {shares}",
        f"  {'self µs':>8}{'total µs':>10}{'calls':>7}  function (src/chain429)",
    ]
    for spot in profile["hot_spots"]:
        lines.append(
            f"  {spot['self_us']:>8.1f}{spot['total_us']:>10.1f}{spot['calls_per_req']:>7.1f}  "
            f"{spot['function']}"
        )
    return lines


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
