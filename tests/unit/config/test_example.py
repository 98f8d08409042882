"""Tests for the example config written by `429chain init`."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from chain429.config.example import example_config, write_example
from chain429.config.load import api_reference_problem, key_like, load_config, parse_config
from chain429.providers.presets import load_presets

CONVENTIONAL_ENV_VARS = {
    "OPENROUTER_API_KEY",
    "GROQ_API_KEY",
    "CEREBRAS_API_KEY",
    "GEMINI_API_KEY",
    "MISTRAL_API_KEY",
    "GITHUB_TOKEN",
    "NVIDIA_API_KEY",
    "SAMBANOVA_API_KEY",
    "TOGETHER_API_KEY",
    "CHUTES_API_KEY",
    "HF_TOKEN",
    "COHERE_API_KEY",
    "OPENAI_API_KEY",
}


def test_example_loads_with_empty_env() -> None:
    loaded = parse_config(example_config("sk-429chain-test"), {})
    config = loaded.config
    assert config.settings.api_keys == ["sk-429chain-test"]
    assert [c.name for c in config.chains] == ["default", "fast", "coding", "embeddings"]
    assert config.default_chain_name == "default"
    # keyed providers are off, but the keyless ones keep every chain usable
    assert loaded.disabled_providers
    assert not any("every provider" in w for w in loaded.warnings)
    assert not any("unknown key" in w for w in loaded.warnings)


def test_example_covers_every_preset() -> None:
    config = parse_config(example_config("k"), {}).config
    assert {p.type for p in config.providers} == set(load_presets())


def test_example_uses_conventional_env_var_names() -> None:
    loaded = parse_config(example_config("k"), {})
    refs = set(loaded.env_refs.values())
    assert {f"${{{name}}}" for name in CONVENTIONAL_ENV_VARS} <= refs
    disabled_reasons = set(loaded.disabled_providers.values())
    assert {f"{name} is not set" for name in CONVENTIONAL_ENV_VARS} <= disabled_reasons


def test_every_provider_key_of_the_example_may_be_written_through_the_api() -> None:
    """The admin API allows `${VAR}` only for key-like names; the example's keys are such."""
    loaded = parse_config(example_config("k"), {})
    keys = {d: t for d, t in loaded.env_refs.items() if d.startswith("providers[")}
    keys = {d: t for d, t in keys.items() if d.endswith(".api_key")}
    assert len(keys) > len(CONVENTIONAL_ENV_VARS)  # the local provider's LOCAL_LLM_KEY too
    for display, text in keys.items():
        assert api_reference_problem(display, text) is None, text


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("GROQ_API_KEY", True),
        ("groq_api_key", True),
        ("HF_TOKEN", True),
        ("LOCAL_LLM_KEY", True),  # the example's one bare *_KEY, allowed by name
        ("AWS_SECRET_ACCESS_KEY", False),
        ("SECRET_KEY", False),
        ("B_KEY", False),
        ("HOME", False),
        ("API_KEY", False),  # nothing before the suffix: not a provider's key
    ],
)
def test_key_like_variables_are_api_key_and_token_names(name: str, allowed: bool) -> None:
    assert key_like(name) is allowed


def test_example_with_all_keys_set_disables_nothing() -> None:
    names = set(re.findall(r"\$\{([A-Z_]+)\}", example_config("k")))
    env = {name: f"value-for-{name.lower()}" for name in names}
    loaded = parse_config(example_config("k"), env)
    assert loaded.disabled_providers == {}
    groq = loaded.config.provider("groq")
    assert groq is not None
    assert groq.api_key == "value-for-groq_api_key"


def test_example_local_provider_defaults() -> None:
    local = parse_config(example_config("k"), {}).config.provider("local")
    assert local is not None
    assert local.base_url == "http://127.0.0.1:11434/v1"
    assert local.api_key == "none"


def test_example_comments_explain_every_setting() -> None:
    text = example_config("k")
    settings = parse_config(text, {}).config.settings
    for field in type(settings).model_fields:
        assert field in text, f"settings.{field} is not mentioned in the example"


def test_proxy_key_is_quoted_as_data() -> None:
    key = 'we"ird: #key'
    assert parse_config(example_config(key), {}).config.settings.api_keys == [key]


def test_write_example_creates_private_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "config.yaml"
    key = write_example(path)
    assert re.fullmatch(r"sk-429chain-[A-Za-z0-9_-]{32}", key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key in path.read_text()
    assert load_config(path, env={}).config.settings.api_keys == [key]
    assert write_example(tmp_path / "other.yaml") != key


def test_write_example_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("mine: true\n")
    with pytest.raises(FileExistsError):
        write_example(path)
    assert path.read_text() == "mine: true\n"
