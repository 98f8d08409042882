"""Tests for reading config files: TS compatibility, ${VAR}, errors with path and line, secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chain429.config.load import ConfigError, LoadedConfig, load_config, mask_secret, parse_config

SECRET = "gsk_SECRETSECRET1234"

# Written the way the TypeScript 429chain documented its config (camelCase, TS type names).
TS_CONFIG = """\
# 429chain configuration
version: 1

settings:
  port: 3429
  apiKeys:
    - "my-proxy-key-123456"
  defaultChain: "default"
  logLevel: warn
  cooldownDefaultMs: 60000
  requestTimeoutMs: 30000
  dbPath: ./data/observability.db
  normalizeResponses: true
  midStreamFailureThreshold: 4
  midStreamCooldownMs: 45000

providers:
  - id: openrouter
    name: OpenRouter
    type: openrouter
    apiKey: "sk-or-v1-your-key-here"

  - id: groq
    name: Groq
    type: groq
    apiKey: "gsk_your-key-here"
    timeout: 10000
    rateLimits:
      requestsPerMinute: 30
      tokensPerMinute: 15000
      requestsPerDay: 14400

  - id: cerebras
    name: Cerebras
    type: cerebras
    apiKey: "csk-your-key-here"
    baseUrl: "https://api.cerebras.ai/v1"
    timeout: 15000

  - id: moonshot
    name: Moonshot
    type: generic-openai
    apiKey: "sk-your-moonshot-key-here"
    baseUrl: "https://api.moonshot.ai/v1"

  - id: gemini
    name: Google
    type: google-ai
    apiKey: "AIza-your-key-here"

chains:
  - name: default
    entries:
      - provider: openrouter
        model: "meta-llama/llama-3.1-8b-instruct:free"
      - provider: groq
        model: "llama-3.1-8b-instant"
      - provider: cerebras
        model: "llama-3.1-8b"
      - provider: moonshot
        model: "kimi-k2-0711-preview"

  - name: fast
    entries:
      - provider: groq
        model: "llama-3.1-8b-instant"
      - provider: gemini
        model: gemini-2.5-flash
"""


INT_MSG = "Input should be a valid integer, unable to parse string as an integer"


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def errors_of(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env or {})
    return info.value


MINIMAL = """\
providers:
  - id: groq
    type: groq
    api_key: gsk_abc
chains:
  - name: default
    entries:
      - provider: groq
        model: llama-3.1-8b-instant
