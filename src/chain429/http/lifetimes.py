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
from chain429.quota.persist import PersistStatus
from chain429.quota.tracker import QuotaTracker
from chain429.storage.retention import retention_loop
from chain429.storage.sqlite import TrackerStateStore, file_identity
from chain429.storage.store import Store, StoreRef, configured, sqlite_file
from chain429.storage.writer import RecordWriter
from chain429.tasks import Tasks

CleanupContext = Callable[[web.Application], AsyncIterator[None]]
logger = logging.getLogger("chain429")
# Where the tracker's state is kept, for /health; absent when the state is not persisted.
TRACKER_STATE = web.AppKey("tracker_state", PersistStatus)


def state_path(settings: Settings) -> str | None:
    """Where the tracker's state lives: the SQLite database, else its own local file."""
    if not configured(settings.database_url):
        return None
    return sqlite_file(settings.database_url) or settings.state_path


def tracker_persistence(tracker: QuotaTracker, path: str | None) -> CleanupContext:
    """Restore before serving (a restart must not re-hammer a provider), then write behind.

    A state file that cannot be opened or read (corrupt, not a database, no permission) does
    not stop the proxy: it runs with in-memory state, says why once in the log, and /health
    shows it (`app[TRACKER_STATE]`).
    """

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        status = PersistStatus(path=path)
        if path is not None:
            app[TRACKER_STATE] = status
            await _start_persisted(tracker, path, status)
        else:
            await tracker.start(None)
        yield
        try:
            await tracker.close()  # waits for a save in flight, then writes the rest
        except Exception:
            logger.exception("could not persist the quota tracker's state at shutdown")

    return lifetime


async def _start_persisted(tracker: QuotaTracker, path: str, status: PersistStatus) -> None:
    try:
        store = TrackerStateStore.open(path)
    except Exception as exc:  # sqlite3.Error, OSError: the file, not the proxy, is broken
        status.error = f"cannot open {path}: {exc}; quota state is kept in memory only"
        logger.error("tracker state: %s", status.error)
        await tracker.start(None)
        return
    try:
        await tracker.start(store, status)
    except Exception as exc:
        status.error = f"cannot read {path}: {exc}; quota state is kept in memory only"
        logger.error("tracker state: %s", status.error)
        await tracker.start(None)
        return
    status.persisted = True


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
        tasks.start(_reopen_when_replaced(state.store, settings.database_url), "log-file-check")
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


async def _reopen_when_replaced(ref: StoreRef, database_url: str, interval_s: float = 1.0) -> None:
    """A SQLite log file deleted (or replaced) while running is made again, not written into
    the void: the open file is compared with the file at its path every `interval_s`."""
    path = sqlite_file(database_url)
    if path is None:
        return
    while True:
        await asyncio.sleep(interval_s)
        old = ref.store
        if old is None or old.file_identity is None:
            continue
        if await asyncio.to_thread(file_identity, path) == old.file_identity:
            continue
        logger.warning("request log database %s was deleted or replaced; opening it again", path)
        try:
            ref.set(await Store.open(database_url))
        except Exception as exc:
            logger.error("the request log database could not be opened again: %s", exc)
            ref.set(None, f"{path} was deleted while running and could not be made again: {exc}")
        await old.close()
