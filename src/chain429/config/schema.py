"""The config file's shape: pydantic models for settings, providers, chains; cross-checks."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from chain429 import __version__
from chain429.providers.presets import Preset, canonical_type, get_preset, load_presets

# camelCase aliases let configs written for the TypeScript 429chain load unchanged. Unknown keys
# are kept (not rejected) so the loader can turn them into warnings instead of fatal errors.
_MODEL_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000

TimeoutMs = Annotated[int, Field(ge=1, le=_HOUR_MS)]
CooldownMs = Annotated[int, Field(ge=1, le=31 * _DAY_MS)]  # a month: Cohere/Mistral quotas
Count = Annotated[int, Field(ge=1)]

# Size caps: every value here is held in memory, shown in the UI and written back to the file,
# so none may be arbitrarily large (the admin API would otherwise store megabytes per field).
MAX_NAME = 128  # provider ids, chain names, display names
MAX_MODEL = 256  # upstream model ids
MAX_URL = 2048
MAX_KEY = 4096  # api keys and proxy keys
MAX_HEADER_VALUE = 8192
MAX_PATH = 4096
Name = Annotated[str, Field(max_length=MAX_NAME)]
ModelId = Annotated[str, Field(min_length=1, max_length=MAX_MODEL)]
NonEmptyStr = Annotated[str, Field(min_length=1, max_length=MAX_KEY)]
Url = Annotated[str, Field(max_length=MAX_URL)]

# RFC 9110 token: what a header name may be made of.
_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # any control but tab


def _aliases(name: str, *legacy: str) -> AliasChoices:
    """Accept the snake name, its camelCase form and any legacy TypeScript spellings."""
    return AliasChoices(name, to_camel(name), *legacy)


class RateLimits(BaseModel):
    """Manual limits, used when a provider's headers say nothing (or to be stricter)."""

    model_config = _MODEL_CONFIG

    requests_per_minute: Count | None = None
    requests_per_hour: Count | None = None
    requests_per_day: Count | None = None
    tokens_per_minute: Count | None = None
    tokens_per_hour: Count | None = None
    tokens_per_day: Count | None = None
    concurrent_requests: Count | None = None
    daily_reset: Literal["utc-midnight", "rolling", "pacific-midnight"] | None = None


class ProviderConfig(BaseModel):
    """One account at one provider: a preset type plus credentials and overrides."""

    model_config = _MODEL_CONFIG

    id: Name
    type: Annotated[str, Field(max_length=MAX_NAME)]
    # never in reprs or logs
    api_key: Annotated[str, Field(max_length=MAX_KEY)] | None = Field(default=None, repr=False)
    base_url: Url | None = None
    timeout_ms: TimeoutMs | None = Field(
        default=None, validation_alias=_aliases("timeout_ms", "timeout")
    )
    headers: dict[str, str] = Field(default_factory=dict)
    rate_limits: RateLimits | None = None
    name: Name | None = None
    models: list[ModelId] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError("must be non-empty and only letters, digits, '_', '.' or '-' (no '/')")
        return value

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        name = canonical_type(value)
        presets = load_presets()
        if name not in presets:
            raise ValueError(f"unknown provider type {value!r}{_suggest(value, presets)}")
        return name

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        # The value is never echoed: a misplaced API key must not end up in an error message.
        if _CONTROL_RE.search(value) or " " in value or "\t" in value:
            raise ValueError("must not contain spaces, line breaks or control characters")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        try:
            parts.port  # noqa: B018  # raises for a port outside 0-65535 or not a number
        except ValueError:
            raise ValueError("has an invalid port (must be a number from 1 to 65535)") from None
        if (parts.username or parts.password) and info.data.get("api_key"):
            raise ValueError(
                "must not carry user:pass@ credentials when api_key is set (use one or the other)"
            )
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN_RE.match(name) or len(name) > MAX_NAME:
                raise ValueError(
                    f"header name {name[:MAX_NAME]!r} is not a valid HTTP header name "
                    "(letters, digits and !#$%&'*+.^_`|~- only)"
                )
            if _CONTROL_RE.search(text):
                raise ValueError(f"header {name!r}: the value must not contain line breaks")
            if len(text) > MAX_HEADER_VALUE:
                raise ValueError(f"header {name!r}: the value is over {MAX_HEADER_VALUE} chars")
        return value

    @property
    def preset(self) -> Preset:
        return get_preset(self.type)

    @property
    def effective_base_url(self) -> str | None:
        """The configured base URL, else the preset's default."""
        return self.base_url or self.preset.base_url


