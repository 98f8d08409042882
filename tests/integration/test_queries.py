"""The stats queries on a real store: known records, every figure checked exactly.

Runs on a SQLite file (before and after pruning into daily rollups) and on the live Postgres
at 127.0.0.1:5432 (a throwaway database, dropped afterwards; skipped if Postgres is down).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chain429.http import stats_shapes as shape
from chain429.providers.presets import get_preset
from chain429.storage import queries
from chain429.storage.queries import Filters
from chain429.storage.queries.filters import UNFILTERED
from chain429.storage.records import AttemptRecord, RequestRecord
from chain429.storage.store import Store

pytestmark = pytest.mark.asyncio

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
D1 = dt.datetime(2026, 1, 10, tzinfo=dt.UTC).timestamp()  # pruned day
D2 = D1 + 5 * 86_400  # retained day
T2 = D2 + 600


class api:
    """The queries through `http.stats_shapes`: the JSON `/v1/stats/*` serves."""

    @staticmethod
    async def summary(store: Store, filters: Filters = UNFILTERED) -> dict[str, Any]:
        return shape.summary(await queries.summary(store, filters))

    @staticmethod
    async def providers(store: Store) -> list[dict[str, Any]]:
        return shape.groups(await queries.providers(store))

    @staticmethod
    async def provider(store: Store, provider_id: str) -> dict[str, Any] | None:
        found = await queries.provider(store, provider_id)
        return shape.group(found, "models") if found is not None else None

    @staticmethod
    async def chains(store: Store) -> list[dict[str, Any]]:
        return shape.groups(await queries.chains(store))

    @staticmethod
    async def chain(store: Store, name: str) -> dict[str, Any] | None:
        found = await queries.chain(store, name)
        return shape.group(found, "providers") if found is not None else None

    @staticmethod
    async def models(store: Store) -> list[dict[str, Any]]:
        return shape.groups(await queries.models(store))

    @staticmethod
    async def keys(store: Store) -> list[dict[str, Any]]:
        return shape.groups(await queries.keys(store))

    @staticmethod
    async def request_page(
        store: Store, filters: Filters = UNFILTERED, **kw: Any
    ) -> dict[str, Any]:
        return shape.request_page(await queries.request_page(store, filters, **kw))

    @staticmethod
    async def timeseries(
        store: Store, filters: Filters, bucket: int, since: float, until: float
    ) -> list[dict[str, Any]]:
        points = await queries.timeseries(store, filters, bucket, since, until)
        return [shape.time_point(point) for point in points]

    @staticmethod
    async def health(store: Store, now: float, known: list[str]) -> list[dict[str, Any]]:
        return [shape.provider_health(p) for p in await queries.health(store, now, known)]

    @staticmethod
    async def savings(store: Store, **kw: Any) -> dict[str, Any]:
        return shape.savings(await queries.savings(store, **kw))

    @staticmethod
    async def request_detail(store: Store, request_id: str) -> dict[str, Any] | None:
        found = await queries.request_detail(store, request_id)
        return shape.request_detail(*found) if found is not None else None


def _attempt(
    seq: int, provider: str, outcome: str, status: int | None, ms: float, **kw: Any
) -> AttemptRecord:
    model = {"groq": "llama", "cerebras": "qwen", "openrouter": "x"}[provider]
    return AttemptRecord(
        seq, provider, model, outcome, status, ms, kw.get("reason", ""), kw.get("skipped", False)
    )


def records() -> list[RequestRecord]:
    def rec(rid: str, ts: float, **kw: Any) -> RequestRecord:
        base: dict[str, Any] = {
            "key_label": "k1",
            "chain": "fast",
            "requested_model": "fast",
            "provider": None,
            "model": None,
            "stream": False,
            "status": 200,
            "outcome": "success",
        }
        base.update(kw)
        return RequestRecord(id=rid, ts=ts, **base)

    return [
        rec(
            "r1",
            D1 + 3600,
            provider="groq",
            model="llama",
            prompt_tokens=100,
            completion_tokens=50,
            total_tokens=150,
            latency_ms=200,
            calls=1,
            attempts=[_attempt(0, "groq", "success", 200, 180)],
        ),
        rec(
            "r2",
            D1 + 7200,
            key_label="k2",
            provider="cerebras",
            model="qwen",
            prompt_tokens=200,
            completion_tokens=100,
            total_tokens=300,
            latency_ms=900,
            calls=2,
            rate_limited=1,
            attempts=[
                _attempt(0, "groq", "rate_limited", 429, 100),
                _attempt(1, "cerebras", "success", 200, 700),
            ],
        ),
        rec(
            "r3",
            T2,
            provider="groq",
            model="llama",
            stream=True,
            prompt_tokens=10,
            completion_tokens=20,
            total_tokens=30,
            latency_ms=100,
            ttft_ms=50,
            calls=1,
            attempts=[_attempt(0, "groq", "success", 200, 90)],
        ),
        rec(
            "r4",
            T2 + 30,
            provider="cerebras",
            model="qwen",
            prompt_tokens=40,
            completion_tokens=60,
            total_tokens=100,
            latency_ms=300,
            calls=2,
            skipped=1,
            attempts=[
                _attempt(0, "groq", "rate_limited", None, 0, skipped=True, reason="cooling"),
                _attempt(1, "openrouter", "upstream_error", 500, 50, reason="HTTP 500"),
                _attempt(2, "cerebras", "success", 200, 200),
            ],
        ),
        rec(
            "r5",
            T2 + 90,
            key_label="k2",
            chain="smart",
            status=429,
            outcome="exhausted",
            latency_ms=500,
            calls=2,
            rate_limited=2,
            error="All entries Rate Limited (groq 429; cerebras 429); 100% spent",
            attempts=[
                _attempt(0, "groq", "rate_limited", 429, 100),
                _attempt(1, "cerebras", "rate_limited", 429, 120),
            ],
        ),
        rec(
            "r6",
            T2 + 100,
            key_label="unknown",
            chain=None,
            requested_model=None,
            status=401,
            outcome="auth_failed",
            latency_ms=4,
            error="Invalid API key.",
        ),
        rec(
            "r7",
            T2 + 3700,
            key_label="k2",
            chain="smart",
            provider="groq",
            model="llama",
            stream=True,
            outcome="stream_failed",
            prompt_tokens=5,
            tokens_estimated=True,
            latency_ms=1000,
            calls=1,
            error="stream idle timeout",
            attempts=[_attempt(0, "groq", "timeout", None, 1000)],
        ),
    ]


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(str(tmp_path / "log.db"))
    await store.insert(records())
    yield store
    await store.close()


@pytest.fixture
async def pg_store() -> AsyncIterator[Store]:
    asyncpg = pytest.importorskip("asyncpg")
    name = f"chain429_stats_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"no Postgres at 127.0.0.1:5432: {exc}")
    await admin.execute(f'CREATE DATABASE "{name}"')
    store = await Store.open(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        await store.insert(records())
        yield store
    finally:
        await store.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


def ms(ts: float) -> int:
    return round(ts * 1000)


# -- expectations ----------------------------------------------------------------------------


def usage(**kw: Any) -> dict[str, Any]:
    """A usage block: zeros, then `kw` (snake_case names → the API's)."""
    names = {
        "requests": "total_requests",
        "tokens": "total_tokens",
        "prompt": "total_prompt_tokens",
        "completion": "total_completion_tokens",
        "last": "last_request_timestamp",
        "ok": "successful_requests",
        "failed": "failed_requests",
        "success_rate": "success_rate",
        "fallbacks": "waterfall_requests",
        "waterfall_rate": "waterfall_rate",
        "limited": "rate_limited_met",
        "skipped_requests": "skipped_requests",
        "skipped": "entries_skipped",
        "calls": "upstream_calls",
        "estimated": "estimated_token_requests",
        "avg": "avg_latency_ms",
        "rolled": "rolled_up_requests",
    }
    out: dict[str, Any] = {v: 0 for v in names.values()}
    out.update(last_request_timestamp=None, success_rate=None, waterfall_rate=None)
    out.update({names[k]: v for k, v in kw.items()})
    return out


async def check_summary(store: Store, pruned: bool) -> None:
    got = await api.summary(store)
    expected = usage(
        requests=7,
        tokens=580,
        prompt=355,
        completion=230,
        last=ms(T2 + 3700),
        ok=4,
        failed=3,
        success_rate=0.5714,
        fallbacks=2,
        waterfall_rate=0.5,
        limited=3,
        skipped_requests=1,
        skipped=1,
        calls=6 if pruned else 9,
        estimated=1,
        avg=429.1,
        rolled=2 if pruned else 0,
    )
    outcomes = {"auth_failed": 1, "exhausted": 1, "stream_failed": 1, "success": 2 if pruned else 4}
    assert got == {**expected, "outcomes": outcomes}
    # A time range: only the retained day's first hour.
    recent = await api.summary(store, Filters(since=D2, until=D2 + 3600))
    assert recent["total_requests"] == 4
    assert recent["successful_requests"] == 2
    assert recent["rolled_up_requests"] == 0
    # The pruned day alone: from the rollups (or the rows) alike.
    old = await api.summary(store, Filters(since=D1, until=D1 + 86_400))
    assert (old["total_requests"], old["total_tokens"], old["waterfall_requests"]) == (2, 450, 1)
    assert old["avg_latency_ms"] == 550.0
    assert old["last_request_timestamp"] == (ms(D1) if pruned else ms(D1 + 7200))


async def check_providers(store: Store, pruned: bool) -> None:
    got = await api.providers(store)
    groq_attempts = (
        {"attempts": 3, "attempt_successes": 1, "attempt_failures": 2, "attempts_429": 1}
        if pruned
        else {"attempts": 5, "attempt_successes": 2, "attempt_failures": 3, "attempts_429": 2}
    )
    groq = {
        "provider_id": "groq",
        **usage(
            requests=3,
            tokens=180,
            prompt=115,
            completion=70,
            last=ms(T2 + 3700),
            ok=2,
            failed=1,
            success_rate=0.6667,
            waterfall_rate=0.0,
            calls=2 if pruned else 3,
            estimated=1,
            avg=433.3,
            rolled=1 if pruned else 0,
        ),
        **groq_attempts,
        "times_skipped": 1,
        "avg_attempt_latency_ms": 396.7 if pruned else 294.0,
    }
    cerebras = {
        "provider_id": "cerebras",
        **usage(
            requests=2,
            tokens=400,
            prompt=240,
            completion=160,
            last=ms(T2 + 30),
            ok=2,
            success_rate=1.0,
            fallbacks=2,
            waterfall_rate=1.0,
            limited=1,
            skipped_requests=1,
            skipped=1,
            calls=2 if pruned else 4,
            avg=600.0,
            rolled=1 if pruned else 0,
        ),
        "attempts": 2 if pruned else 3,
        "attempt_successes": 1 if pruned else 2,
        "attempt_failures": 1,
        "attempts_429": 1,
        "times_skipped": 0,
        "avg_attempt_latency_ms": 160.0 if pruned else 340.0,
    }
    openrouter = {
        "provider_id": "openrouter",
        **usage(),
        "attempts": 1,
        "attempt_successes": 0,
        "attempt_failures": 1,
        "attempts_429": 0,
        "times_skipped": 0,
        "avg_attempt_latency_ms": 50.0,
    }
    assert got == [groq, cerebras, openrouter]
    one = await api.provider(store, "groq")
    assert one is not None
    assert {k: v for k, v in one.items() if k != "models"} == groq
    assert [m["model"] for m in one["models"]] == ["llama"]
    assert one["models"][0]["total_requests"] == 3
    assert await api.provider(store, "nobody") is None


async def check_chains(store: Store, pruned: bool) -> None:
    got = await api.chains(store)
    assert [c["chain_name"] for c in got] == ["smart", "fast"]
    smart, fast = got
    assert smart == {
        "chain_name": "smart",
        **usage(
            requests=2,
            prompt=5,
            last=ms(T2 + 3700),
            failed=2,
            success_rate=0.0,
            limited=2,
            calls=3,
            estimated=1,
            avg=750.0,
        ),
    }
    assert fast == {
        "chain_name": "fast",
        **usage(
            requests=4,
            tokens=580,
            prompt=350,
            completion=230,
            last=ms(T2 + 30),
            ok=4,
            success_rate=1.0,
            fallbacks=2,
            waterfall_rate=0.5,
            limited=1,
            skipped_requests=1,
            skipped=1,
            calls=3 if pruned else 6,
            avg=375.0,
            rolled=2 if pruned else 0,
        ),
    }
    one = await api.chain(store, "fast")
    assert one is not None
    assert one["total_requests"] == 4
    assert [(p["provider_id"], p["total_requests"]) for p in one["providers"]] == [
        ("cerebras", 2),
        ("groq", 2),
    ]
    assert await api.chain(store, "nope") is None


async def check_models_and_keys(store: Store) -> None:
    got = [(m["provider_id"], m["model"], m["total_requests"]) for m in await api.models(store)]
    assert got == [("groq", "llama", 3), ("cerebras", "qwen", 2)]
    keys = {k["key_label"]: k for k in await api.keys(store)}
    assert {k: (v["total_requests"], v["total_tokens"]) for k, v in keys.items()} == {
        "k1": (3, 280),
        "k2": (3, 300),
        "unknown": (1, 0),
    }
    assert [k["key_label"] for k in await api.keys(store)] == ["k2", "unknown", "k1"]


async def check_timeseries(store: Store, pruned: bool) -> None:
    hours = await api.timeseries(store, Filters(), 3600, D2, D2 + 7200)
    assert hours == [
        {
            "timestamp": ms(D2),
            "time": "2026-01-15T00:00:00+00:00",
            "requests": 4,
            "successes": 2,
            "errors": 2,
            "fallbacks": 1,
            "rate_limited": 2,
            "entries_skipped": 1,
            "prompt_tokens": 50,
            "completion_tokens": 80,
            "total_tokens": 130,
            "avg_latency_ms": 226.0,
            "latency_p50_ms": 200.0,
            "latency_p95_ms": 290.0,
        },
        {
            "timestamp": ms(D2 + 3600),
            "time": "2026-01-15T01:00:00+00:00",
            "requests": 1,
            "successes": 0,
            "errors": 1,
            "fallbacks": 0,
            "rate_limited": 0,
            "entries_skipped": 0,
            "prompt_tokens": 5,
            "completion_tokens": 0,
            "total_tokens": 0,
            "avg_latency_ms": 1000.0,
            "latency_p50_ms": None,
            "latency_p95_ms": None,
        },
    ]
    minutes = await api.timeseries(store, Filters(), 60, D2 + 600, D2 + 780)
    assert [(p["timestamp"], p["requests"], p["latency_p50_ms"]) for p in minutes] == [
        (ms(D2 + 600), 2, 200.0),
        (ms(D2 + 660), 2, None),
        (ms(D2 + 720), 0, None),
    ]
    groq = await api.timeseries(store, Filters(provider="groq"), 3600, D2, D2 + 3600)
    assert [(p["requests"], p["total_tokens"], p["latency_p95_ms"]) for p in groq] == [
        (1, 30, 100.0)
    ]
    days = await api.timeseries(store, Filters(), 86_400, D1, D2 + 86_400)
    assert [p["requests"] for p in days] == [2, 0, 0, 0, 0, 5]
    first = days[0]
    assert (first["successes"], first["fallbacks"], first["rate_limited"]) == (2, 1, 1)
    assert (first["total_tokens"], first["avg_latency_ms"]) == (450, 550.0)
    # Percentiles need the rows: gone once the day is rolled up.
    assert first["latency_p50_ms"] == (None if pruned else 550.0)


async def check_requests(store: Store, pruned: bool) -> None:
    page = await api.request_page(store)
    ids = ["r7", "r6", "r5", "r4", "r3"] + ([] if pruned else ["r2", "r1"])
    assert [r["id"] for r in page["requests"]] == ids
    assert page["total"] == len(ids)
    r4 = next(r for r in page["requests"] if r["id"] == "r4")
    assert r4 == {
        "id": "r4",
        "timestamp": ms(T2 + 30),
        "chain_name": "fast",
        "provider_id": "cerebras",
        "model": "qwen",
        "prompt_tokens": 40,
        "completion_tokens": 60,
        "total_tokens": 100,
        "latency_ms": 300.0,
        "http_status": 200,
        "attempts": 2,
        "time": "2026-01-15T00:10:30+00:00",
        "key_label": "k1",
        "requested_model": "fast",
        "stream": False,
        "outcome": "success",
        "tokens_estimated": False,
        "ttft_ms": None,
        "skipped": 1,
        "rate_limited": 0,
        "fallback": True,
        "error": None,
        "endpoint": None,
    }
    assert [
        r["id"] for r in (await api.request_page(store, Filters(chain="fast")))["requests"]
    ] == (["r4", "r3"] + ([] if pruned else ["r2", "r1"]))
    smart = await api.request_page(store, outcome="exhausted")
    assert [r["id"] for r in smart["requests"]] == ["r5"]
    # The HTTP status, exactly: a stream that failed after its 200 is still a 200.
    assert [r["id"] for r in (await api.request_page(store, status=429))["requests"]] == ["r5"]
    assert [r["id"] for r in (await api.request_page(store, status=401))["requests"]] == ["r6"]
    assert (await api.request_page(store, status=200))["total"] == len(ids) - 2
    assert (await api.request_page(store, status=500))["total"] == 0
    failed_200 = await api.request_page(store, status=200, outcome="stream_failed")
    assert [r["id"] for r in failed_200["requests"]] == ["r7"]
    found = await api.request_page(store, q="rate limited")
    assert [r["id"] for r in found["requests"]] == ["r5"]
    assert (await api.request_page(store, q="100%"))["total"] == 1
    assert (await api.request_page(store, q="9%"))["total"] == 0  # % is literal
    assert (await api.request_page(store, q="_"))["total"] == 0  # so is _
    window = await api.request_page(store, Filters(since=T2 + 30, until=T2 + 100))
    assert [r["id"] for r in window["requests"]] == ["r5", "r4"]
    paged = await api.request_page(store, limit=2, offset=1)
    assert [r["id"] for r in paged["requests"]] == ["r6", "r5"]
    assert (paged["total"], paged["limit"], paged["offset"]) == (len(ids), 2, 1)
    assert (await api.request_page(store, limit=10_000))["limit"] == 500
    detail = await api.request_detail(store, "r4")
    assert detail is not None
    assert detail["attempt_log"] == [
        {
            "seq": 0,
            "provider_id": "groq",
            "model": "llama",
            "outcome": "rate_limited",
            "http_status": None,
            "latency_ms": 0.0,
            "reason": "cooling",
            "skipped": True,
        },
        {
            "seq": 1,
            "provider_id": "openrouter",
            "model": "x",
            "outcome": "upstream_error",
            "http_status": 500,
            "latency_ms": 50.0,
            "reason": "HTTP 500",
            "skipped": False,
        },
        {
            "seq": 2,
            "provider_id": "cerebras",
            "model": "qwen",
            "outcome": "success",
            "http_status": 200,
            "latency_ms": 200.0,
            "reason": "",
            "skipped": False,
        },
    ]
    assert await api.request_detail(store, "nope") is None


async def check_health(store: Store) -> None:
    now = D2 + 910
    got = {p["provider_id"]: p for p in await api.health(store, now, ["mistral", "groq"])}
    assert sorted(got) == ["cerebras", "groq", "mistral", "openrouter"]
    groq = got["groq"]
    assert groq["last_hour"] == {
        "calls": 2,
        "successes": 1,
        "errors": 0,
        "rate_limited": 1,
        "error_rate": 0.0,
        "rate_limit_rate": 0.5,
        "avg_latency_ms": 90.0,
        "latency_p50_ms": 90.0,
        "latency_p95_ms": 90.0,
    }
    assert groq["last_5m"]["calls"] == 1
    assert groq["last_5m"]["latency_p50_ms"] is None
    assert groq["status"] == "healthy"
    assert groq["latency_trend"] == {"direction": None, "ratio": None}
    assert [(t["calls"], t["latency_p50_ms"]) for t in groq["trend"][9:]] == [
        (0, None),
        (1, 90.0),
        (1, None),
    ]
    assert len(groq["trend"]) == 12
    assert got["openrouter"]["status"] == "failing"
    assert got["openrouter"]["last_5m"]["error_rate"] == 1.0
    cerebras = got["cerebras"]
    assert cerebras["latency_trend"] == {"direction": "steady", "ratio": 1.0}
    assert cerebras["last_hour"]["latency_p50_ms"] == 200.0
    assert got["mistral"]["status"] == "idle"
    assert got["mistral"]["last_hour"]["calls"] == 0


async def check_savings(store: Store) -> None:
    groq = get_preset("groq")
    got = await api.savings(
        store,
        presets={"groq": groq, "cerebras": get_preset("cerebras")},
        prices={"cerebras/qwen": (1.0, 2.0)},
    )
    g_in, g_out = groq.price_for("llama")
    groq_saved = round(115 / 1e6 * g_in + 70 / 1e6 * g_out, 6)
    cerebras_saved = round(240 / 1e6 * 1.0 + 160 / 1e6 * 2.0, 6)
    assert got["currency"] == "USD"
    assert got["total_saved"] == round(groq_saved + cerebras_saved, 6)
    assert (got["total_prompt_tokens"], got["total_completion_tokens"]) == (355, 230)
    by_id = {p["provider_id"]: p for p in got["providers"]}
    assert by_id["cerebras"]["models"] == [
        {
            "model": "qwen",
            "requests": 2,
            "prompt_tokens": 240,
            "completion_tokens": 160,
            "total_tokens": 400,
            "input_price_per_m": 1.0,
            "output_price_per_m": 2.0,
            "price_source": "config",
            "saved": cerebras_saved,
        }
    ]
    assert by_id["groq"]["saved"] == groq_saved
    assert by_id["groq"]["models"][0]["price_source"] == "preset_default"
    unpriced = await api.savings(store)
    assert unpriced["total_saved"] == 0
    assert {m["price_source"] for p in unpriced["providers"] for m in p["models"]} == {None}


async def check_all(store: Store, pruned: bool) -> None:
    await check_summary(store, pruned)
    await check_providers(store, pruned)
    await check_chains(store, pruned)
    await check_models_and_keys(store)
    await check_timeseries(store, pruned)
    await check_requests(store, pruned)
    await check_health(store)
    await check_savings(store)


class CountingFetcher:
    """The real store, counting the rows each statement brings back."""

    def __init__(self, store: Store) -> None:
        self.store, self.rows = store, 0

    async def fetch(self, statement: Any) -> list[dict[str, Any]]:
        rows = await self.store.fetch(statement)
        self.rows += len(rows)
        return rows


async def check_timeseries_reads_aggregates(store: Store) -> None:
    # 3,000 successes with 3,000 different latencies, one day bucket: the percentiles come from
    # a few hundred latency bins, not 3,000 rows, and stay within the bins' 10 %.
    latencies = [20 + i * 1.61 for i in range(3_000)]  # 20 ms to about 4.85 s
    await store.insert(
        [
            RequestRecord(
                f"many-{i}", T2 + 86_400 * 3 + i, "k", "big", None, "groq", "m", False, 200,
                "success", latency_ms=latency, calls=1,
            )
            for i, latency in enumerate(latencies)
        ]
    )  # fmt: skip
    fetcher = CountingFetcher(store)
    day = D2 + 86_400 * 3
    points = await queries.timeseries(fetcher, Filters(chain="big"), 86_400, day, day + 86_400)
    (point,) = [shape.time_point(p) for p in points]
    assert point["requests"] == 3_000
    assert fetcher.rows < 400
    exact = sorted(latencies)
    for p, field in ((0.5, "latency_p50_ms"), (0.95, "latency_p95_ms")):
        truth = shape.percentile(exact, p)
        assert truth is not None
        assert 0.9 * truth <= point[field] <= truth


async def test_sqlite_timeseries_reads_aggregates(sqlite_store: Store) -> None:
    await check_timeseries_reads_aggregates(sqlite_store)


async def test_postgres_timeseries_reads_aggregates(pg_store: Store) -> None:
    await check_timeseries_reads_aggregates(pg_store)


async def test_sqlite_every_figure(sqlite_store: Store) -> None:
    await check_all(sqlite_store, pruned=False)


async def test_sqlite_totals_survive_pruning(sqlite_store: Store) -> None:
    assert await sqlite_store.prune(D2) == 2
    await check_all(sqlite_store, pruned=True)


async def test_postgres_every_figure(pg_store: Store) -> None:
    await check_summary(pg_store, pruned=False)
    await check_timeseries(pg_store, pruned=False)
    assert await pg_store.prune(D2) == 2
    await check_all(pg_store, pruned=True)