"""


# --- TypeScript 429chain compatibility -------------------------------------------------------


def test_typescript_config_loads_unchanged() -> None:
    loaded = parse_config(TS_CONFIG, {})
    config = loaded.config
    s = config.settings
    assert s.api_keys == ["my-proxy-key-123456"]
    assert s.default_chain == "default"
    assert s.log_level == "warning"
    assert s.request_timeout_ms == 30000
    assert s.database_url == "./data/observability.db"
    assert s.normalize_responses is True
    assert (s.breaker_threshold, s.breaker_cooldown_ms) == (4, 45000)
    groq = config.provider("groq")
    assert groq is not None
    assert groq.name == "Groq"
    assert groq.timeout_ms == 10000
    assert groq.rate_limits is not None
    assert groq.rate_limits.requests_per_minute == 30
    assert groq.rate_limits.requests_per_day == 14400
    moonshot = config.provider("moonshot")
    assert moonshot is not None
    assert moonshot.type == "openai-compatible"
    assert moonshot.base_url == "https://api.moonshot.ai/v1"
    gemini = config.provider("gemini")
    assert gemini is not None
    assert gemini.type == "gemini"
    assert [c.name for c in config.chains] == ["default", "fast"]
    assert config.default_chain_name == "default"
    assert loaded.warnings == []
    assert loaded.disabled_providers == {}


def test_snake_case_and_camel_case_give_the_same_config() -> None:
    snake = (
        TS_CONFIG.replace("apiKeys", "api_keys")
        .replace("defaultChain", "default_chain")
        .replace("requestTimeoutMs", "request_timeout_ms")
        .replace("dbPath", "database_url")
        .replace("apiKey", "api_key")
        .replace("baseUrl", "base_url")
        .replace("timeout:", "timeout_ms:")
        .replace("rateLimits", "rate_limits")
        .replace("requestsPerMinute", "requests_per_minute")
    )
    assert snake != TS_CONFIG
    assert parse_config(snake, {}).config == parse_config(TS_CONFIG, {}).config


# --- ${VAR} interpolation --------------------------------------------------------------------


def test_env_reference_resolves_and_is_recorded() -> None:
    text = MINIMAL.replace("gsk_abc", "${GROQ_API_KEY}")
    loaded = parse_config(text, {"GROQ_API_KEY": "gsk_from_env"})
    assert loaded.config.providers[0].api_key == "gsk_from_env"
    assert loaded.env_refs == {"providers[0].api_key": "${GROQ_API_KEY}"}
    assert loaded.disabled_providers == {}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:11434/v1"),
        ({"LOCAL_URL": ""}, "http://127.0.0.1:11434/v1"),
        ({"LOCAL_URL": "https://llm.lan/v1"}, "https://llm.lan/v1"),
    ],
)
def test_env_default_used_when_unset_or_empty(env: dict[str, str], expected: str) -> None:
    text = MINIMAL + ("  - name: local\n    entries:\n      - provider: local\n        model: m\n")
    text = text.replace(
        "providers:\n",
        "providers:\n  - id: local\n    type: openai-compatible\n"
        "    base_url: ${LOCAL_URL:-http://127.0.0.1:11434/v1}\n",
    )
    provider = parse_config(text, env).config.provider("local")
    assert provider is not None
    assert provider.base_url == expected


def test_env_reference_inside_text_and_in_numbers() -> None:
    text = "settings:\n  port: ${PORT}\n  user_agent: 'bot/${VER} ($${NOT_A_VAR})'\n"
    settings = parse_config(text, {"PORT": "8080", "VER": "2"}).config.settings
    assert settings.port == 8080
    assert settings.user_agent == "bot/2 (${NOT_A_VAR})"


def test_env_values_cannot_inject_yaml() -> None:
    text = "settings:\n  host: ${HOST}\n"
    loaded = parse_config(text, {"HOST": "x\nport: 1"})
    assert loaded.config.settings.host == "x\nport: 1"
    assert loaded.config.settings.port == 3429


def test_unset_api_key_disables_provider_instead_of_failing() -> None:
    text = MINIMAL.replace("gsk_abc", "${GROQ_API_KEY}")
    loaded = parse_config(text, {})
    assert loaded.config.providers[0].api_key is None
    assert loaded.disabled_providers == {"groq": "GROQ_API_KEY is not set"}
    assert not loaded.is_enabled("groq")
    assert any(
        "groq" in w and "GROQ_API_KEY is not set" in w and "(line 2)" in w for w in loaded.warnings
    )
    # its only chain now cannot serve anything: say so
    assert any("chains[0] (default)" in w and "disabled" in w for w in loaded.warnings)
    assert loaded.env_refs == {"providers[0].api_key": "${GROQ_API_KEY}"}


def test_empty_api_key_variable_disables_provider() -> None:
    text = MINIMAL.replace("gsk_abc", "${GROQ_API_KEY}")
    loaded = parse_config(text, {"GROQ_API_KEY": ""})
    assert loaded.disabled_providers == {"groq": "GROQ_API_KEY is empty"}


def test_missing_api_key_disables_only_presets_that_need_one() -> None:
    text = """\
providers:
  - id: groq
    type: groq
  - id: ovh
    type: ovhcloud
  - id: local
    type: openai-compatible
    base_url: http://127.0.0.1:8000/v1
