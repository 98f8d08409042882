"""`python -m bench.stats_load`: how fast the dashboard's API answers over a big request log.

Seeds a SQLite request log with `--rows` requests (default 100,000, with 1–3 attempts each)
spread over the last 30 days, across 4 providers, 3 chains and 2 keys; starts
`python -m chain429` on it; then asks each route the dashboard and the request log page ask,
`--rounds` times, and prints the median and the slowest answer of each. Figures, not a test:
the e2e suite checks what the routes answer.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.procs import Child, free_port
from chain429.storage.records import AttemptRecord, RequestRecord
from chain429.storage.store import Store
from chain429.vocabulary import RequestOutcome

KEY = "bench-stats-key-0001"
PROVIDERS = ("groq", "cerebras", "openrouter", "gemini")
CHAINS = ("default", "fast", "coding")
CONFIG = """\
version: 1
settings: {{api_keys: ["{key}"], database_url: "{db}", log_retention_days: 31}}
providers:
{providers}
chains:
{chains}
"""
DAY_S = 86_400.0


def records(count: int, now: float, seed: int = 429) -> list[RequestRecord]:
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        tried = rng.choice((1, 1, 1, 2, 3))
        served = rng.random() > 0.03
        providers = rng.sample(PROVIDERS, tried)
        attempts = [
            AttemptRecord(i, p, "m", "rate_limited", 429, 80.0, "429", False)
            for i, p in enumerate(providers[:-1])
        ]
        last = providers[-1]
        attempts.append(
            AttemptRecord(tried - 1, last, "m", "success" if served else "server_error",
                          200 if served else 500, rng.uniform(200, 2000), "", False)
        )  # fmt: skip
        rows.append(
            RequestRecord(
                id=f"req-{n:07d}",
                ts=now - rng.random() * 30 * DAY_S,
                key_label=rng.choice(("sk-…0001", "sk-…0002")),
                chain=rng.choice(CHAINS),
                requested_model=None,
                provider=last if served else None,
                model="m" if served else None,
                stream=rng.random() < 0.5,
                status=200 if served else 503,
                outcome=RequestOutcome.SUCCESS if served else RequestOutcome.EXHAUSTED,
                prompt_tokens=rng.randint(20, 2000),
                completion_tokens=rng.randint(1, 800) if served else 0,
                latency_ms=rng.uniform(200, 3000),
                calls=tried,
                rate_limited=tried - 1,
                attempts=attempts,
                endpoint="/v1/chat/completions",
            )
        )
    return rows


async def seed(db: Path, count: int, now: float) -> None:
    store = await Store.open(f"sqlite:///{db}")
    try:
        rows = records(count, now)
        for start in range(0, len(rows), 2_000):
            await store.insert(rows[start : start + 2_000])
    finally:
        await store.close()


def paths(now: float) -> list[str]:
    """What the dashboard asks at each range, then the request log's first and a deep page."""
    asked = ["/v1/stats/health", "/v1/stats/capacity", "/v1/stats/requests?limit=50"]
    asked.append("/v1/stats/requests?limit=50&offset=50000&outcome=success")
    for span, bucket in ((3_600, "minute"), (DAY_S, "hour"), (30 * DAY_S, "day")):
        since = int(now - span)
        asked += [
            f"/v1/stats/summary?since={since}",
            f"/v1/stats/providers?since={since}",
            f"/v1/stats/chains?since={since}",
            f"/v1/stats/savings?since={since}",
            f"/v1/stats/timeseries?since={since}&bucket={bucket}",
            *(
                f"/v1/stats/timeseries?since={since}&bucket={bucket}&provider={p}"
                for p in PROVIDERS
            ),
        ]
    return asked


async def measure(url: str, asked: list[str], rounds: int) -> list[tuple[str, float, float]]:
    headers = {"Authorization": f"Bearer {KEY}"}
    times: dict[str, list[float]] = {path: [] for path in asked}
    async with aiohttp.ClientSession(url, headers=headers) as session:
        for _ in range(rounds):
            for path in asked:
                started = time.perf_counter()
                async with session.get(path) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{path} answered {response.status}")
                times[path].append((time.perf_counter() - started) * 1000)
    return [(p, statistics.median(t), max(t)) for p, t in times.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args(argv)
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        db, config = Path(tmp) / "log.db", Path(tmp) / "config.yaml"
        started = time.perf_counter()
        asyncio.run(seed(db, opts.rows, now))
        print(f"seeded {opts.rows:,} requests in {time.perf_counter() - started:.1f} s")
        config.write_text(
            CONFIG.format(
                key=KEY,
                db=db,
                providers="\n".join(
                    f"  - {{id: {p}, type: openai-compatible, base_url: "
                    f'"http://127.0.0.1:9/v1", api_key: "sk-x"}}'
                    for p in PROVIDERS
                ),
                chains="\n".join(
                    f"  - {{name: {c}, entries: [{{provider: groq, model: m}}]}}" for c in CHAINS
                ),
            )
        )
        port = free_port()
        argv = ["-m", "chain429", "-c", str(config), "-p", str(port)]
        with Child("429chain", argv, cpu=None, log_dir=Path(tmp)) as proxy:
            # /v1/stats/health answers once the request log is open, not only the server.
            auth = {"Authorization": f"Bearer {KEY}"}
            proxy.wait_healthy(port, "/v1/stats/health", timeout_s=60, headers=auth)
            results = asyncio.run(measure(f"http://127.0.0.1:{port}", paths(now), opts.rounds))
    print(f"{'route':<72} {'p50 ms':>8} {'max ms':>8}")
    for path, median, worst in results:
        print(f"{path:<72} {median:8.1f} {worst:8.1f}")
    print(f"slowest median: {max(r[1] for r in results):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
