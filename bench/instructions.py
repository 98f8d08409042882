"""`python -m bench.instructions`: CPU instructions per proxied request, counted by valgrind.

On a shared VM, req/s and CPU time per request move by a third from one run to the next;
instruction counts move by about 1 %. Each target (the bare aiohttp pass-through, 429chain
without and with its request log) serves `--base` and then `--requests` non-stream requests
from the mock, in two runs under cachegrind; the difference of the two counts, divided by the
difference of the request numbers, leaves start-up and warm-up out. What remains is the
user-space instructions of one request: the kernel's part (sockets, the same for every target)
is not counted, so 429chain ÷ pass-through here is a little above what `make bench` measures.

`--top N` names the functions (C level: the interpreter, SQLite, aiohttp's parsers) where
429chain's count exceeds the pass-through's. Needs `valgrind` (apt-get install valgrind).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import aiohttp

from bench.procs import Child, free_port
from bench.run import BODY, KEY, _proxy_argv, _write_config

TARGETS = ("baseline", "nolog", "429chain")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--requests", type=int, default=1800, help="requests in the long run")
    parser.add_argument("--base", type=int, default=300, help="requests in the short run")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--top", type=int, default=0, help="functions to name (0: none)")
    opts = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("bench.instructions needs valgrind: apt-get install valgrind", file=sys.stderr)
        return 2
    targets = [t for t in opts.targets.split(",") if t]
    with tempfile.TemporaryDirectory(prefix="bench-instr-") as tmp:
        counts = {t: _per_request(Path(tmp), t, opts.base, opts.requests) for t in targets}
    print(f"instructions per non-stream request (valgrind; {opts.requests - opts.base} counted)")
    base = counts.get("baseline")
    for name, (per, _) in counts.items():
        ratio = f"   {per / base[0]:.2f}× the pass-through" if base and name != "baseline" else ""
        print(f"  {name:<9} {per:>10,.0f}{ratio}")
    if opts.top and base and "429chain" in counts:
        print(f"\nwhere 429chain's count exceeds the pass-through's (per request, top {opts.top}):")
        extra = counts["429chain"][1]
        extra.subtract(base[1])
        for function, n in extra.most_common(opts.top):
            print(f"  {n:>9,.0f}  {function}")
    return 0


def _per_request(tmp: Path, target: str, short: int, long: int) -> tuple[float, Counter[str]]:
    _say(f"instructions: {target} ...")
    a = _count(tmp, target, short)
    b = _count(tmp, target, long)
    functions: Counter[str] = Counter()
    for name in set(a) | set(b):
        functions[name] = round((b[name] - a[name]) / (long - short))
    total = (sum(b.values()) - sum(a.values())) / (long - short)
    return total, functions


def _count(tmp: Path, target: str, requests: int) -> Counter[str]:
    """Instructions by function over one whole life of `target` that served `requests`."""
    mock_port, port = free_port(), free_port()
    out = tmp / f"{target}-{requests}.cachegrind"
    wrapper = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        f"--cachegrind-out-file={out}",
    ]
    mock_argv = ["-m", "bench.fastmock", f"--port={mock_port}"]
    with Child("mock", mock_argv, cpu=None, log_dir=tmp) as mock:
        mock.wait_healthy(mock_port)
        with Child(
            target, _argv(tmp, target, port, mock_port), cpu=None, log_dir=tmp, wrapper=wrapper
        ) as proxy:
            proxy.wait_healthy(port, timeout_s=300)
            asyncio.run(_send(port, 100))  # the same warm-up in both runs
            asyncio.run(_send(port, requests))
    return _functions(out)


def _argv(tmp: Path, target: str, port: int, mock_port: int) -> list[str]:
    if target == "baseline":
        upstream = f"--upstream=http://127.0.0.1:{mock_port}"
        return ["-m", "bench.passthrough", f"--port={port}", upstream]
    config = _write_config(tmp, port, mock_port, log=target != "nolog", name=target)
    return _proxy_argv(config, port)


async def _send(port: int, requests: int, concurrency: int = 8) -> None:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    left = iter(range(requests))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for _ in left:
                async with session.post(url, data=BODY, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"the proxy answered {response.status}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def _functions(path: Path) -> Counter[str]:
    """A cachegrind output file's instruction counts, summed by function."""
    counts: Counter[str] = Counter()
    function = "?"
    with path.open() as lines:
        for line in lines:
            if line.startswith("fn="):
                function = line[3:].strip()
            elif line[:1].isdigit():
                parts = line.split()
                if len(parts) >= 2:
                    counts[function] += int(parts[1])
    return counts


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
