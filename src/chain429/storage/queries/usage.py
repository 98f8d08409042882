"""Usage per provider, chain, model and key, and in total: the `/v1/stats` figure sets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from chain429.storage.queries.figures import round1
from chain429.storage.queries.filters import UNFILTERED, Fetcher, Filters
from chain429.storage.queries.totals import NO_ATTEMPTS, Totals, attempt_stats, grouped


async def summary(store: Fetcher, filters: Filters = UNFILTERED) -> dict[str, Any]:
    """Everything in one figure set (the original's `summary`, plus ours)."""
    total = (await grouped(store, (), filters, outcomes=True)).get((), Totals())
    return {**total.usage(), "outcomes": dict(sorted(total.outcomes.items()))}


async def providers(store: Fetcher, filters: Filters = UNFILTERED) -> list[dict[str, Any]]:
    """Per provider: requests it served (rows + rollups), and what it said when tried."""
    served = await grouped(store, ("provider",), filters)
    tried = await attempt_stats(store, ("provider",), filters)
    names = {k[0] for k in served} | {k[0] for k in tried}
    out = [
        {
            "provider_id": name,
            **served.get((name,), Totals()).usage(),
            **tried.get((name,), NO_ATTEMPTS),
        }
        for name in names
        if name
    ]
    return _latest_first(out, "provider_id")


async def provider(
    store: Fetcher, provider_id: str, filters: Filters = UNFILTERED
) -> dict[str, Any] | None:
    """One provider, with a per-model breakdown; None if it has no data at all."""
    filters = replace(filters, provider=provider_id)
    served = await grouped(store, ("model",), filters)
    tried = await attempt_stats(store, ("model",), filters)
    if not served and not tried:
        return None
    total = Totals()
    for part in served.values():
        total.add_totals(part)
    attempts = dict(NO_ATTEMPTS)
    for stats in tried.values():
        attempts = _sum_attempts(attempts, stats)
    models = [
        {"model": name, **served.get((name,), Totals()).usage(), **tried.get((name,), NO_ATTEMPTS)}
        for name in {k[0] for k in served} | {k[0] for k in tried}
        if name
    ]
    return {
        "provider_id": provider_id,
        **total.usage(),
        **attempts,
        "models": _latest_first(models, "model"),
    }


async def chains(store: Fetcher, filters: Filters = UNFILTERED) -> list[dict[str, Any]]:
    groups = await grouped(store, ("chain",), filters)
    out = [{"chain_name": k[0], **t.usage()} for k, t in groups.items() if k[0]]
    return _latest_first(out, "chain_name")


async def chain(store: Fetcher, name: str, filters: Filters = UNFILTERED) -> dict[str, Any] | None:
    """One chain, with who served it; None if it has no data."""
    groups = await grouped(store, ("provider",), replace(filters, chain=name))
    if not groups:
        return None
    total = Totals()
    for part in groups.values():
        total.add_totals(part)
    served = [{"provider_id": k[0], **t.usage()} for k, t in groups.items() if k[0]]
    return {"chain_name": name, **total.usage(), "providers": _latest_first(served, "provider_id")}


async def models(store: Fetcher, filters: Filters = UNFILTERED) -> list[dict[str, Any]]:
    """Per served provider+model."""
    groups = await grouped(store, ("provider", "model"), filters)
    out = [
        {"provider_id": k[0], "model": k[1], **t.usage()}
        for k, t in groups.items()
        if k[0] and k[1]
    ]
    return _latest_first(out, "provider_id", "model")


async def keys(store: Fetcher, filters: Filters = UNFILTERED) -> list[dict[str, Any]]:
    """Per API key label (the masked key, never the key)."""
    groups = await grouped(store, ("key_label",), filters)
    out = [{"key_label": k[0], **t.usage()} for k, t in groups.items()]
    return _latest_first(out, "key_label")


def _sum_attempts(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    calls = a["attempts"] + b["attempts"]
    latency = (
        a["avg_attempt_latency_ms"] * a["attempts"] + b["avg_attempt_latency_ms"] * b["attempts"]
    )
    out = {k: a[k] + b[k] for k in a if k != "avg_attempt_latency_ms"}
    out["avg_attempt_latency_ms"] = round1(latency / calls) if calls else 0
    return out


def _latest_first(rows: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    """The original's order (most recent request first); then by name."""
    rows.sort(key=lambda r: tuple(r[n] for n in names))
    rows.sort(key=lambda r: -(r["last_request_timestamp"] or 0))
    return rows
