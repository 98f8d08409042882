"""What every handler shares, held on the aiohttp app under one typed key.

Two kinds of thing live here. `Runtime` is what a config describes (the config, its routes and
keys, where it came from), an immutable snapshot that a config change replaces in one
assignment, so a handler that reads `state.runtime` once sees one consistent config for the
whole request. `AppState` holds the long-lived services (walker, tracker, request log, events,
metrics, the config lock) and the current `runtime`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from chain429.cache.store import CacheStore
from chain429.config.schema import Config, Settings
from chain429.engine.chain import ChainTable
from chain429.engine.walk import Walker
from chain429.events import EventHub
from chain429.http.auth import KeyCheck
from chain429.http.metrics import Metrics
from chain429.http.request_counts import RequestCounts
from chain429.quota.tracker import QuotaTracker
from chain429.storage.responses import MemoryResponses, ResponseStore
from chain429.storage.store import StoreRef
from chain429.storage.writer import RecordWriter


@dataclass(frozen=True, slots=True)
class Runtime:
    """The served config and everything derived from it; replaced whole, never edited."""

    config: Config
    routes: ChainTable
    keys: KeyCheck
    admin_keys: KeyCheck
    disabled: Mapping[str, str] = field(default_factory=dict)  # provider id -> why it is off
    env_refs: Mapping[str, str] = field(default_factory=dict)  # see LoadedConfig.env_refs
    # The config file behind `config` (None: not from a file, so not editable or reloaded).
    config_path: Path | None = None
    config_env: Mapping[str, str] | None = None  # for ${VAR}; None: os.environ
    config_hash: str | None = None  # sha256 of the file text now being served
    loaded_at: float = field(default_factory=time.time)

    @property
    def settings(self) -> Settings:
        return self.config.settings


@dataclass(slots=True)
class AppState:
    """The services, and the runtime snapshot now served (`runtime`)."""

    runtime: Runtime
    walker: Walker
    tracker: QuotaTracker
    events: EventHub = field(default_factory=EventHub)
    store: StoreRef = field(default_factory=StoreRef)
    writer: RecordWriter | None = None  # None: request logging is off
    metrics: Metrics | None = None
    cache: CacheStore | None = None  # the response cache (used by chains that turn it on)
    # Responses API answers for `previous_response_id`: replaced by app.create_app with one
    # that uses the request log's database when there is one.
    responses: ResponseStore = field(default_factory=MemoryResponses)
    counts: RequestCounts = field(default_factory=RequestCounts)  # for /health
    on_secrets: Callable[[Iterable[str]], None] | None = None  # the log filter's key list
    request_ids: Callable[[], str] = field(default_factory=lambda: request_id_source())
    clock: Callable[[], float] = time.time  # wall time, injectable (saved responses' expiry)
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    config_error: str | None = None  # why the file on disk is not what is being served
    config_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one file edit at a time

    # Read-only shorthands for the runtime's fields, for code that needs one field. A handler
    # reads `state.runtime` once instead; only `apply_config` and start-up replace it, whole.

    @property
    def settings(self) -> Settings:
        return self.runtime.config.settings

    @property
    def config(self) -> Config:
        return self.runtime.config

    @property
    def routes(self) -> ChainTable:
        return self.runtime.routes

    @property
    def keys(self) -> KeyCheck:
        return self.runtime.keys

    @property
    def admin_keys(self) -> KeyCheck:
        return self.runtime.admin_keys

    @property
    def disabled(self) -> Mapping[str, str]:
        return self.runtime.disabled

    @property
    def env_refs(self) -> Mapping[str, str]:
        return self.runtime.env_refs

    @property
    def config_path(self) -> Path | None:
        return self.runtime.config_path

    @property
    def config_env(self) -> Mapping[str, str] | None:
        return self.runtime.config_env

    @property
    def config_hash(self) -> str | None:
        return self.runtime.config_hash

    @property
    def loaded_at(self) -> float:
        return self.runtime.loaded_at


def request_id_source() -> Callable[[], str]:
    """Request ids: 32 hex characters, time-ordered (cheap to index) and unique per process.

    A random salt per process keeps replicas' ids apart; a counter keeps ids within one
    nanosecond apart. (uuid4 reads the OS's random source each time, which is slow here.)
    """
    salt = os.urandom(4).hex()
    counter = itertools.count()

    def next_id() -> str:
        return f"{time.time_ns():016x}{salt}{next(counter) & 0xFFFFFFFF:08x}"

    return next_id


STATE = web.AppKey("state", AppState)