"""
    loaded = parse_config(text, {})
    assert loaded.disabled_providers == {"groq": "it has no api_key"}


def test_unset_variable_elsewhere_is_an_error_with_path_and_line() -> None:
    text = MINIMAL.replace("type: groq", "type: groq\n    base_url: ${GROQ_URL}")
    err = errors_of(text)
    assert err.problems == [
        "providers[0].base_url: environment variable GROQ_URL is not set "
        f"(write ${{GROQ_URL:-default}} for a fallback) (line {line_of(text, 'GROQ_URL')})"
    ]


def test_load_config_reads_os_environ_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL.replace("gsk_abc", "${GROQ_API_KEY}"))
    monkeypatch.setenv("GROQ_API_KEY", "gsk_env_value")
    loaded = load_config(path)
    assert isinstance(loaded, LoadedConfig)
    assert loaded.path == path
    assert loaded.config.providers[0].api_key == "gsk_env_value"
    assert load_config(str(path), env={}).disabled_providers == {"groq": "GROQ_API_KEY is not set"}


# --- errors name their path and line ---------------------------------------------------------


def test_unknown_provider_in_entry() -> None:
    text = TS_CONFIG.replace("      - provider: gemini", "      - provider: grok")
    err = errors_of(text)
    line = line_of(text, "provider: grok")
    assert err.problems == [
        "chains[1].entries[1].provider: unknown provider 'grok'; did you mean 'groq'? "
        f"(line {line})"
    ]


def test_duplicate_provider_ids() -> None:
    text = TS_CONFIG.replace("  - id: cerebras", "  - id: groq")
    err = errors_of(text)
    line = line_of(text, "- id: groq", 2)
    assert f"providers[2].id: duplicate id 'groq' (first used at providers[1]) (line {line})" in (
        err.problems
    )


def test_duplicate_chain_names() -> None:
    text = TS_CONFIG.replace("- name: fast", "- name: default")
    err = errors_of(text)
    line = line_of(text, "- name: default", 2)
    assert any(
        p.startswith("chains[1].name: duplicate name 'default'") and p.endswith(f"(line {line})")
        for p in err.problems
    )


def test_bad_url() -> None:
    text = TS_CONFIG.replace('"https://api.moonshot.ai/v1"', "api.moonshot.ai/v1")
    err = errors_of(text)
    line = line_of(text, "api.moonshot.ai/v1")
    assert err.problems == [
        f"providers[3].baseUrl: must be an http:// or https:// URL (line {line})"
    ]


def test_openai_compatible_needs_base_url() -> None:
    text = TS_CONFIG.replace('    baseUrl: "https://api.moonshot.ai/v1"\n', "")
    err = errors_of(text)
    line = line_of(text, "- id: moonshot")
    assert err.problems == [
        f"providers[3].baseUrl: required for type 'openai-compatible' (it has no default URL) "
        f"(line {line})"
    ]


def test_missing_default_chain() -> None:
    text = TS_CONFIG.replace('defaultChain: "default"', "defaultChain: coding")
    err = errors_of(text)
    line = line_of(text, "defaultChain")
    assert err.problems == [
        f"settings.defaultChain: chain 'coding' does not exist; known: default, fast (line {line})"
    ]


def test_unknown_provider_type() -> None:
    text = MINIMAL.replace("type: groq", "type: grok")
    err = errors_of(text)
    assert err.problems == [
        "providers[0].type: unknown provider type 'grok'; did you mean 'groq'? (line 3)"
    ]


def test_wrong_types_each_reported() -> None:
    text = TS_CONFIG.replace("port: 3429", "port: lots").replace(
        "requestsPerMinute: 30", "requestsPerMinute: [30]"
    )
    err = errors_of(text)
    assert err.problems == [
        "settings.port: Input should be a valid integer, unable to parse string as an integer "
        f"(line {line_of(text, 'port: lots')})",
        "providers[1].rateLimits.requestsPerMinute: Input should be a valid integer "
        f"(line {line_of(text, 'requestsPerMinute')})",
    ]


def test_missing_required_field_points_at_the_item() -> None:
    text = "providers:\n  - type: groq\n    api_key: k\n"
    err = errors_of(text)
    assert err.problems == ["providers[0].id: required (line 2)"]


def test_empty_chain_message_is_readable() -> None:
    text = MINIMAL + "  - name: empty\n    entries: []\n"
    err = errors_of(text)
    assert err.problems == [
        f"chains[1].entries: needs at least 1 item(s) (line {line_of(text, 'entries: []')})"
    ]


def test_yaml_syntax_error_has_line() -> None:
    text = MINIMAL.replace("    type: groq", "    type: groq: oops")
    err = errors_of(text)
    assert len(err.problems) == 1
    assert err.problems[0].startswith("YAML syntax error:")
    assert err.problems[0].endswith(f"(line {line_of(text, 'oops')})")


def test_duplicate_yaml_key_does_not_leak_values() -> None:
    text = MINIMAL.replace("    api_key: gsk_abc", f"    api_key: {SECRET}\n    api_key: {SECRET}")
    err = errors_of(text)
    assert err.problems == [f"duplicate key 'api_key' (line {line_of(text, 'api_key', 2)})"]
    assert SECRET not in str(err)


def test_top_level_must_be_a_mapping() -> None:
    err = errors_of("- just\n- a list\n")
    assert "top level must be a mapping" in err.problems[0]


def test_empty_file_means_defaults() -> None:
    loaded = parse_config("", {})
    assert loaded.config.providers == []
    assert loaded.config.settings.port == 3429


def test_problems_are_sorted_by_line() -> None:
    text = TS_CONFIG.replace("port: 3429", "port: -1").replace("timeout: 15000", "timeout: 0")
    err = errors_of(text)
    lines = [int(m.group(1)) for p in err.problems if (m := re.search(r"line (\d+)\)$", p))]
    assert lines == sorted(lines)
    assert len(lines) == 2


def test_wrong_shape_message_is_readable() -> None:
    err = errors_of("settings: [1]\n")
    assert err.problems == ["settings: should be a mapping of key: value pairs (line 1)"]


@pytest.mark.parametrize(
    "text",
    [
        "a: !!binary aGVsbG8=",
        "providers: [1, 'x', null]",
        "chains: [{entries: [null]}]",
        "? [a, b]\n: c",
        "1: x",
        "&a [*a]",
        "settings: &s\n  nested: *s",
        "settings:\n  host: 2024-01-01",
        "\t",
        "---\na: 1\n---\nb: 2",
        "providers:\n  - id: a\n    type: groq\n    api_key: ${\n",
        "providers:\n  - <<: {id: g, type: grok}\n",
    ],
)
def test_odd_yaml_gives_config_error_or_config(text: str) -> None:
    # Anything but a config or a ConfigError (a crash, a traceback) fails this test.
    try:
        parse_config(text, {})
    except ConfigError as err:
        problems = err.problems
    else:
        problems = ["(loaded)"]
    assert problems


def test_anchors_merge_keys_and_extension_fields() -> None:
    text = """\
