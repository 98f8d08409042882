"""`fastest` against `ordered`: median latency through 429chain over mocks of different speeds.

Two mock providers answer after different delays (the slow one listed first), and the same
config is served twice in this process, once per strategy. Each proxy gets the same number of
sequential requests, alternating between the two so machine noise hits both alike; the figure
is the ratio of their median latencies. Run alone: `python -m bench.strategies`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from chain429.config.load import load_config
from chain429.http.app import create_app
from chain429.testing import MockProvider, Reply

KEY = "bench-strategy-key"
BODY = orjson.dumps({"model": "default", "messages": [{"role": "user", "content": "hi"}]})


def _config(slow: MockProvider, fast: MockProvider, strategy: str) -> dict[str, Any]:
    return {
        "version": 1,
        "settings": {"api_keys": [KEY], "database_url": "none", "strategy": strategy},
        "providers": [
            {"id": "slow", "type": "openai-compatible", "api_key": "k", "base_url": slow.url},
            {"id": "fast", "type": "openai-compatible", "api_key": "k", "base_url": fast.url},
        ],
        "chains": [
            {
                "name": "default",
                "entries": [
                    {"provider": "slow", "model": "m"},
                    {"provider": "fast", "model": "m"},
                ],
            }
        ],
    }


async def _serve(config: dict[str, Any], tmp: Path, name: str) -> tuple[web.AppRunner, str]:
    path = tmp / f"{name}.yaml"
    path.write_text(json.dumps(config))
    runner = web.AppRunner(create_app(load_config(path, env={})), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/v1/chat/completions"


async def measure(
    requests: int = 200, slow_ms: float = 40.0, fast_ms: float = 4.0
) -> dict[str, Any]:
    """Median and p90 latency per strategy, and the share the fast entry served."""
    slow = MockProvider(default=Reply(delay=slow_ms / 1000), record=False)
    fast = MockProvider(default=Reply(delay=fast_ms / 1000), record=False)
    runners: list[web.AppRunner] = []
    await slow.start()
    await fast.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-strategies-") as tmp:
            urls = {}
            for strategy in ("ordered", "fastest"):
                config = _config(slow, fast, strategy)
                runner, urls[strategy] = await _serve(config, Path(tmp), strategy)
                runners.append(runner)
            latencies: dict[str, list[float]] = {s: [] for s in urls}
            fast_served: dict[str, int] = {s: 0 for s in urls}
            headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
            async with aiohttp.ClientSession(headers=headers) as session:
                for _ in range(requests):
                    for strategy, url in urls.items():
                        started = time.perf_counter()
                        async with session.post(url, data=BODY) as response:
                            await response.read()
                            if response.status != 200:
                                raise RuntimeError(f"{strategy}: HTTP {response.status}")
                            provider = response.headers["X-429chain-Provider"]
                        latencies[strategy].append((time.perf_counter() - started) * 1000)
                        fast_served[strategy] += provider == "fast"
    finally:
        for runner in runners:
            await runner.cleanup()
        await slow.close()
        await fast.close()
    out: dict[str, Any] = {
        "requests_each": requests,
        "slow_mock_ms": slow_ms,
        "fast_mock_ms": fast_ms,
    }
    for strategy, values in latencies.items():
        out[strategy] = {
            "p50_ms": round(statistics.median(values), 2),
            "p90_ms": round(statistics.quantiles(values, n=10)[-1], 2),
            "fast_share": round(fast_served[strategy] / requests, 3),
        }
    out["fastest_over_ordered_p50"] = round(out["fastest"]["p50_ms"] / out["ordered"]["p50_ms"], 3)
    return out


def render(result: dict[str, Any]) -> list[str]:
    lines = [
        f"strategies: mocks at {result['slow_mock_ms']:g} ms (listed first) and "
        f"{result['fast_mock_ms']:g} ms, {result['requests_each']} requests each, alternating",
        f"  {'strategy':<10}{'p50 ms':>9}{'p90 ms':>9}{'fast share':>12}",
    ]
    for strategy in ("ordered", "fastest"):
        row = result[strategy]
        lines.append(
            f"  {strategy:<10}{row['p50_ms']:>9.2f}{row['p90_ms']:>9.2f}{row['fast_share']:>12.0%}"
        )
    lines.append(f"  fastest ÷ ordered, p50: {result['fastest_over_ordered_p50']:.3f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.strategies")
    parser.add_argument("-n", "--requests", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(measure(args.requests))
    print(json.dumps(result, indent=2) if args.json else "\n".join(render(result)))


if __name__ == "__main__":
    main()