class EntryConfig(BaseModel):
    """One step of a chain: which provider to call with which upstream model id."""

    model_config = _MODEL_CONFIG

    provider: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    model: ModelId
    rate_limits: RateLimits | None = None


StrategyName = Literal["ordered", "fastest", "spread"]
ChainKindName = Literal["chat", "embeddings"]


class CacheSettings(BaseModel):
    """The exact-match response cache, proxy-wide (`settings.cache`); off by default."""

    model_config = _MODEL_CONFIG

    enabled: bool = False
    ttl_s: int = Field(default=3600, ge=1, le=30 * 86400)
    max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, le=64 * 1024**3)
    # Cache answers to requests that may legitimately differ each time (temperature > 0, ...).
    cache_nondeterministic: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


class ChainCache(BaseModel):
    """A chain's own cache switch (`cache: true`, or these fields); unset ones follow settings."""

    model_config = _MODEL_CONFIG

    enabled: bool = True
    ttl_s: int | None = Field(default=None, ge=1, le=30 * 86400)
    cache_nondeterministic: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


class ChainConfig(BaseModel):
    """A named, ordered list of entries; clients select it by sending its name as `model`."""

    model_config = _MODEL_CONFIG

    name: Name
    entries: list[EntryConfig] = Field(min_length=1)
    max_wait_ms: int | None = Field(default=None, ge=0, le=_HOUR_MS)
    strategy: StrategyName | None = None  # None: settings.strategy
    kind: ChainKindName | None = None  # None: inferred from the entries (chat unless embeddings)
    cache: ChainCache | None = None  # None: settings.cache

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        # A "/" would make a chain name look like a provider/model id.
        if not value.strip() or "/" in value:
            raise ValueError("must be non-empty and must not contain '/'")
        return value


_LOG_LEVEL_SPELLINGS = {"warn": "warning", "trace": "debug", "fatal": "error"}


