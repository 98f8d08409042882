"""What runs beside the server: tracker persistence, the request log writer, retention."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from chain429.config.schema import Settings
from chain429.quota.persist import TrackerPersister
from chain429.quota.tracker import MemoryTracker
from chain429.storage.sqlite import TrackerStateStore, connect
from chain429.tasks import Tasks

CleanupContext = Callable[[web.Application], AsyncIterator[None]]
logger = logging.getLogger("chain429")
NO_DATABASE = ("", "none", "memory", ":memory:")


def sqlite_path(database_url: str) -> str | None:
    """The SQLite file a database_url names, or None (no database, or another engine)."""
    if (
        database_url in NO_DATABASE
        or ("://" in database_url
        and not database_url.startswith("sqlite"))
    ):
        return None
    return database_url.split(":///", 1)[-1] if "://" in database_url else database_url


def state_path(settings: Settings) -> str | None:
    """Where the tracker's state lives: the SQLite database, else its own local file."""
    if settings.database_url in NO_DATABASE:
        return None
    return sqlite_path(settings.database_url) or settings.state_path


def tracker_persistence(tracker: MemoryTracker, path: str) -> CleanupContext:
    """Restore before serving (a restart must not re-hammer a provider), then write behind."""

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        db = connect(path)
        persister = TrackerPersister(tracker, TrackerStateStore(db))
        persister.restore()
        tasks = Tasks()
        tasks.start(persister.run(), "persist-tracker")
        yield
        await tasks.close()
        await persister.flush()
        db.close()

    return lifetime
