"""Round-trip config edits: comments, order, quoting and ${VAR} survive; saves are atomic."""

from __future__ import annotations

import json
import os
import stat
from importlib import resources
from pathlib import Path

import pytest

from chain429.config.load import parse_config
from chain429.config.save import (
    ConfigDocument,
    canonical,
    canonical_path,
    content_hash,
    validate_text,
    write_atomic,
)
from chain429.config.schema import ProviderConfig
from chain429.errors import ProxyError

TEXT = """\
# header
version: 1

settings:
  api_keys: ["sk-proxy-key-0001"]  # inline
  port: 3429  # the port
  # a note about user_agent
  # user_agent: x

# providers
providers:
  # a first
  - id: a
    type: openai-compatible
    api_key: 'sk-a-literal-key-1234'   # key a
    base_url: http://127.0.0.1:1/v1
    rate_limits:
      requests_per_minute: 3

  # b second
  - id: b
    type: openai-compatible
    api_key: ${B_KEY}
    base_url: "http://127.0.0.1:2/v1"

# chains
chains:
  - name: default
    entries:
      - provider: a
        model: m  # first entry
      - provider: b
        model: m
  - name: b-only
    entries:
      - provider: b
        model: m
"""
ENV = {"B_KEY": "sk-b-from-env-5678", "C_KEY": "sk-c-from-env-9999"}


def edited(change: object, text: str = TEXT) -> str:
    doc = ConfigDocument(text)
    change(doc)  # type: ignore[operator]
    out = doc.dump()
    parse_config(out, ENV)  # every edit here must stay a valid config
    return out


def test_an_unedited_round_trip_is_byte_identical() -> None:
    example = resources.files("chain429.config").joinpath("example.yaml").read_text()
    for text in (TEXT, example, TEXT.replace("\n", "\r\n")):
        assert ConfigDocument(text).dump() == text


def test_adding_a_provider_keeps_everything_else() -> None:
    new = {"type": "openai-compatible", "api_key": "${C_KEY}", "base_url": "http://c/v1"}
    out = edited(lambda d: d.put_provider("c", new, replace=True))
    assert out.startswith(TEXT[: TEXT.index("# chains")].rstrip("\n"))
    assert "  - id: c\n    type: openai-compatible\n    api_key: ${C_KEY}\n" in out
    # The comment above the next section stays above it, after the new provider.
    assert out.index("id: c") < out.index("# chains")
    assert "sk-c-from-env" not in out


def test_removing_providers_moves_the_comments_that_belong_to_others() -> None:
    out = edited(lambda d: (d.delete_chain("b-only"), d.delete_provider("b", force=True)))
    assert "# b second" not in out and "${B_KEY}" not in out
    assert "# chains" in out and "  # a first" in out
    out = edited(lambda d: d.delete_provider("a", force=True))
    assert "# a first" not in out
    assert "  # b second\n  - id: b" in out  # b's comment moved above the new first item
    assert "model: m  # first entry" not in out


def test_editing_in_place_keeps_quoting_and_inline_comments() -> None:
    fields = {"api_key": "sk-a-new-literal-5678", "base_url": "http://127.0.0.1:9/v1"}
    out = edited(lambda d: d.put_provider("a", fields, replace=False))
    assert "api_key: 'sk-a-new-literal-5678'   # key a" in out
    out = edited(lambda d: d.put_provider("b", {"base_url": "http://x/v1"}, replace=False))
    assert 'base_url: "http://x/v1"' in out
    assert "api_key: ${B_KEY}" in out


def test_replace_removes_fields_left_out_except_kept_ones() -> None:
    fields = {"type": "openai-compatible", "base_url": "http://127.0.0.1:1/v1"}
    out = edited(lambda d: d.put_provider("a", fields, replace=True, keep=("api_key",)))
    assert "rate_limits" not in out and "'sk-a-literal-key-1234'" in out
    # A merge patch: null removes, nested mappings merge.
    patch = {"rate_limits": {"requests_per_day": 9}, "base_url": None}
    doc = ConfigDocument(TEXT)
    doc.put_provider("b", {"base_url": "http://b/v1"}, replace=False)
    doc.put_provider("a", patch, replace=False)
    out = doc.dump()
    assert "requests_per_minute: 3\n      requests_per_day: 9" in out
    assert "127.0.0.1:1" not in out


