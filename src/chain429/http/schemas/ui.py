"""Shapes of the routes the web UI adds: presets, the config file view, the live feed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chain429.http.schemas.base import Shape


class PresetLimits(Shape):
    requests_per_minute: int | None
    requests_per_hour: int | None
    requests_per_day: int | None
    tokens_per_minute: int | None
    tokens_per_hour: int | None
    tokens_per_day: int | None
    concurrent_requests: int | None


class PresetView(Shape):
    name: str = Field(description="The provider `type` to configure.")
    base_url: str | None = Field(description="null: the provider needs a base_url.")
    auth: Literal["bearer", "x-api-key", "query", "none"]
    dialect: str = Field(description="Which rate-limit header parser reads its responses.")
    quota_scope: Literal["model", "provider"]
    daily_reset: str
    operations: list[str]
    limits: PresetLimits = Field(description="Documented free-tier limits.")
    models: list[str] = Field(description="Models the preset knows limits or prices for.")
    notes: str


class PresetsReply(Shape):
    presets: list[PresetView]


class ConfigFileView(Shape):
    path: str | None
    text: str | None = Field(description="The file as on disk, keys masked; null if unreadable.")
