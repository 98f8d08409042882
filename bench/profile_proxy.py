"""Run 429chain under cProfile, and read back where its time went.

`python -m bench.profile_proxy STATS_FILE -- <429chain args>` serves like `python -m chain429`;
SIGUSR1 starts profiling, SIGUSR2 stops it and writes STATS_FILE, so start-up and warm-up stay
out of the profile. `hot_spots` turns that file into the top functions of our own code
(src/chain429), and `by_package` into the share of self time per package.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import chain429

OUR_CODE = str(Path(chain429.__file__).resolve().parent)


@dataclass(frozen=True, slots=True)
class HotSpot:
    """One function of ours; times are per proxied request, in microseconds (profiled)."""

    function: str
    calls_per_req: float
    self_us: float
    total_us: float

    def as_dict(self) -> dict[str, str | float]:
        return {
            "function": self.function,
            "calls_per_req": round(self.calls_per_req, 2),
            "self_us": round(self.self_us, 2),
            "total_us": round(self.total_us, 2),
        }


# pstats keeps its table in an attribute that typeshed leaves out.
_Row = tuple[int, int, float, float, object]


def _rows(stats_file: Path) -> dict[tuple[str, int, str], _Row]:
    stats = pstats.Stats(str(stats_file))
    table: dict[tuple[str, int, str], _Row] = stats.stats  # type: ignore[attr-defined]
    return table


def hot_spots(stats_file: Path, requests: int, top: int = 10) -> list[HotSpot]:
    """Our functions with the most self time, per request."""
    per = max(requests, 1)
    spots = []
    for (filename, line, name), (_, calls, self_s, total_s, _) in _rows(stats_file).items():
        if not filename.startswith(OUR_CODE):
            continue
        where = filename[len(OUR_CODE) + 1 :].removesuffix(".py").replace("/", ".")
        spots.append(
            HotSpot(f"{where}:{line} {name}", calls / per, self_s / per * 1e6, total_s / per * 1e6)
        )
    spots.sort(key=lambda s: s.self_us, reverse=True)
    return spots[:top]


def by_package(stats_file: Path) -> dict[str, float]:
    """Each package's share of all self time, in percent, largest first."""
    totals: dict[str, float] = {}
    for (filename, _, name), (_, _, self_s, _, _) in _rows(stats_file).items():
        totals[_package(filename, name)] = totals.get(_package(filename, name), 0.0) + self_s
    whole = sum(totals.values()) or 1.0
    shares = {k: round(100 * v / whole, 1) for k, v in totals.items()}
    return dict(sorted(shares.items(), key=lambda kv: kv[1], reverse=True))


def _package(filename: str, name: str) -> str:
    if filename.startswith(OUR_CODE):
        return "chain429"
    if filename == "~":  # C functions: name them by what they are
        if "uvloop" in name or "select" in name or "epoll" in name:
            return "uvloop/poll (C)"
        return "builtins (C)"
    for package in ("aiohttp", "multidict", "yarl", "asyncio", "logging", "orjson", "pydantic"):
        if f"/{package}/" in filename:
            return package
    return "other"


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        print("usage: python -m bench.profile_proxy STATS_FILE -- <429chain args>", file=sys.stderr)
        return 2
    out, args = sys.argv[1], sys.argv[3:]
    from chain429.cli import main as chain_main

    profiler = cProfile.Profile()

    def start(_signum: int, _frame: FrameType | None) -> None:
        profiler.enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        profiler.disable()
        tmp = f"{out}.part"
        profiler.dump_stats(tmp)
        os.replace(tmp, out)  # the file appears whole

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    return chain_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
