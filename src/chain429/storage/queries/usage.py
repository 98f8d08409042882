"""Usage per provider, chain, model and key, and in total: the rows behind `/v1/stats`.

Each function returns `Group`s: the group's labels (request columns), its `Totals`, and for
providers and models what they said when tried (`AttemptTally`). `http.stats_shapes` turns them
into JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from chain429.storage.queries.filters import UNFILTERED, Fetcher, Filters
from chain429.storage.queries.totals import AttemptTally, Totals, attempt_stats, grouped


@dataclass(slots=True)
class Group:
    """One group's figures; `labels` maps request columns (provider, chain, ...) to values."""

    labels: dict[str, str]
    totals: Totals
    tried: AttemptTally | None = None  # providers and models only
    parts: list[Group] = field(default_factory=list)  # a breakdown, for one provider or chain


async def summary(store: Fetcher, filters: Filters = UNFILTERED) -> Totals:
    """Everything in one set of totals, with the outcome breakdown."""
    return (await grouped(store, (), filters, outcomes=True)).get((), Totals())


async def providers(store: Fetcher, filters: Filters = UNFILTERED) -> list[Group]:
    """Per provider: requests it served (rows + rollups), and what it said when tried."""
    served = await grouped(store, ("provider",), filters)
    tried = await attempt_stats(store, ("provider",), filters)
    names = {k[0] for k in served} | {k[0] for k in tried}
    out = [
        Group({"provider": name}, served.get((name,), Totals()), tried.get((name,), AttemptTally()))
        for name in names
        if name
    ]
    return _latest_first(out, "provider")


async def provider(store: Fetcher, provider_id: str, filters: Filters = UNFILTERED) -> Group | None:
    """One provider, with a per-model breakdown; None if it has no data at all."""
    filters = replace(filters, provider=provider_id)
    served = await grouped(store, ("model",), filters)
    tried = await attempt_stats(store, ("model",), filters)
    if not served and not tried:
        return None
    total = Totals()
    for part in served.values():
        total.add_totals(part)
    attempts = AttemptTally()
    for tally in tried.values():
        attempts.add(tally)
    models = [
        Group({"model": name}, served.get((name,), Totals()), tried.get((name,), AttemptTally()))
        for name in {k[0] for k in served} | {k[0] for k in tried}
        if name
    ]
    return Group({"provider": provider_id}, total, attempts, _latest_first(models, "model"))


async def chains(store: Fetcher, filters: Filters = UNFILTERED) -> list[Group]:
    groups = await grouped(store, ("chain",), filters)
    out = [Group({"chain": k[0]}, t) for k, t in groups.items() if k[0]]
    return _latest_first(out, "chain")


async def chain(store: Fetcher, name: str, filters: Filters = UNFILTERED) -> Group | None:
    """One chain, with who served it; None if it has no data."""
    groups = await grouped(store, ("provider",), replace(filters, chain=name))
    if not groups:
        return None
    total = Totals()
    for part in groups.values():
        total.add_totals(part)
    served = [Group({"provider": k[0]}, t) for k, t in groups.items() if k[0]]
    return Group({"chain": name}, total, parts=_latest_first(served, "provider"))


async def models(store: Fetcher, filters: Filters = UNFILTERED) -> list[Group]:
    """Per served provider+model."""
    groups = await grouped(store, ("provider", "model"), filters)
    out = [Group({"provider": k[0], "model": k[1]}, t) for k, t in groups.items() if k[0] and k[1]]
    return _latest_first(out, "provider", "model")


async def keys(store: Fetcher, filters: Filters = UNFILTERED) -> list[Group]:
    """Per API key label (the masked key, never the key)."""
    groups = await grouped(store, ("key_label",), filters)
    return _latest_first([Group({"key_label": k[0]}, t) for k, t in groups.items()], "key_label")


def _latest_first(groups: list[Group], *names: str) -> list[Group]:
    """The original's order (most recent request first); then by name."""
    groups.sort(key=lambda g: tuple(g.labels[n] for n in names))
    groups.sort(key=lambda g: -(g.totals.last_ts or 0))
    return groups
