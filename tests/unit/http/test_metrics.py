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
