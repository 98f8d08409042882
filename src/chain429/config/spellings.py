"""How the config's keys may be spelled: snake_case, camelCase or legacy, and back again.

The file, the management API and the TypeScript original all spell keys their own way; the
schema's field names are the one canonical spelling everything is converted to.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic.alias_generators import to_camel

from chain429.config.schema import (
    ChainConfig,
    Config,
    EntryConfig,
    ProviderConfig,
    RateLimits,
    Settings,
)
from chain429.errors import ProxyError

Model = type[BaseModel]
Path_ = tuple[str | int, ...]

# Which schema model describes the mappings under each field (lists: their items).
_CHILDREN: dict[Model, dict[str, Model]] = {
    Config: {"settings": Settings, "providers": ProviderConfig, "chains": ChainConfig},
    ProviderConfig: {"rate_limits": RateLimits},
    ChainConfig: {"entries": EntryConfig},
    EntryConfig: {"rate_limits": RateLimits},
}
_SEGMENT = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


@functools.cache
def spellings(model: Model) -> dict[str, str]:
    """Every accepted spelling of a model's keys (snake, camel, legacy) -> its field name."""
    table: dict[str, str] = {}
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        legacy = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else []
        for spelling in (name, to_camel(name), *legacy):
            table.setdefault(spelling, name)
    return table


def field_name(model: Model | None, key: str) -> str:
    """`apiKey` -> `api_key`; keys the model does not know are returned unchanged."""
    return spellings(model).get(key, key) if model is not None else key


def child_model(model: Model | None, name: str) -> Model | None:
    return _CHILDREN.get(model, {}).get(name) if model is not None else None


def canonical(model: Model, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with every key spelled as the schema's field name, nested models included."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = field_name(model, str(key))
        if name in out:
            raise ProxyError(
                400, f"'{name}' is given twice, in two spellings.", code="invalid_config", param=key
            )
        child = child_model(model, name)
        if child is not None and isinstance(value, Mapping):
            value = canonical(child, value)
        elif child is not None and isinstance(value, list):
            value = [canonical(child, v) if isinstance(v, Mapping) else v for v in value]
        out[name] = value
    return out


def camelized(model: Model, data: Mapping[str, Any]) -> dict[str, Any]:
    """Field-named `data` respelled in camelCase, as the TypeScript original wrote its keys."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        child = child_model(model, name)
        if child is not None and isinstance(value, Mapping):
            value = camelized(child, value)
        elif child is not None and isinstance(value, list):
            value = [camelized(child, v) if isinstance(v, Mapping) else v for v in value]
        out[to_camel(name) if name in model.model_fields else name] = value
    return out


def canonical_path(display_path: str) -> Path_:
    """A loader path as written (`providers[0].apiKey`) -> field names (`providers, 0, api_key`)."""
    model: Model | None = Config
    parts: list[str | int] = []
    for match in _SEGMENT.finditer(display_path):
        if match[1] is not None:
            parts.append(int(match[1]))
            continue
        name = field_name(model, match[2])
        parts.append(name)
        model = child_model(model, name)
    return tuple(parts)
