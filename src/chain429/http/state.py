"""What every handler shares, held on the aiohttp app under one typed key."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from chain429.config.schema import Config, Settings
from chain429.engine.chain import ChainTable
from chain429.engine.walk import Walker
from chain429.http.auth import KeyCheck
from chain429.http.metrics import Metrics
from chain429.quota.tracker import QuotaTracker
from chain429.storage.store import StoreRef
from chain429.storage.writer import RecordWriter


@dataclass(slots=True)
class AppState:
    config: Config
    routes: ChainTable
    walker: Walker
    tracker: QuotaTracker
    keys: KeyCheck
    admin_keys: KeyCheck
    disabled: dict[str, str] = field(default_factory=dict)
    store: StoreRef = field(default_factory=StoreRef)
    writer: RecordWriter | None = None  # None: request logging is off
    metrics: Metrics | None = None
    on_secrets: Callable[[Iterable[str]], None] | None = None  # the log filter's key list
    request_ids: Callable[[], str] = field(default_factory=lambda: request_id_source())
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    counters: Counter[str] = field(default_factory=Counter)
    # The config file behind `config` (None: not from a file, so not editable or reloaded).
    config_path: Path | None = None
    config_env: Mapping[str, str] | None = None  # for ${VAR}; None: os.environ
    config_hash: str | None = None  # sha256 of the file text now being served
    config_error: str | None = None  # why the file on disk is not what is being served
    loaded_at: float = field(default_factory=time.time)
    env_refs: dict[str, str] = field(default_factory=dict)  # see LoadedConfig.env_refs
    config_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one file edit at a time

    @property
    def settings(self) -> Settings:
        return self.config.settings


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