x-defaults: &defaults
  type: groq
  timeout_ms: 5000
providers:
  - <<: *defaults
    id: g1
    api_key: k1
  - <<: *defaults
    id: g2
    api_key: k2
    timeout_ms: nope
"""
    err = errors_of(text)
    assert err.problems == [f"providers[1].timeout_ms: {INT_MSG} (line {line_of(text, 'nope')})"]
    loaded = parse_config(text.replace("nope", "7000"), {})
    assert [p.timeout_ms for p in loaded.config.providers] == [5000, 7000]
    assert loaded.warnings == []  # "x-" keys are a place for anchors, not typos


# --- unknown keys ----------------------------------------------------------------------------


def test_unknown_keys_are_warnings_with_path_and_line() -> None:
    text = TS_CONFIG.replace("  port: 3429\n", "  port: 3429\n  fooBar: 1\n  logLvl: info\n")
    text = text.replace(
        "      tokensPerMinute: 15000\n", "      tokensPerMinute: 15000\n      burst: 2\n"
    )
    loaded = parse_config(text, {})
    assert loaded.warnings == [
        f"settings.fooBar: unknown key, ignored (line {line_of(text, 'fooBar')})",
        f"settings.logLvl: unknown key, ignored; did you mean 'logLevel'? "
        f"(line {line_of(text, 'logLvl')})",
        f"providers[1].rateLimits.burst: unknown key, ignored (line {line_of(text, 'burst')})",
    ]


# --- secrets ---------------------------------------------------------------------------------


def test_mask_secret() -> None:
    assert mask_secret("sk-abcdefgh1234") == "sk-…1234"
    assert mask_secret(SECRET) == "gsk…1234"
    assert mask_secret("short") == "…"


def test_api_key_never_appears_in_errors() -> None:
    text = f"""\
