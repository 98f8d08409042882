"""Money saved: tokens served priced at each model's list price."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from chain429.providers.presets import Preset, Price
from chain429.storage.queries.filters import UNFILTERED, Fetcher, Filters
from chain429.storage.queries.totals import grouped
from chain429.storage.records import CACHE_PROVIDER


@dataclass(slots=True)
class ModelSaving:
    """Tokens one provider's model served, its list price (USD per 1M in/out), and the sum."""

    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    price: Price
    price_source: str | None  # config | preset | preset_default; None: no preset
    saved: float


async def savings(
    store: Fetcher,
    filters: Filters = UNFILTERED,
    presets: Mapping[str, Preset] | None = None,
    prices: Mapping[str, Price] | None = None,
) -> dict[str, list[ModelSaving]]:
    """Per provider, each model's tokens served × its list price (USD), most saved first.

    The price of `provider/model` is, first found: `prices["provider/model"]`,
    `prices["model"]` (config overrides), the provider's preset price for the model (":free"
    dropped), the preset's default price; a provider without a preset is priced at 0 and
    marked with no price source. `presets` maps provider ids to presets.
    """
    groups = await grouped(store, ("provider", "model"), filters)
    by_provider: dict[str, list[ModelSaving]] = defaultdict(list)
    for (provider_id, model), totals in groups.items():
        if not provider_id:
            continue
        (p_in, p_out), source = _price(provider_id, model, presets or {}, prices or {})
        saved = totals.prompt_tokens / 1e6 * p_in + totals.completion_tokens / 1e6 * p_out
        by_provider[provider_id].append(
            ModelSaving(
                model,
                totals.requests,
                totals.prompt_tokens,
                totals.completion_tokens,
                totals.total_tokens,
                (p_in, p_out),
                source,
                round(saved, 6),
            )
        )
    for rows in by_provider.values():
        rows.sort(key=lambda r: (-r.saved, r.model))
    order = sorted(by_provider, key=lambda pid: (-sum(r.saved for r in by_provider[pid]), pid))
    return {pid: by_provider[pid] for pid in order}


def _price(
    provider_id: str, model: str, presets: Mapping[str, Preset], prices: Mapping[str, Price]
) -> tuple[Price, str | None]:
    if provider_id == CACHE_PROVIDER and "/" in model:
        # A cache hit saved what the model that first served the answer would have cost.
        provider_id, _, model = model.partition("/")
    for key in (f"{provider_id}/{model}", model):
        if key in prices:
            p_in, p_out = prices[key]
            return (float(p_in), float(p_out)), "config"
    preset = presets.get(provider_id)
    if preset is None:
        return (0.0, 0.0), None
    listed = model in preset.prices or model.removesuffix(":free") in preset.prices
    return preset.price_for(model), "preset" if listed else "preset_default"
