"""`Metrics`: one registry per instance, counts from records, gauges read from the state."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from prometheus_client.parser import text_string_to_metric_families

from chain429.http.metrics import Metrics
from chain429.http.state import AppState
from chain429.storage.records import AttemptRecord, RequestRecord
from chain429.vocabulary import Verdict


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def record(**kw: Any) -> RequestRecord:
    base: dict[str, Any] = {
        "id": "r1",
        "ts": 0.0,
        "key_label": "k",
        "chain": "c",
        "requested_model": "c",
        "provider": "p",
        "model": "m",
        "stream": False,
        "status": 200,
        "outcome": "success",
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "latency_ms": 250.0,
        "calls": 1,
        "attempts": [AttemptRecord(0, "p", "m", "success", 200, 200.0, "", False)],
    }
    base.update(kw)
    return RequestRecord(**base)


def test_each_instance_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()  # no "Duplicated timeseries" error: nothing global
    one.observe(record())
    assert (
        samples(one)[
            (
                "chain429_requests_total",
                (("chain", "c"), ("outcome", "success"), ("provider", "p"), ("status", "200")),
            )
        ]
        == 1
    )
    assert not any(name == "chain429_requests_total" for name, _ in samples(two))


def test_observe_counts_requests_attempts_tokens_latency() -> None:
    metrics = Metrics()
    metrics.observe(record())
    metrics.observe(record(stream=True, ttft_ms=120.0, latency_ms=2000.0))
    got = samples(metrics)
    assert got[("chain429_tokens_total", (("kind", "prompt"), ("provider", "p")))] == 6
    assert got[("chain429_attempts_total", (("outcome", "success"), ("provider", "p")))] == 2
    latency = (
        "chain429_request_latency_seconds_bucket",
        (("chain", "c"), ("le", "0.25"), ("stream", "false")),
    )
    assert got[latency] == 1
    assert got[("chain429_ttft_seconds_sum", (("chain", "c"),))] == 0.12
    # No state bound: the scrape-time gauges are described but empty.
    assert not any(name == "chain429_uptime_seconds" for name, _ in got)


def test_gauges_read_the_bound_state_at_scrape_time() -> None:
    entries = [SimpleNamespace(key=f"p/m{i}", provider="p") for i in range(3)]
    verdicts = {
        "p/m0": Verdict("cooling", "rate_limited", 10.0),
        "p/m1": None,
        "p/m2": Verdict("breaker open", "breaker", 5.0),
    }
    chain = SimpleNamespace(entries=entries)
    state = SimpleNamespace(
        routes=SimpleNamespace(chains={"a": chain, "b": chain}),  # shared entries count once
        tracker=SimpleNamespace(blocked=lambda entry: verdicts[entry.key]),
        started=0.0,
        store=SimpleNamespace(store=None),
        writer=SimpleNamespace(queued=7, written=100, dropped=2, failed_batches=1),
    )
    metrics = Metrics()
    metrics.bind(cast(AppState, state))
    got = samples(metrics)
    assert got[("chain429_entries_blocked", (("kind", "rate_limited"), ("provider", "p")))] == 1
    assert got[("chain429_entries_blocked", (("kind", "breaker"), ("provider", "p")))] == 1
    assert got[("chain429_log_queue_depth", ())] == 7
    assert got[("chain429_log_written_total", ())] == 100
    assert got[("chain429_log_dropped_total", ())] == 2
    assert got[("chain429_log_failed_batches_total", ())] == 1
    assert got[("chain429_store_up", ())] == 0
    verdicts["p/m0"] = None  # computed per scrape, not cached
    after = samples(metrics)
    assert ("chain429_entries_blocked", (("kind", "rate_limited"), ("provider", "p"))) not in after


def bound_to_config() -> Metrics:
    """Metrics bound to the state of a real config: chain `c` of `p/m` and `q/n`."""
    import json

    from chain429.config.load import parse_config
    from chain429.http.app import create_app
    from chain429.http.state import STATE

    loaded = parse_config(
        json.dumps(
            {
                "version": 1,
                "providers": [
                    {"id": pid, "type": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"}
                    for pid in ("p", "q")
                ],
                "chains": [
                    {
                        "name": "c",
                        "entries": [
                            {"provider": "p", "model": "m"},
                            {"provider": "q", "model": "n"},
                        ],
                    },
                ],
                "settings": {"database_url": "none"},
            }
        ),
        env={},
        source="<test>",
    )
    metrics = create_app(loaded)[STATE].metrics
    assert metrics is not None
    return metrics


def test_ad_hoc_pairs_make_one_series_per_provider() -> None:
    """5,000 made-up `provider/model` ids: a handful of series, not 5,000 (issue 8 #3)."""
    metrics = bound_to_config()
    for i in range(5000):
        provider = "pq"[i % 2]
        metrics.observe(record(chain=f"{provider}/model-{i}", provider=provider, model=f"x{i}"))
    metrics.observe(record(chain="c"))
    metrics.observe(record(chain="q/n", provider="q", model="n"))  # a configured pair: kept
    chains = {key[0] for key in metrics.requests}
    assert chains == {"p/ad-hoc", "q/ad-hoc", "c", "q/n"}
    assert {labels[0] for labels in metrics.latency.series} == chains
    got = samples(metrics)
    assert len(got) < 200
    requests = {
        dict(labels)["chain"]: v
        for (name, labels), v in got.items()
        if name == "chain429_requests_total"
    }
    assert requests == {"p/ad-hoc": 2500, "q/ad-hoc": 2500, "c": 1, "q/n": 1}


async def test_a_scrape_renders_off_the_event_loop() -> None:
    """While a big exposition renders, the loop keeps turning (counted in loop turns)."""
    import asyncio

    metrics = Metrics()
    for i in range(30_000):
        metrics.requests[(f"chain-{i}", "p", "success", "200")] += 1
    scrape = asyncio.ensure_future(metrics.render_off_loop())
    turns = 0
    while not scrape.done():
        turns += 1
        await asyncio.sleep(0)
    assert b"chain-29999" in scrape.result()
    assert turns > 10  # rendered in the loop, the scrape would finish in its first turn
