"""The chain table: entries built from config and presets, auth as the preset says."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain429.config.load import parse_config
from chain429.engine.chain import ChainTable
from chain429.providers import presets as presets_module

CONFIG = """
version: 1
providers:
  - {id: p, type: openai-compatible, base_url: "http://h.test/v1/", api_key: "k/ey+1"}
chains:
  - name: c
    entries: [{provider: p, model: m}]
"""


def table_with_auth(auth: str) -> ChainTable:
    config = parse_config(CONFIG, {}).config
    real = presets_module.get_preset("openai-compatible")
    preset = replace(real, auth=auth, auth_param="key")  # type: ignore[arg-type]
    return ChainTable(config, preset_for=lambda _: preset)


@pytest.mark.parametrize(
    ("auth", "header", "value", "url"),
    [
        ("bearer", "Authorization", "Bearer k/ey+1", "http://h.test/v1/chat/completions"),
        ("x-api-key", "X-Api-Key", "k/ey+1", "http://h.test/v1/chat/completions"),
        ("query", None, None, "http://h.test/v1/chat/completions?key=k%2Fey%2B1"),
        ("none", None, None, "http://h.test/v1/chat/completions"),
    ],
)
def test_presets_say_how_a_provider_authenticates(
    auth: str, header: str | None, value: str | None, url: str
) -> None:
    entry = table_with_auth(auth).chains["c"].entries[0]
    assert entry.url("/chat/completions") == url
    sent = {k.lower(): v for k, v in entry.headers.items()}
    if header is None:
        assert "authorization" not in sent and "x-api-key" not in sent
    else:
        assert sent[header.lower()] == value


def test_a_client_named_pair_is_an_ad_hoc_entry() -> None:
    table = ChainTable(parse_config(CONFIG, {}).config)
    assert not table.chains["c"].entries[0].ad_hoc
    assert table.resolve("p/anything").entries[0].ad_hoc
