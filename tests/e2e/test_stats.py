"""`/v1/stats/*` and `/metrics` through a real server: auth, bad parameters, no store, figures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from chain429.config.load import load_config
from chain429.http.app import create_app
from chain429.http.state import STATE, AppState
from chain429.storage.store import Store
from chain429.vocabulary import Ticket
from tests.e2e.conftest import PROXY_KEY, make_config
from tests.integration.test_queries import D2, api, records

pytestmark = pytest.mark.asyncio

ADMIN_KEY = "sk-admin-test-key-0001"
UPSTREAM = "http://127.0.0.1:9/v1"  # never called
STATS_PATHS = [
    "/v1/stats/summary",
    "/v1/stats/providers",
    "/v1/stats/providers/groq",
    "/v1/stats/chains",
    "/v1/stats/chains/fast",
    "/v1/stats/models",
    "/v1/stats/keys",
    "/v1/stats/requests",
    "/v1/stats/requests/r4",
    "/v1/stats/timeseries",
    "/v1/stats/health",
    "/v1/stats/savings",
    "/v1/stats/capacity",
    "/metrics",
]


@dataclass
class Server:
    url: str
    app: web.Application
    store: Store | None

    @property
    def state(self) -> AppState:
        return self.app[STATE]

    async def get(
        self, path: str, key: str | None = ADMIN_KEY, **params: Any
    ) -> tuple[int, dict[str, str], Any]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}{path}", headers=headers, params=params) as response,
        ):
            text = await response.text()
            try:
                body: Any = json.loads(text)
            except ValueError:
                body = text
            return response.status, dict(response.headers), body


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    runners: list[web.AppRunner] = []
    stores: list[Store] = []

    async def start(*, with_store: bool = True, **settings: Any) -> Server:
        config = make_config(
            {"a": UPSTREAM, "b": UPSTREAM},
            {"default": ["a/m1", "b/m2"], "solo": ["a/m1"]},
            {"admin_keys": [ADMIN_KEY], "database_url": "none", **settings},
            {"a": {"rate_limits": {"requests_per_day": 100, "tokens_per_day": 10_000}}},
        )
        path = tmp_path / f"config-{len(runners)}.yaml"
        path.write_text(json.dumps(config))
        app = create_app(load_config(path, env={}))
        state = app[STATE]
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        store = None
        if with_store:
            store = await Store.open(str(tmp_path / f"log-{len(runners)}.db"))
            stores.append(store)
            await store.insert(records())
            state.store.set(store)
        else:
            state.store.set(None, "request logging is off")
        return Server(f"http://127.0.0.1:{runner.addresses[0][1]}", app, store)

    yield start
    for runner in runners:
        await runner.cleanup()
    for store in stores:
        await store.close()


async def test_every_route_needs_an_admin_key(server: Callable[..., Awaitable[Server]]) -> None:
    s = await server()
    for path in STATS_PATHS:
        for key in (None, PROXY_KEY, "sk-wrong"):  # a proxy key is not an admin key
            status, _, body = await s.get(path, key)
            assert status == 401, (path, key)
            assert body["error"]["type"] == "authentication_error"
        status, _, _ = await s.get(path)
        assert status == 200, path


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/v1/stats/summary", {"since": "yesterday"}, "since"),
        ("/v1/stats/providers", {"until": "-5"}, "until"),
        ("/v1/stats/chains", {"since": "200", "until": "100"}, "since"),
        ("/v1/stats/requests", {"limit": "ten"}, "limit"),
        ("/v1/stats/requests", {"offset": "-1"}, "offset"),
        ("/v1/stats/requests", {"status": "4xx"}, "status"),
        ("/v1/stats/requests", {"status": "42"}, "status"),
        ("/v1/stats/timeseries", {"bucket": "week"}, "bucket"),
        ("/v1/stats/timeseries", {"bucket": "minute", "since": "0"}, "since"),
        ("/v1/stats/savings", {"until": "nan"}, "until"),
    ],
)
async def test_bad_parameters_are_400s_naming_the_parameter(
    server: Callable[..., Awaitable[Server]], path: str, params: dict[str, str], param: str
) -> None:
    s = await server(with_store=False)  # 400 comes before the store is looked at
    status, _, body = await s.get(path, **params)
    assert status == 400
    assert body["error"]["param"] == param
    assert body["error"]["code"] == "invalid_parameter"


async def test_no_store_is_a_503(server: Callable[..., Awaitable[Server]]) -> None:
    s = await server(with_store=False)
    for path in STATS_PATHS:
        status, _, body = await s.get(path)
        if path in ("/v1/stats/capacity", "/metrics"):  # the tracker and the registry only
            assert status == 200, path
            continue
        assert status == 503, path
        assert body["error"]["code"] == "store_unavailable"
        assert "request logging is off" in body["error"]["message"]


async def test_figures_over_http(server: Callable[..., Awaitable[Server]]) -> None:
    s = await server()
    assert s.store is not None
    status, _, body = await s.get("/v1/stats/summary")
    assert status == 200
    assert body == {"summary": await api.summary(s.store)}
    assert body["summary"]["total_requests"] == 7
    # Epoch milliseconds and ISO 8601 both work as times.
    _, _, by_ms = await s.get("/v1/stats/summary", since=str(int(D2 * 1000)))
    _, _, by_iso = await s.get("/v1/stats/summary", since="2026-01-15T00:00:00Z")
    assert by_ms["summary"]["total_requests"] == by_iso["summary"]["total_requests"] == 5
    _, _, page = await s.get("/v1/stats/requests", chain="fast", limit="1")
    assert [r["id"] for r in page["requests"]] == ["r4"]
    assert page["total"] == 4
    _, _, limited = await s.get("/v1/stats/requests", status="429")
    assert ([r["id"] for r in limited["requests"]], limited["total"]) == (["r5"], 1)
    _, _, detail = await s.get("/v1/stats/requests/r4")
    assert [a["provider_id"] for a in detail["attempt_log"]] == ["groq", "openrouter", "cerebras"]
    status, _, body = await s.get("/v1/stats/requests/nope")
    assert (status, body["error"]["code"]) == (404, "request_not_found")
    status, _, body = await s.get("/v1/stats/providers/nobody")
    assert (status, body["error"]["code"]) == (404, "provider_not_found")
    _, _, groq = await s.get("/v1/stats/providers/groq")
    assert (groq["provider_id"], groq["total_requests"]) == ("groq", 3)
    _, _, series = await s.get(
        "/v1/stats/timeseries", bucket="hour", since=str(D2), until=str(D2 + 7200)
    )
    assert (series["bucket"], series["bucket_seconds"]) == ("hour", 3600)
    assert [p["requests"] for p in series["points"]] == [4, 1]
    _, _, default_span = await s.get("/v1/stats/timeseries", bucket="minute")
    assert len(default_span["points"]) == 60
    _, _, health = await s.get("/v1/stats/health")
    assert [p["provider_id"] for p in health["providers"]] == ["a", "b"]  # configured, idle
    _, _, savings = await s.get("/v1/stats/savings")
    assert savings["currency"] == "USD"


async def test_capacity_left_today(server: Callable[..., Awaitable[Server]]) -> None:
    s = await server(with_store=False)
    entry = s.state.routes.chains["solo"].entries[0]
    ticket = s.state.tracker.acquire(entry, 50)
    assert isinstance(ticket, Ticket)
    status, _, body = await s.get("/v1/stats/capacity")
    assert status == 200
    chains = {c["chain_name"]: c for c in body["chains"]}
    solo, default = chains["solo"], chains["default"]
    assert (solo["requests_left"], solo["tokens_left"]) == (99, 9950)
    assert solo["entries"][0]["requests_per_day"] == 100
    assert solo["next_reset_at"] is not None
    # b/m2 has no known daily limit: the total is unknown, the known part is a/m1's.
    assert (default["requests_left"], default["tokens_left"]) == (None, None)
    assert (default["requests_left_known"], default["tokens_left_known"]) == (99, 9950)
    assert default["entries"][1]["requests_left"] is None


async def test_metrics_after_observe(server: Callable[..., Awaitable[Server]]) -> None:
    s = await server()
    metrics = s.state.metrics
    assert metrics is not None
    for record in records():
        metrics.observe(record)
    status, headers, text = await s.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    labels = {"chain": "fast", "provider": "cerebras", "outcome": "success", "status": "200"}
    assert value("chain429_requests_total", **labels) == 2
    assert (
        value("chain429_requests_total", chain="", provider="", outcome="auth_failed", status="401")
        == 1
    )
    assert value("chain429_attempts_total", provider="groq", outcome="rate_limited") == 2
    assert value("chain429_entries_skipped_total", provider="groq", kind="rate_limited") == 1
    assert value("chain429_tokens_total", provider="groq", kind="prompt") == 115
    assert value("chain429_tokens_total", provider="cerebras", kind="completion") == 160
    assert value("chain429_request_latency_seconds_count", chain="fast", stream="false") == 3
    assert value("chain429_request_latency_seconds_sum", chain="smart", stream="true") == 1.0
    assert value("chain429_ttft_seconds_count", chain="fast") == 1
    assert value("chain429_attempt_latency_seconds_count", provider="cerebras") == 3
    assert value("chain429_store_up") == 1
    assert value("chain429_uptime_seconds") > 0


async def test_savings_use_config_price_overrides(
    server: Callable[..., Awaitable[Server]],
) -> None:
    plain = await server()
    _, _, before = await plain.get("/v1/stats/savings")
    some = before["providers"][0]
    model = some["models"][0]
    priced = await server(prices={f"{some['provider_id']}/{model['model']}": [1000.0, 2000.0]})
    _, _, after = await priced.get("/v1/stats/savings")
    row = next(
        m
        for p in after["providers"]
        if p["provider_id"] == some["provider_id"]
        for m in p["models"]
        if m["model"] == model["model"]
    )
    assert row["price_source"] == "config"
    expected = model["prompt_tokens"] / 1e6 * 1000 + model["completion_tokens"] / 1e6 * 2000
    assert row["saved"] == pytest.approx(expected)
