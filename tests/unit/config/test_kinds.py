"""Chain kinds, strategies and cache options in the config; `check` reports mixed chains."""

from __future__ import annotations

import pytest

from chain429.config.load import ConfigError, parse_config
from chain429.engine.chain import ChainTable
from chain429.vocabulary import ChainKind, Strategy

HEAD = """\
version: 1
settings: {database_url: none}
providers:
  - {id: mistral, type: mistral, api_key: k}
  - {id: groq, type: groq, api_key: k}
chains:
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, {})
    return info.value.problems


def test_a_chain_mixing_chat_and_embeddings_models_is_reported() -> None:
    text = (
        HEAD
        + """\
  - name: mixed
    entries:
      - {provider: mistral, model: mistral-small-latest}
      - {provider: mistral, model: mistral-embed}
"""
    )
    [problem] = problems(text)
    assert problem.startswith("chains[0].entries: the chain mixes chat and embeddings models")
    assert "mistral-embed" in problem


def test_a_declared_kind_checks_each_entry() -> None:
    text = (
        HEAD
        + """\
  - name: chat
    kind: chat
    entries:
      - {provider: mistral, model: mistral-embed}
  - name: vectors
    kind: embeddings
    entries:
      - {provider: groq, model: some-model}
"""
    )
    found = problems(text)
    assert any(
        p.startswith("chains[0].entries[0].model: 'mistral-embed' is an embeddings") for p in found
    )
    assert any(
        "chains[1].entries[0].provider: provider 'groq' does not serve embeddings" in p
        for p in found
    )


def test_kinds_strategies_and_cache_reach_the_chain_table() -> None:
    text = (
        HEAD.replace(
            "settings: {database_url: none}",
            "settings:\n  database_url: none\n  strategy: spread\n"
            "  cache: {enabled: false, ttl_s: 60}",
        )
        + """\
  - name: vectors
    entries:
      - {provider: mistral, model: mistral-embed}
  - name: quick
    strategy: fastest
    cache: true
    entries:
      - {provider: groq, model: llama-3.1-8b-instant}
"""
    )
    table = ChainTable(parse_config(text, {}).config)
    vectors, quick = table.chains["vectors"], table.chains["quick"]
    assert vectors.kind is ChainKind.EMBEDDINGS and vectors.strategy is Strategy.SPREAD
    assert vectors.cache_ttl_s is None
    assert quick.kind is ChainKind.CHAT and quick.strategy is Strategy.FASTEST
    assert quick.cache_ttl_s == 60
    # An unknown model asking for embeddings falls back to the first embeddings chain.
    assert table.resolve("text-embedding-3-small", kind=ChainKind.EMBEDDINGS).name == "vectors"
    # ... and a chat request to the first chat chain, when the default chain embeds.
    assert table.resolve("gpt-4").name == "quick"
    assert table.kind_of("mistral/mistral-embed") is ChainKind.EMBEDDINGS
