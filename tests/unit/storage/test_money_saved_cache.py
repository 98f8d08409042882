"""A cache hit saved what the model that first served the answer would have cost."""

from __future__ import annotations

from chain429.providers.presets import load_presets
from chain429.storage.queries.money_saved import _price


def test_cache_hits_are_priced_as_the_model_that_first_served_them() -> None:
    presets = {"groq": load_presets()["groq"]}
    direct = _price("groq", "llama-3.3-70b-versatile", presets, {})
    assert direct[0] != (0.0, 0.0)
    assert _price("cache", "groq/llama-3.3-70b-versatile", presets, {}) == direct
    assert _price("cache", "unknown/x", presets, {}) == ((0.0, 0.0), None)
