"""Provider presets: the typed view of presets.yaml, the one table of per-provider facts."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from ruamel.yaml import YAML

Auth = Literal["bearer", "x-api-key", "query", "none"]
OperationName = Literal["chat", "embeddings", "completions", "messages"]
Dialect = Literal[
    "openai",
    "groq",
    "cerebras",
    "openrouter",
    "mistral",
    "together",
    "github",
    "anthropic",
    "none",
    "generic",
]
QuotaScope = Literal["model", "provider"]
StreamUsage = Literal["send", "strip", "ignored"]
DailyReset = Literal["utc-midnight", "rolling", "pacific-midnight"]
Price = tuple[float, float]
Refill = Literal["continuous", "fixed"]
# One image against token limits when a preset says nothing (OpenAI: 1024 px, high detail).
IMAGE_TOKENS = 765

# Type names used by the original TypeScript 429chain, accepted so its configs load unchanged.
TYPE_ALIASES: Mapping[str, str] = MappingProxyType(
    {"generic-openai": "openai-compatible", "google-ai": "gemini"}
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PresetLimits:
    """Documented free-tier limits; field names match `config.schema.RateLimits`."""

    requests_per_minute: int | None = None
    requests_per_hour: int | None = None
    requests_per_day: int | None = None
    tokens_per_minute: int | None = None
    tokens_per_hour: int | None = None
    tokens_per_day: int | None = None
    concurrent_requests: int | None = None


@dataclass(frozen=True, slots=True)
class Preset:
    """Everything 429chain knows about one provider type (see presets.yaml for field meanings)."""

    name: str
    base_url: str | None
    auth: Auth
    dialect: Dialect
    quota_scope: QuotaScope
    stream_usage: StreamUsage
    daily_reset: DailyReset
    refill: Refill = "fixed"  # how its counters refill: a token bucket, or all at the reset
    image_tokens: int = IMAGE_TOKENS  # what one image counts against token limits
    unbounded_max_tokens: int = 0  # what a request without max_tokens reserves upstream
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    operations: tuple[OperationName, ...] = ("chat",)
    embedding_models: tuple[str, ...] = ()  # model ids known to serve embeddings
    auth_param: str = "key"  # the query parameter that carries the key, for `auth: query`
    drop_fields: tuple[str, ...] = ()
    limits: PresetLimits = PresetLimits()
    model_limits: Mapping[str, PresetLimits] = field(default_factory=lambda: _EMPTY)
    prices: Mapping[str, Price] = field(default_factory=lambda: _EMPTY)
    default_price: Price = (0.0, 0.0)
    models_path: str = "/models"
    notes: str = ""

    def limits_for(self, model: str) -> PresetLimits:
        """The limits for one model: its own entry if documented, else the preset default."""
        return self.model_limits.get(model, self.limits)

    def price_for(self, model: str) -> Price:
        """USD per 1M (input, output) tokens of the paid equivalent of `model`."""
        price = self.prices.get(model) or self.prices.get(model.removesuffix(":free"))
        return price if price is not None else self.default_price

    def models_url(self, base_url: str) -> str:
        """Where the model list lives: `models_path` under `base_url`, or as an absolute URL."""
        if self.models_path.startswith(("http://", "https://")):
            return self.models_path
        return base_url.rstrip("/") + "/" + self.models_path.lstrip("/")


class _LimitsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int | None = Field(default=None, ge=1)
    requests_per_hour: int | None = Field(default=None, ge=1)
    requests_per_day: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_hour: int | None = Field(default=None, ge=1)
    tokens_per_day: int | None = Field(default=None, ge=1)
    concurrent_requests: int | None = Field(default=None, ge=1)

    def to_limits(self) -> PresetLimits:
        return PresetLimits(**self.model_dump())


class _PresetModel(BaseModel):
    """Validates one presets.yaml entry; typos in our own data must fail loudly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None
    auth: Auth
    auth_param: str = "key"
    operations: tuple[OperationName, ...] = ("chat",)
    embedding_models: tuple[str, ...] = ()
    headers: dict[str, str] = {}
    dialect: Dialect
    quota_scope: QuotaScope
    drop_fields: tuple[str, ...] = ()
    stream_usage: StreamUsage
    daily_reset: DailyReset
    refill: Refill = "fixed"
    image_tokens: int = Field(default=IMAGE_TOKENS, ge=0)
    unbounded_max_tokens: int = Field(default=0, ge=0)
    limits: _LimitsModel = _LimitsModel()
    model_limits: dict[str, _LimitsModel] = {}
    prices: dict[str, tuple[float, float]] = {}
    default_price: tuple[float, float] = (0.0, 0.0)
    models_path: str = "/models"
    notes: str = ""

    def to_preset(self, name: str) -> Preset:
        return Preset(
            name=name,
            base_url=self.base_url,
            auth=self.auth,
            auth_param=self.auth_param,
            operations=self.operations,
            embedding_models=self.embedding_models,
            headers=MappingProxyType(dict(self.headers)),
            dialect=self.dialect,
            quota_scope=self.quota_scope,
            drop_fields=self.drop_fields,
            stream_usage=self.stream_usage,
            daily_reset=self.daily_reset,
            refill=self.refill,
            image_tokens=self.image_tokens,
            unbounded_max_tokens=self.unbounded_max_tokens,
            limits=self.limits.to_limits(),
            model_limits=MappingProxyType(
                {model: lim.to_limits() for model, lim in self.model_limits.items()}
            ),
            prices=MappingProxyType(dict(self.prices)),
            default_price=self.default_price,
            models_path=self.models_path,
            notes=self.notes,
        )


def parse_presets(text: str) -> dict[str, Preset]:
    """Validate presets YAML text into presets keyed by type name."""
    raw = YAML(typ="safe", pure=True).load(text)
    if not isinstance(raw, dict):
        raise ValueError("presets.yaml must be a mapping of preset name to preset")
    return {
        str(name): _PresetModel.model_validate(body).to_preset(str(name))
        for name, body in raw.items()
    }


@functools.cache
def load_presets() -> dict[str, Preset]:
    """The presets shipped in the package, read once on first use."""
    text = (
        resources.files("chain429.providers").joinpath("presets.yaml").read_text(encoding="utf-8")
    )
    return parse_presets(text)


def canonical_type(name: str) -> str:
    """The preset name for a provider type, mapping the TypeScript 429chain spellings."""
    return TYPE_ALIASES.get(name, name)


def get_preset(name: str) -> Preset:
    """The preset for a provider type (aliases accepted); KeyError names the known types."""
    presets = load_presets()
    try:
        return presets[canonical_type(name)]
    except KeyError:
        known = ", ".join(sorted(presets))
        raise KeyError(f"unknown provider type {name!r}; known types: {known}") from None


class _LazyPresets(Mapping[str, Preset]):
    """`PRESETS` without import-time I/O: the file is read on first access."""

    def __getitem__(self, name: str) -> Preset:
        return load_presets()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(load_presets())

    def __len__(self) -> int:
        return len(load_presets())

    def __repr__(self) -> str:
        return f"PRESETS({', '.join(load_presets())})"


PRESETS: Mapping[str, Preset] = _LazyPresets()
