"""Money saved: tokens served priced at each model's list price."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from chain429.providers.presets import Preset, Price
from chain429.storage.queries.filters import UNFILTERED, Fetcher, Filters
from chain429.storage.queries.totals import grouped


async def savings(
    store: Fetcher,
    filters: Filters = UNFILTERED,
    presets: Mapping[str, Preset] | None = None,
    prices: Mapping[str, Price] | None = None,
) -> dict[str, Any]:
    """Tokens served × the list price of the model, per provider and in total (USD).

    The price of `provider/model` is, first found: `prices["provider/model"]`,
    `prices["model"]` (config overrides), the provider's preset price for the model (":free"
    dropped), the preset's default price; a provider without a preset is priced at 0 and
    marked `priceSource: null`. `presets` maps provider ids to presets.
    """
    groups = await grouped(store, ("provider", "model"), filters)
    by_provider: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (provider_id, model), totals in groups.items():
        if not provider_id:
            continue
        (p_in, p_out), source = _price(provider_id, model, presets or {}, prices or {})
        saved = totals.prompt_tokens / 1e6 * p_in + totals.completion_tokens / 1e6 * p_out
        by_provider[provider_id].append(
            {
                "model": model,
                "requests": totals.requests,
                "prompt_tokens": totals.prompt_tokens,
                "completion_tokens": totals.completion_tokens,
                "total_tokens": totals.total_tokens,
                "input_price_per_m": p_in,
                "output_price_per_m": p_out,
                "price_source": source,
                "saved": round(saved, 6),
            }
        )
    out = []
    for provider_id, rows in by_provider.items():
        rows.sort(key=lambda r: (-r["saved"], r["model"]))
        out.append(
            {
                "provider_id": provider_id,
                "saved": round(sum(r["saved"] for r in rows), 6),
                "requests": sum(r["requests"] for r in rows),
                "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
                "completion_tokens": sum(r["completion_tokens"] for r in rows),
                "total_tokens": sum(r["total_tokens"] for r in rows),
                "models": rows,
            }
        )
    out.sort(key=lambda r: (-r["saved"], r["provider_id"]))
    return {
        "currency": "USD",
        "total_saved": round(sum(r["saved"] for r in out), 6),
        "total_prompt_tokens": sum(r["prompt_tokens"] for r in out),
        "total_completion_tokens": sum(r["completion_tokens"] for r in out),
        "total_tokens": sum(r["total_tokens"] for r in out),
        "providers": out,
    }


def _price(
    provider_id: str, model: str, presets: Mapping[str, Preset], prices: Mapping[str, Price]
) -> tuple[Price, str | None]:
    for key in (f"{provider_id}/{model}", model):
        if key in prices:
            p_in, p_out = prices[key]
            return (float(p_in), float(p_out)), "config"
    preset = presets.get(provider_id)
    if preset is None:
        return (0.0, 0.0), None
    listed = model in preset.prices or model.removesuffix(":free") in preset.prices
    return preset.price_for(model), "preset" if listed else "preset_default"