settings:
  port: nope
  api_keys: ["{SECRET}x"]
providers:
  - id: groq
    type: groq
    api_key: {SECRET}
    timeout_ms: {SECRET}
  - id: other
    type: groq
    api_key: k
    base_url: {SECRET}
  - id: bad
    type: {SECRET}
chains:
  - name: c
    entries:
      - provider: {SECRET}
        model: m
"""
    err = errors_of(text)
    assert len(err.problems) == 5  # the unknown provider too, reported beside the field errors
    assert SECRET not in str(err)
    assert all(SECRET not in p for p in err.problems)


def test_api_key_never_appears_in_cross_check_errors() -> None:
    text = MINIMAL.replace("gsk_abc", SECRET).replace("provider: groq", f"provider: {SECRET}")
    err = errors_of(text)
    assert "unknown provider 'gsk…1234'" in str(err)
    assert SECRET not in str(err)


def test_api_key_from_env_never_appears_in_errors() -> None:
    text = MINIMAL.replace("gsk_abc", "${K}").replace("provider: groq", "provider: ${K}")
    err = errors_of(text, {"K": SECRET})
    assert "unknown provider 'gsk…1234'" in str(err)
    assert SECRET not in str(err)


# --- ConfigError presentation ----------------------------------------------------------------


def test_config_error_is_a_readable_screen(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(TS_CONFIG.replace("port: 3429", "port: lots"))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    text = str(info.value)
    assert str(path) in text
    assert "settings.port" in text
    assert f"429chain check -c {path}" in text
    assert "429chain init" in text
    assert "Traceback" not in text
    assert len(text.splitlines()) < 30


def test_many_problems_are_capped() -> None:
    chains = "".join(
        f"  - name: c{i}\n    entries:\n      - provider: p{i}\n        model: m\n"
        for i in range(40)
    )
    err = errors_of("chains:\n" + chains)
    assert len(err.problems) == 40
    assert "… and 15 more" in str(err)
    assert len(str(err).splitlines()) < 30


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == [f"file not found: {path}"]
    assert "429chain init" in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, env={})


def test_cross_checks_are_reported_alongside_field_errors() -> None:
    text = """\
version: 1
settings:
  default_chain: nope
  port: "not a port"
providers:
  - {id: a, type: openai-compatible, base_url: "not a url"}
  - {id: a, type: groq, api_key: gsk_SECRETSECRET1234}
chains:
  - name: default
    entries:
      - {provider: grok, model: m}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, {})
    problems = "\n".join(caught.value.problems)
    assert "settings.port" in problems
    assert "providers[0].base_url" in problems
    assert "providers[1].id: duplicate id 'a' (line 7)" in problems
    assert "chains[0].entries[0].provider: unknown provider 'grok' (line 11)" in problems
    assert "settings.default_chain: chain 'nope' does not exist (line 3)" in problems
    assert "gsk_SECRETSECRET1234" not in str(caught.value)


