"""What runs beside the server: tracker persistence, the request log writer, retention."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from chain429.config.schema import Settings
from chain429.http.state import AppState
from chain429.quota.persist import TrackerPersister
from chain429.quota.tracker import MemoryTracker
from chain429.storage.retention import retention_loop
from chain429.storage.sqlite import TrackerStateStore, connect
from chain429.storage.store import Store, StoreRef, configured, sqlite_file
from chain429.storage.writer import RecordWriter
from chain429.tasks import Tasks

CleanupContext = Callable[[web.Application], AsyncIterator[None]]
logger = logging.getLogger("chain429")


def state_path(settings: Settings) -> str | None:
    """Where the tracker's state lives: the SQLite database, else its own local file."""
    if not configured(settings.database_url):
        return None
    return sqlite_file(settings.database_url) or settings.state_path


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


def request_log(state: AppState) -> CleanupContext:
    """The request log: its writer takes records at once; the store opens behind it.

    Opening the store imports SQLAlchemy (most of a second), so it happens after the server
    listens; records queue in the writer meanwhile.
    """

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        settings = state.settings
        if not settings.log_requests or not configured(settings.database_url):
            state.store.set(None, "request logging is off (settings.log_requests, database_url)")
            yield
            return
        writer = RecordWriter(state.store)
        state.writer = writer
        unsubscribe = state.events.subscribe(writer.on_finished)
        tasks = Tasks()
        tasks.start(_open_store(state.store, settings.database_url), "open-store")
        tasks.start(writer.run(), "request-log-writer")
        tasks.start(retention_loop(state.store, settings.log_retention_days), "retention")
        yield
        await writer.close(timeout_s=10.0)
        unsubscribe()
        await tasks.close()
        if state.store.store is not None:
            await state.store.store.close()

    return lifetime


async def _open_store(ref: StoreRef, database_url: str) -> None:
    try:
        # Import SQLAlchemy in a worker thread: in the loop it would stall the first second.
        await asyncio.to_thread(importlib.import_module, "sqlalchemy.ext.asyncio")
        ref.set(await Store.open(database_url))
        # SQLAlchemy brings ~10^5 long-lived objects; keep every later collection off them.
        gc.freeze()
    except Exception as exc:  # the proxy keeps serving; the log and stats say why
        logger.error("the request log database could not be opened: %s", exc)
        ref.set(None, str(exc))
