"""bench-day's figures per mode, and the text report of ON beside OFF."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.day_scenario import PHASES, PROVIDERS
from chain429.testing import Budget

TARGET_SHORTFALL = 0  # requests the perfect replay served beyond the proxy
TARGET_AVOIDABLE_PER_1000 = 1.0  # avoidable upstream 429s per 1,000 client requests
LAG_WARN_S = 1.0  # client lag p99 (simulated s) above which a mode's figures are suspect


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


def strict_json(value: Any) -> Any:
    """NaN (an empty group) as null, so the JSON output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strict_json(v) for v in value]
    return value


def _pairs(values: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items()) or "-"