def test_yaml_unterminated_quote_is_reported_where_it_starts() -> None:
    text = MINIMAL.replace("    type: groq", '    type: groq\n    name: "unterminated')
    err = errors_of(text)
    assert len(err.problems) == 1
    assert "quoted scalar" in err.problems[0]
    assert err.problems[0].endswith(f"(line {line_of(text, 'unterminated')})")


def test_yaml_unclosed_bracket_is_reported_where_it_opens() -> None:
    text = MINIMAL.replace("    type: groq", "    type: groq\n    models: [a, b")
    err = errors_of(text)
    assert err.problems[0].endswith(f"(line {line_of(text, 'models: [a, b')})")


# --- values that can never work --------------------------------------------------------------


def with_provider_fields(extra: str) -> str:
    return MINIMAL.replace("    api_key: gsk_abc\n", "    api_key: gsk_abc\n" + extra)


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ('    base_url: "https://a.example/v1\\r\\nX-Evil: 1"\n', "base_url", "line breaks"),
        ('    base_url: "https://a.example /v1"\n', "base_url", "spaces"),
        ("    base_url: https://a.example:99999/v1\n", "base_url", "invalid port"),
        ("    base_url: https://user:pass@a.example/v1\n", "base_url", "user:pass@"),
        ('    headers: {"Bad Name": x}\n', "headers", "not a valid HTTP header name"),
        ('    headers: {X-Ok: "a\\r\\nX-Evil: 1"}\n', "headers", "line breaks"),
        ('    name: "' + "n" * 129 + '"\n', "name", "at most 128"),
        ('    models: ["' + "m" * 257 + '"]\n', "models[0]", "at most 256"),
        ('    base_url: "https://a.example/' + "p" * 2048 + '"\n', "base_url", "at most 2048"),
    ],
)
def test_provider_values_that_can_never_work_are_refused(
    extra: str, field: str, message: str
) -> None:
    text = with_provider_fields(extra)
    err = errors_of(text)
    assert len(err.problems) == 1, err.problems
    problem = err.problems[0]
    assert problem.startswith(f"providers[0].{field}: "), problem
    assert message in problem
    assert problem.endswith(f"(line {line_of(text, extra.strip()[:12])})")
    assert "X-Evil" not in problem and "a.example" not in problem  # values are not echoed


def test_credentials_in_the_url_without_an_api_key_are_allowed() -> None:
    text = MINIMAL.replace(
        "    api_key: gsk_abc\n",
        "    type: openai-compatible\n    base_url: https://u:p@a.example/v1\n",
    ).replace("    type: groq\n", "", 1)
    assert parse_config(text, {}).config.providers[0].base_url == "https://u:p@a.example/v1"


def test_user_agent_with_a_line_break_is_refused() -> None:
    text = 'settings:\n  user_agent: "bot\\r\\nX-Evil: 1"\n' + MINIMAL
    err = errors_of(text)
    assert err.problems == [f"settings.user_agent: {USER_AGENT_MESSAGE} (line 2)"]


USER_AGENT_MESSAGE = "must not contain line breaks or control characters"


def test_chain_names_are_capped() -> None:
    text = MINIMAL.replace("name: default", "name: " + "c" * 129)
    err = errors_of(text)
    assert err.problems[0].startswith("chains[0].name: String should have at most 128")


def test_an_empty_config_file_is_refused(tmp_path: Path) -> None:
    for body in ("", "version: 1\n", "settings:\n  port: 8080\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(body)
        with pytest.raises(ConfigError, match="chains: none are defined"):
            load_config(path, env={})


def test_a_config_file_over_1_mb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(MINIMAL + "# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="over the limit of 1048576 bytes"):
        load_config(path, env={})
