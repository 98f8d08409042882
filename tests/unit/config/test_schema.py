"""Tests for the config models: aliases, defaults, field checks and cross-checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chain429 import __version__
from chain429.config.schema import (
    ChainConfig,
    Config,
    EntryConfig,
    ProviderConfig,
    RateLimits,
    Settings,
    format_loc,
)


def _config(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "providers": [{"id": "groq", "type": "groq", "api_key": "k"}],
        "chains": [{"name": "default", "entries": [{"provider": "groq", "model": "m"}]}],
    }
    data.update(overrides)
    return data


def test_settings_defaults() -> None:
    s = Settings()
    assert (s.host, s.port) == ("127.0.0.1", 3429)
    assert s.api_keys == []
    assert s.admin_keys is None
    assert s.default_chain is None
    assert (s.log_level, s.log_format, s.log_content) == ("info", "text", False)
    assert s.connect_timeout_ms == 10_000
    assert s.first_byte_timeout_ms == 60_000
    assert s.request_timeout_ms == 120_000
    assert s.stream_idle_timeout_ms == 60_000
    assert s.deadline_ms == 300_000
    assert (s.cooldown_default_ms, s.cooldown_max_ms) == (60_000, 86_400_000)
    assert (s.breaker_threshold, s.breaker_cooldown_ms) == (3, 30_000)
    assert s.unknown_model == "default_chain"
    assert s.max_body_bytes == 10 * 1024 * 1024
    assert s.normalize_responses is False
    assert s.database_url == "./data/429chain.db"
    assert s.user_agent == f"429chain/{__version__}"


def test_empty_config_is_valid() -> None:
    config = Config.model_validate({})
    assert config.version == 1
    assert config.providers == []
    assert config.chains == []
    assert config.default_chain_name is None


@pytest.mark.parametrize(
    ("key", "field", "value"),
    [
        ("requestTimeoutMs", "request_timeout_ms", 30_000),
        ("request_timeout_ms", "request_timeout_ms", 30_000),
        ("cooldownDefaultMs", "cooldown_default_ms", 5_000),
        ("streamIdleTimeoutMs", "stream_idle_timeout_ms", 9_000),
        ("midStreamFailureThreshold", "breaker_threshold", 7),
        ("breakerThreshold", "breaker_threshold", 7),
        ("midStreamCooldownMs", "breaker_cooldown_ms", 12_000),
        ("dbPath", "database_url", "/tmp/x.db"),
        ("databaseUrl", "database_url", "/tmp/x.db"),
        ("normalizeResponses", "normalize_responses", True),
        ("defaultChain", "default_chain", "fast"),
        ("apiKeys", "api_keys", ["a"]),
    ],
)
def test_settings_accept_camel_snake_and_typescript_names(key: str, field: str, value: Any) -> None:
    assert getattr(Settings.model_validate({key: value}), field) == value


@pytest.mark.parametrize(
    ("given", "expected"),
    [("warn", "warning"), ("WARN", "warning"), ("trace", "debug"), ("fatal", "error")],
)
def test_log_level_spellings(given: str, expected: str) -> None:
    assert Settings.model_validate({"logLevel": given}).log_level == expected


def test_log_level_rejects_nonsense() -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"log_level": "loud"})


def test_unknown_model_accepts_bare_404() -> None:
    assert Settings.model_validate({"unknown_model": 404}).unknown_model == "404"
    with pytest.raises(ValidationError):
        Settings.model_validate({"unknown_model": 500})


@pytest.mark.parametrize(
    "field", ["request_timeout_ms", "connect_timeout_ms", "deadline_ms", "cooldown_default_ms"]
)
@pytest.mark.parametrize("value", [0, -5, 10**12])
def test_ms_fields_are_bounded(field: str, value: int) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({field: value})


def test_empty_proxy_key_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"api_keys": [""]})


def test_provider_typescript_fields() -> None:
    p = ProviderConfig.model_validate(
        {
            "id": "groq",
            "name": "Groq",
            "type": "groq",
            "apiKey": "gsk_x",
            "baseUrl": "https://example.com/v1/",
            "timeout": 10_000,
            "rateLimits": {"requestsPerMinute": 30, "tokensPerMinute": 15_000},
        }
    )
    assert p.name == "Groq"
    assert p.api_key == "gsk_x"
    assert p.base_url == "https://example.com/v1"  # trailing slash dropped for joining
    assert p.timeout_ms == 10_000
    assert p.rate_limits == RateLimits(requests_per_minute=30, tokens_per_minute=15_000)
    assert p.headers == {}
    assert p.models == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [("generic-openai", "openai-compatible"), ("google-ai", "gemini"), ("groq", "groq")],
)
def test_provider_type_is_canonical(given: str, expected: str) -> None:
    extra = {"base_url": "http://localhost:1"} if expected == "openai-compatible" else {}
    p = ProviderConfig.model_validate({"id": "p", "type": given, **extra})
    assert p.type == expected
    assert p.preset.name == expected


def test_unknown_type_rejected_with_suggestion() -> None:
    with pytest.raises(ValidationError, match=r"unknown provider type 'grok'; did you mean 'groq'"):
        ProviderConfig.model_validate({"id": "p", "type": "grok"})


@pytest.mark.parametrize("bad_id", ["", "a/b", "has space", "ünï"])
def test_provider_id_charset(bad_id: str) -> None:
    with pytest.raises(ValidationError):
        ProviderConfig.model_validate({"id": bad_id, "type": "groq"})


@pytest.mark.parametrize("url", ["ftp://x/y", "example.com/v1", "https://", "gsk_SECRET"])
def test_base_url_must_be_http_url_and_is_not_echoed(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        ProviderConfig.model_validate({"id": "p", "type": "groq", "base_url": url})
    messages = " ".join(e["msg"] for e in info.value.errors())
    assert "http:// or https://" in messages
    assert "gsk_SECRET" not in messages  # a misplaced key must not be echoed


def test_effective_base_url_uses_preset_default() -> None:
    p = ProviderConfig.model_validate({"id": "p", "type": "groq"})
    assert p.effective_base_url == "https://api.groq.com/openai/v1"


def test_api_key_not_in_repr() -> None:
    p = ProviderConfig.model_validate({"id": "p", "type": "groq", "api_key": "gsk_SECRET1234"})
    assert "gsk_SECRET1234" not in repr(p)
    assert "gsk_SECRET1234" not in str(p)


def test_rate_limits_positive_and_reset_literal() -> None:
    with pytest.raises(ValidationError):
        RateLimits.model_validate({"requests_per_minute": 0})
    with pytest.raises(ValidationError):
        RateLimits.model_validate({"daily_reset": "weekly"})
    assert RateLimits.model_validate({"dailyReset": "rolling"}).daily_reset == "rolling"
    pacific = RateLimits.model_validate({"daily_reset": "pacific-midnight"})
    assert pacific.daily_reset == "pacific-midnight"
    hourly = RateLimits.model_validate({"requests_per_hour": 900, "tokensPerHour": 10**6})
    assert (hourly.requests_per_hour, hourly.tokens_per_hour) == (900, 10**6)


def test_chain_needs_entries_and_plain_name() -> None:
    entry = {"provider": "groq", "model": "m"}
    with pytest.raises(ValidationError):
        ChainConfig.model_validate({"name": "c", "entries": []})
    with pytest.raises(ValidationError):
        ChainConfig.model_validate({"name": "a/b", "entries": [entry]})
    with pytest.raises(ValidationError):
        ChainConfig.model_validate({"name": " ", "entries": [entry]})
    chain = ChainConfig.model_validate({"name": "c", "entries": [entry], "maxWaitMs": 500})
    assert chain.max_wait_ms == 500
    assert chain.entries == [EntryConfig(provider="groq", model="m")]


def test_unknown_keys_are_kept_not_fatal() -> None:
    s = Settings.model_validate({"fooBar": 1})
    assert s.model_extra == {"fooBar": 1}


def test_lookups_and_default_chain_name() -> None:
    config = Config.model_validate(
        _config(
            chains=[
                {"name": "first", "entries": [{"provider": "groq", "model": "a"}]},
                {"name": "second", "entries": [{"provider": "groq", "model": "b"}]},
            ]
        )
    )
    assert config.provider("groq") is config.providers[0]
    assert config.provider("nope") is None
    assert config.chain("second") is config.chains[1]
    assert config.chain("nope") is None
    assert config.default_chain_name == "first"
    explicit = config.model_copy(update={"settings": Settings(default_chain="second")})
    assert explicit.default_chain_name == "second"


def test_cross_checks_raise_on_direct_construction() -> None:
    data = _config(chains=[{"name": "c", "entries": [{"provider": "grok", "model": "m"}]}])
    with pytest.raises(ValidationError, match=r"chains\[0\]\.entries\[0\]\.provider: unknown"):
        Config.model_validate(data)


def test_cross_check_reports_each_problem_with_its_loc() -> None:
    data = _config(
        settings={"default_chain": "missing", "cooldown_default_ms": 10, "cooldown_max_ms": 5},
        providers=[
            {"id": "groq", "type": "groq"},
            {"id": "groq", "type": "groq"},
            {"id": "local", "type": "openai-compatible"},
        ],
        chains=[
            {"name": "c", "entries": [{"provider": "groq", "model": "m"}]},
            {"name": "c", "entries": [{"provider": "nope", "model": "m"}]},
        ],
    )
    config = Config.model_validate(data, context={"defer_cross_checks": True})
    problems = dict(config.cross_check())
    assert "duplicate id 'groq'" in problems[("providers", 1, "id")]
    assert "duplicate name 'c'" in problems[("chains", 1, "name")]
    assert "required" in problems[("providers", 2, "base_url")]
    assert "unknown provider 'nope'" in problems[("chains", 1, "entries", 0, "provider")]
    assert "chain 'missing' does not exist" in problems[("settings", "default_chain")]
    assert "cooldown_max_ms" in problems[("settings", "cooldown_default_ms")]
    assert len(problems) == 6


def test_format_loc() -> None:
    assert format_loc(("chains", 1, "entries", 0, "provider")) == "chains[1].entries[0].provider"
    assert format_loc(()) == ""