def test_settings_patch_and_chains() -> None:
    out = edited(lambda d: d.patch_settings({"user_agent": "me/1", "port": None}))
    assert "user_agent: me/1" in out and "port:" not in out.split("# providers")[0]
    assert "# a note about user_agent" in out
    out = edited(lambda d: d.put_chain("default", {"entries": [{"provider": "b", "model": "z"}]}))
    assert "- name: default\n    entries:\n      - provider: b\n        model: z" in out
    assert "b-only" in out


def test_refusals() -> None:
    doc = ConfigDocument(TEXT)
    with pytest.raises(ProxyError) as err:
        doc.delete_provider("b", force=False)
    assert err.value.status == 409 and "default, b-only" in err.value.message
    with pytest.raises(ProxyError) as err:
        doc.delete_provider("b", force=True)  # b-only would be left empty
    assert err.value.status == 409
    with pytest.raises(ProxyError) as err:
        doc.delete_chain("default")
    assert err.value.status == 409 and err.value.code == "default_chain"
    with pytest.raises(ProxyError) as err:
        doc.delete_chain("nope")
    assert err.value.status == 404
    with pytest.raises(ProxyError) as err:
        ConfigDocument("a: [unclosed\n")
    assert err.value.status == 409


def test_camel_case_files_get_camel_case_keys() -> None:
    text = (
        "settings:\n  apiKeys: [k-000000000000]\nproviders:\n  - id: a\n    type: generic-openai\n"
        "    apiKey: sk-a\n    baseUrl: http://a/v1\n    timeout: 1000\n"
        "chains:\n  - name: d\n    entries:\n      - {provider: a, model: m}\n"
    )
    doc = ConfigDocument(text)
    doc.put_provider("a", canonical(ProviderConfig, {"timeoutMs": 2000}), replace=False)
    doc.put_provider("a", {"rate_limits": {"requests_per_day": 3}}, replace=False)
    doc.patch_settings({"default_chain": "d"})
    out = doc.dump()
    assert "timeout: 2000" in out and "timeoutMs" not in out  # the legacy spelling, in place
    assert "rateLimits:\n      requestsPerDay: 3" in out
    assert "defaultChain: d" in out
    assert parse_config(out, {}).config.settings.default_chain == "d"


def test_a_json_config_stays_json() -> None:
    text = json.dumps(
        {
            "providers": [{"id": "a", "type": "openai-compatible", "base_url": "http://a/v1"}],
            "chains": [{"name": "d", "entries": [{"provider": "a", "model": "m"}]}],
        }
    )
    out = edited(
        lambda d: (
            d.put_provider(
                "b", {"type": "openai-compatible", "base_url": "http://b/v1"}, replace=True
            ),
            d.patch_settings({"user_agent": "u"}),
        ),
        text,
    )
    assert json.loads(out)["providers"][1]["id"] == "b"


def test_canonical_spellings_and_paths() -> None:
    assert canonical(ProviderConfig, {"apiKey": "k", "rateLimits": {"requestsPerDay": 1}}) == {
        "api_key": "k",
        "rate_limits": {"requests_per_day": 1},
    }
    with pytest.raises(ProxyError):
        canonical(ProviderConfig, {"apiKey": "k", "api_key": "k"})
    assert canonical_path("providers[0].apiKey") == ("providers", 0, "api_key")
    assert canonical_path("settings.apiKeys[1]") == ("settings", "api_keys", 1)
    assert canonical_path("providers[2].timeout") == ("providers", 2, "timeout_ms")


def test_validation_names_the_problem() -> None:
    with pytest.raises(ProxyError) as err:
        validate_text(TEXT.replace("provider: a", "provider: nope"), ENV, "x.yaml")
    assert err.value.status == 400 and err.value.code == "invalid_config"
    assert "unknown provider 'nope'" in err.value.message
    assert "sk-a-literal-key-1234" not in err.value.message


def test_write_atomic(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    target.write_text("old")
    target.chmod(0o644)
    link = tmp_path / "config.yaml"
    link.symlink_to(target)
    digest = write_atomic(link, "new: 1\n")
    assert link.is_symlink() and target.read_text() == "new: 1\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert digest == content_hash(b"new: 1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "real.yaml"]