class Settings(BaseModel):
    """Proxy-wide settings; every field has a default so `settings:` may be omitted."""

    model_config = _MODEL_CONFIG

    host: str = "127.0.0.1"
    port: int = Field(default=3429, ge=0, le=65535)
    api_keys: list[NonEmptyStr] = Field(default_factory=list)
    admin_keys: list[NonEmptyStr] | None = None
    default_chain: Name | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    log_content: bool = False
    cors_origins: list[Url] = Field(default_factory=list)
    connect_timeout_ms: TimeoutMs = 10_000
    first_byte_timeout_ms: TimeoutMs = 60_000
    request_timeout_ms: TimeoutMs = 120_000
    stream_idle_timeout_ms: TimeoutMs = 60_000
    stream_timeout_ms: int = Field(default=900_000, ge=1_000, le=_DAY_MS)  # a whole stream
    deadline_ms: TimeoutMs = 300_000
    cooldown_default_ms: CooldownMs = 60_000
    cooldown_max_ms: CooldownMs = _DAY_MS
    breaker_threshold: int = Field(
        default=3,
        ge=1,
        le=1000,
        validation_alias=_aliases("breaker_threshold", "midStreamFailureThreshold"),
    )
    breaker_cooldown_ms: CooldownMs = Field(
        default=30_000, validation_alias=_aliases("breaker_cooldown_ms", "midStreamCooldownMs")
    )
    unknown_model: Literal["default_chain", "404"] = "default_chain"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=1024**3)
    max_response_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, le=1024**3)
    normalize_responses: bool = False
    database_url: Annotated[str, Field(max_length=MAX_PATH)] = Field(
        default="./data/429chain.db", validation_alias=_aliases("database_url", "dbPath")
    )
    # Where the quota tracker keeps its state when database_url is not a SQLite file.
    state_path: Annotated[str, Field(max_length=MAX_PATH)] = "./data/429chain-state.db"
    log_requests: bool = True  # one row per request (and per attempt) in the database
    log_retention_days: int = Field(default=30, ge=1, le=3650)
    # USD per 1M (input, output) tokens for the "money saved" figure, by "provider/model" or
    # "model"; overrides the presets' list prices.
    prices: dict[str, tuple[float, float]] = Field(default_factory=dict)
    user_agent: Annotated[str, Field(max_length=MAX_HEADER_VALUE)] = f"429chain/{__version__}"
    strategy: StrategyName = "ordered"  # the default for chains that name none
    cache: CacheSettings = Field(default_factory=CacheSettings)
    # How long a Responses API answer stored with `store: true` (the API's default) can be
    # continued with `previous_response_id`; 0 stores nothing.
    response_store_ttl_ms: int = Field(default=_DAY_MS, ge=0, le=30 * _DAY_MS)

    @field_validator("user_agent")
    @classmethod
    def _check_user_agent(cls, value: str) -> str:
        if _CONTROL_RE.search(value):
            raise ValueError("must not contain line breaks or control characters")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_spellings(cls, value: Any) -> Any:
        # TS 429chain used pino levels (warn, trace, fatal); map them onto ours.
        if isinstance(value, str):
            lowered = value.strip().lower()
            return _LOG_LEVEL_SPELLINGS.get(lowered, lowered)
        return value

    @field_validator("unknown_model", mode="before")
    @classmethod
    def _unknown_model_as_text(cls, value: Any) -> Any:
        # YAML reads a bare 404 as an integer.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Config(BaseModel):
    """The whole config file."""

    model_config = _MODEL_CONFIG

    version: Literal[1] = 1
    settings: Settings = Field(default_factory=Settings)
    providers: list[ProviderConfig] = Field(default_factory=list)
    chains: list[ChainConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> Config:
        # The loader passes defer_cross_checks so it can report each problem with its own line.
        if info.context and info.context.get("defer_cross_checks"):
            return self
        problems = self.cross_check()
        if problems:
            raise ValueError("; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in problems))
        return self

    def secrets(self) -> list[str]:
        """Every key in the config: provider keys, proxy keys and admin keys."""
        keys = [p.api_key for p in self.providers if p.api_key]
        return [*keys, *self.settings.api_keys, *(self.settings.admin_keys or [])]

    def provider(self, provider_id: str) -> ProviderConfig | None:
        return next((p for p in self.providers if p.id == provider_id), None)

    def chain(self, name: str) -> ChainConfig | None:
        return next((c for c in self.chains if c.name == name), None)

    @property
    def default_chain_name(self) -> str | None:
        """`settings.default_chain`, else the first chain, else None."""
        if self.settings.default_chain is not None:
            return self.settings.default_chain
        return self.chains[0].name if self.chains else None

    def cross_check(self) -> list[Problem]:
        """Problems that span several parts of the config, each with the path it concerns."""
        return [
            *_duplicates("providers", "id", [p.id for p in self.providers]),
            *_duplicates("chains", "name", [c.name for c in self.chains]),
            *self._missing_base_urls(),
            *self._dangling_entries(),
            *self._default_chain_problems(),
            *self._cooldown_problems(),
            *self._kind_problems(),
        ]

    def _missing_base_urls(self) -> Iterable[Problem]:
        for i, provider in enumerate(self.providers):
            if provider.base_url is None and provider.preset.base_url is None:
                msg = f"required for type {provider.type!r} (it has no default URL)"
                yield ("providers", i, "base_url"), msg

    def _dangling_entries(self) -> Iterable[Problem]:
        ids = [p.id for p in self.providers]
        for c, chain in enumerate(self.chains):
            for e, entry in enumerate(chain.entries):
                if entry.provider not in ids:
                    msg = f"unknown provider {entry.provider!r}{_suggest(entry.provider, ids)}"
                    yield ("chains", c, "entries", e, "provider"), msg

    def _default_chain_problems(self) -> Iterable[Problem]:
        name = self.settings.default_chain
        if name is None or self.chain(name) is not None:
            return
        names = [c.name for c in self.chains]
        hint = _suggest(name, names) if names else "; no chains are defined"
        yield ("settings", "default_chain"), f"chain {name!r} does not exist{hint}"

    def _cooldown_problems(self) -> Iterable[Problem]:
        s = self.settings
        if s.cooldown_default_ms > s.cooldown_max_ms:
            msg = f"must not exceed cooldown_max_ms ({s.cooldown_max_ms})"
            yield ("settings", "cooldown_default_ms"), msg

    def _kind_problems(self) -> Iterable[Problem]:
        """A chain serves chat or embeddings, never both: an embeddings model in a chat chain
        (or the reverse) would fail every request that reaches it."""
        for c, chain in enumerate(self.chains):
            embeds = [self._is_embedding_model(e) for e in chain.entries]
            if chain.kind is None:
                if any(embeds) and not all(embeds):
                    embedding = [e.model for e, x in zip(chain.entries, embeds, strict=True) if x]
                    yield (
                        ("chains", c, "entries"),
                        (
                            f"the chain mixes chat and embeddings models ({', '.join(embedding)} "
                            "embed); split it in two, or set its kind"
                        ),
                    )
                continue
            for e, entry in enumerate(chain.entries):
                if chain.kind == "chat" and embeds[e]:
                    yield (
                        ("chains", c, "entries", e, "model"),
                        (f"{entry.model!r} is an embeddings model, but the chain's kind is chat"),
                    )
                elif chain.kind == "embeddings" and not self._serves(entry.provider, "embeddings"):
                    yield (
                        ("chains", c, "entries", e, "provider"),
                        (f"provider {entry.provider!r} does not serve embeddings"),
                    )

    def _serves(self, provider_id: str, operation: str) -> bool:
        provider = self.provider(provider_id)
        return provider is None or operation in provider.preset.operations

    def _is_embedding_model(self, entry: EntryConfig) -> bool:
        """Whether the presets (or the model's name) say this is an embeddings model."""
        provider = self.provider(entry.provider)
        if provider is not None and entry.model in provider.preset.embedding_models:
            return True
        return "embed" in entry.model.lower()  # e.g. nomic-embed-text on a local Ollama

    def chain_kind(self, chain: ChainConfig) -> ChainKindName:
        """The chain's kind as declared, else embeddings when all its entries embed, else chat."""
        if chain.kind is not None:
            return chain.kind
        embeds = all(self._is_embedding_model(e) for e in chain.entries)
        return "embeddings" if embeds else "chat"


def _duplicates(section: str, field: str, values: list[str]) -> Iterable[Problem]:
    first: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in first:
            yield (
                (section, i, field),
                f"duplicate {field} {value!r} (first used at {section}[{first[value]}])",
            )
        else:
            first[value] = i


def _suggest(value: str, known: Iterable[str]) -> str:
    """A short "did you mean" / "known: ..." tail for unknown-name messages."""
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(known)}" if known else ""


def format_loc(loc: Iterable[str | int]) -> str:
    """`("chains", 1, "entries", 0, "provider")` -> `chains[1].entries[0].provider`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
