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
                "promptTokens": totals.prompt_tokens,
                "completionTokens": totals.completion_tokens,
                "totalTokens": totals.total_tokens,
                "inputPricePerM": p_in,
                "outputPricePerM": p_out,
                "priceSource": source,
                "saved": round(saved, 6),
            }
        )
    out = []
    for provider_id, rows in by_provider.items():
        rows.sort(key=lambda r: (-r["saved"], r["model"]))
        out.append(
            {
                "providerId": provider_id,
                "saved": round(sum(r["saved"] for r in rows), 6),
                "requests": sum(r["requests"] for r in rows),
                "promptTokens": sum(r["promptTokens"] for r in rows),
                "completionTokens": sum(r["completionTokens"] for r in rows),
                "totalTokens": sum(r["totalTokens"] for r in rows),
                "models": rows,
            }
        )
    out.sort(key=lambda r: (-r["saved"], r["providerId"]))
    return {
        "currency": "USD",
        "totalSaved": round(sum(r["saved"] for r in out), 6),
        "totalPromptTokens": sum(r["promptTokens"] for r in out),
        "totalCompletionTokens": sum(r["completionTokens"] for r in out),
        "totalTokens": sum(r["totalTokens"] for r in out),
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
