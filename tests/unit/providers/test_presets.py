"""Tests for the provider presets table and its loader."""

from __future__ import annotations

import dataclasses
from importlib import resources
from typing import get_args

import pytest
from pydantic import ValidationError

from chain429.providers.presets import (
    PRESETS,
    TYPE_ALIASES,
    Dialect,
    Preset,
    canonical_type,
    get_preset,
    load_presets,
    parse_presets,
)
from chain429.quota.headers import DIALECTS

REQUIRED = {
    "openrouter",
    "groq",
    "cerebras",
    "gemini",
    "mistral",
    "github-models",
    "nvidia",
    "sambanova",
    "together",
    "chutes",
    "huggingface",
    "cohere",
    "openai",
    "openai-compatible",
}


def test_every_required_preset_is_present() -> None:
    assert set(load_presets()) >= REQUIRED


def test_presets_file_ships_inside_the_package() -> None:
    assert resources.files("chain429.providers").joinpath("presets.yaml").is_file()


@pytest.mark.parametrize("name", sorted(REQUIRED | set(load_presets())))
def test_base_url_is_https_except_the_compatible_types(name: str) -> None:
    preset = get_preset(name)
    if name in ("openai-compatible", "anthropic-compatible"):  # the config names the server
        assert preset.base_url is None
    else:
        assert preset.base_url is not None
        assert preset.base_url.startswith("https://")
        assert not preset.base_url.endswith("/")


@pytest.mark.parametrize("name", sorted(load_presets()))
def test_preset_values_are_consistent(name: str) -> None:
    preset = get_preset(name)
    assert preset.name == name
    assert preset.dialect in get_args(Dialect)
    assert preset.notes
    assert all(len(price) == 2 and min(price) >= 0 for price in preset.prices.values())
    assert len(preset.default_price) == 2


def test_documented_base_urls() -> None:
    assert get_preset("gemini").base_url == (
        "https://generativelanguage.googleapis.com/v1beta/openai"
    )
    assert get_preset("github-models").base_url == "https://models.github.ai/inference"
    assert get_preset("groq").base_url == "https://api.groq.com/openai/v1"
    assert get_preset("openrouter").base_url == "https://openrouter.ai/api/v1"


def test_documented_quirks() -> None:
    assert get_preset("mistral").stream_usage == "strip"
    assert get_preset("cohere").stream_usage == "strip"
    assert get_preset("openrouter").stream_usage == "ignored"
    assert get_preset("groq").stream_usage == "send"
    assert {"frequency_penalty", "presence_penalty"} <= set(get_preset("cerebras").drop_fields)
    assert get_preset("gemini").daily_reset == "pacific-midnight"
    assert get_preset("openrouter").daily_reset == "utc-midnight"
    assert get_preset("openrouter").quota_scope == "provider"
    assert get_preset("groq").quota_scope == "model"
    assert get_preset("openrouter").headers["X-Title"] == "429chain"
    assert get_preset("gemini").dialect == "none"
    assert get_preset("nvidia").dialect == "none"
    assert get_preset("cerebras").dialect == "cerebras"
    assert get_preset("groq").dialect == "groq"  # its -requests headers count per day


def test_every_dialect_has_a_header_parser() -> None:
    assert set(get_args(Dialect)) <= DIALECTS
    assert {p.dialect for p in load_presets().values()} <= DIALECTS


def test_model_limits_override_preset_limits() -> None:
    groq = get_preset("groq")
    assert groq.limits_for("llama-3.1-8b-instant").requests_per_day == 14400
    assert groq.limits_for("llama-3.3-70b-versatile").tokens_per_day == 100000
    assert groq.limits_for("some-new-model") == groq.limits
    assert get_preset("openrouter").limits.requests_per_minute == 20


def test_price_for_strips_free_suffix_and_falls_back() -> None:
    openrouter = get_preset("openrouter")
    paid = openrouter.prices["meta-llama/llama-3.3-70b-instruct"]
    assert openrouter.price_for("meta-llama/llama-3.3-70b-instruct:free") == paid
    assert openrouter.price_for("unknown/model:free") == openrouter.default_price


def test_models_url_joins_or_uses_absolute() -> None:
    assert get_preset("groq").models_url("https://api.groq.com/openai/v1/") == (
        "https://api.groq.com/openai/v1/models"
    )
    assert get_preset("github-models").models_url("https://x") == (
        "https://models.github.ai/catalog/models"
    )


def test_type_aliases_from_typescript_429chain() -> None:
    assert TYPE_ALIASES == {"generic-openai": "openai-compatible", "google-ai": "gemini"}
    assert canonical_type("generic-openai") == "openai-compatible"
    assert canonical_type("google-ai") == "gemini"
    assert canonical_type("groq") == "groq"
    assert get_preset("google-ai").name == "gemini"


def test_unknown_preset_raises_helpful_key_error() -> None:
    with pytest.raises(KeyError, match=r"unknown provider type 'grok'.*groq"):
        get_preset("grok")


def test_presets_mapping_is_read_only_view() -> None:
    assert set(PRESETS) == set(load_presets())
    assert len(PRESETS) == len(load_presets())
    assert PRESETS["groq"] is load_presets()["groq"]
    assert "groq" in PRESETS


def test_preset_is_frozen() -> None:
    preset = get_preset("groq")
    assert isinstance(preset, Preset)
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset.base_url = "https://evil.example"  # type: ignore[misc]
    with pytest.raises(TypeError):
        preset.headers["X"] = "y"  # type: ignore[index]


def test_typo_in_presets_data_fails_loudly() -> None:
    text = "x:\n  base_url: https://x\n  auth: bearer\n  dialect: openai\n  quota_scope: model\n"
    text += "  stream_usage: send\n  daily_reset: rolling\n"
    assert parse_presets(text)["x"].models_path == "/models"
    with pytest.raises(ValidationError, match="dialet"):
        parse_presets(text + "  dialet: openai\n")
    with pytest.raises(ValidationError):
        parse_presets(text.replace("dialect: openai", "dialect: klingon"))
