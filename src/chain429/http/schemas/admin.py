"""Shapes of the management API: the masked config, edits, probes; and its request bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from chain429.config.schema import ChainConfig, EntryConfig, ProviderConfig, Settings
from chain429.http.schemas.base import Shape


class FileStatus(Shape):
    path: str | None
    loaded_at: str
    error: str | None = Field(description="Why the file on disk is not the config being served.")
    editable: bool


class ConfigView(Shape):
    """The served config, every key masked (`gsk…abcd`), `${VAR}` fields as written.

    With `?case=camel` the config's keys are camelCase, as the TypeScript original wrote them.
    """

    model_config = ConfigDict(extra="allow")  # ?case=camel renames the config's keys
    version: int
    settings: Settings
    providers: list[ProviderConfig]
    chains: list[ChainConfig]
    file: FileStatus
    disabled_providers: dict[str, str] = Field(description="Provider id -> why it is off.")


class Edited(Shape):
    warnings: list[str]
    restart_required: list[str] = Field(description="Settings saved, used after a restart.")


class SettingsEdited(Edited):
    settings: Settings


class ProviderEdited(Edited):
    provider: ProviderConfig | None
    created: bool


class ProviderDeleted(Edited):
    deleted: str
    chains_edited: list[str]


class ChainEdited(Edited):
    chain: ChainConfig | None
    created: bool


class ChainDeleted(Edited):
    deleted: str


class ProviderProbe(Shape):
    provider: str
    method: Literal["models", "chat"]
    model: str | None
    ok: bool
    status: int | None = Field(description="The provider's HTTP status; null if unreachable.")
    error: str | None
    latency_ms: float
    models: int | None = Field(None, description="`method: models`: how many were listed.")


class ProviderModel(Shape):
    id: str
    object: Literal["model"]
    owned_by: str


class ProviderModels(Shape):
    object: Literal["list"]
    provider: str
    data: list[ProviderModel]
    models: list[str]


class ProbeAttempt(Shape):
    entry: str
    provider: str
    model: str
    outcome: str
    status: int | None
    reason: str
    skipped: bool
    latency_ms: float


class TokenCounts(Shape):
    prompt: int
    completion: int
    total: int


class TsResult(Shape):
    """One entry as the TypeScript original's chain test reported it."""

    provider: str
    model: str
    status: Literal["ok", "error", "skipped"]
    ok: bool
    latencyMs: float
    error: str | None = None
    response: str | None = None
    tokens: TokenCounts | None = None
    attempts: list[ProbeAttempt] | None = Field(None, description="`per_entry` only.")


class ProbeSummary(Shape):
    total: int
    ok: int
    failed: int


class ChainProbe(Shape):
    chain: str
    mode: Literal["waterfall", "per_entry"]
    stream: bool
    ok: bool
    results: list[TsResult]
    summary: ProbeSummary
    # The waterfall's own report (mode `waterfall`).
    served_by: str | None = None
    response: str | None = None
    usage: dict[str, Any] | None = None
    error: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    attempts: list[ProbeAttempt] | None = None


# -- request bodies ---------------------------------------------------------------------------


class ProbeProviderBody(Shape):
    model: str | None = Field(None, description="Send a 5-token chat to this model.")


class ChainBody(Shape):
    model_config = ConfigDict(extra="allow")
    entries: list[EntryConfig | str] = Field(description="Entries, or `provider/model` strings.")
    max_wait_ms: int | None = None


class ProbeChainBody(Shape):
    model_config = ConfigDict(extra="allow")  # camelCase spellings are accepted too
    prompt: str | None = None
    max_tokens: int | None = 50
    stream: bool = False
    per_entry: bool = Field(False, description="Also accepted: perEntry.")
