"""What every handler shares, held on the aiohttp app under one typed key."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from chain429.config.schema import Config, Settings
from chain429.engine.chain import Routes
from chain429.engine.walk import Walker
from chain429.http.auth import KeyCheck
from chain429.http.metrics import Metrics
from chain429.quota.tracker import QuotaTracker
from chain429.storage.store import StoreRef
from chain429.storage.writer import RecordWriter


@dataclass(slots=True)
class AppState:
    config: Config
    routes: Routes
    walker: Walker
    tracker: QuotaTracker
    keys: KeyCheck
    admin_keys: KeyCheck
    disabled: dict[str, str] = field(default_factory=dict)
    store: StoreRef = field(default_factory=StoreRef)
    writer: RecordWriter | None = None  # None: request logging is off
    metrics: Metrics | None = None
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    counters: Counter[str] = field(default_factory=Counter)

    @property
    def settings(self) -> Settings:
        return self.config.settings


STATE = web.AppKey("state", AppState)
