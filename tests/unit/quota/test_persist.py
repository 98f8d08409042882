"""Tracker persistence: saves never overlap, shutdown waits for the save in flight."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from chain429.quota.persist import PersistStatus, Rows, TrackerPersister
from chain429.storage.sqlite import TrackerStateStore
from chain429.tasks import Tasks


class FakeTracker:
    """Only the members persistence uses: dirty, export, restore, clock."""

    def __init__(self) -> None:
        self.state: Rows = {}
        self.dirty: set[str] = set()
        self.clock: Callable[[], float] = lambda: 1000.0

    def set(self, key: str, value: int) -> None:
        self.state[key] = {"n": value}
        self.dirty.add(key)

    def export(self, keys: set[str] | None = None) -> Rows:
        chosen = self.state.keys() if keys is None else keys
        return {k: dict(self.state.get(k, {})) for k in chosen}

    def restore(self, rows: Rows) -> None:
        self.state = {k: dict(v) for k, v in rows.items()}


class SlowStore(TrackerStateStore):
    """A real SQLite store whose saves take a while, and which notices overlapping calls."""

    def __init__(self, path: Path) -> None:
        opened = TrackerStateStore.open(path)
        super().__init__(opened._db, path)
        self.started = threading.Event()
        self.busy = 0
        self.overlaps = 0
        self.fail_next = False

    def save(self, rows: Rows, now: float) -> None:
        self.busy += 1
        try:
            if self.busy > 1:
                self.overlaps += 1
            self.started.set()
            time.sleep(0.005)
            if self.fail_next:
                self.fail_next = False
                raise sqlite3.OperationalError("disk I/O error")
            super().save(rows, now)
        finally:
            self.busy -= 1


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


def delete_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def on_disk(path: Path) -> dict[str, Any]:
    with closing(sqlite3.connect(path)) as db:
        return {k: v for k, v in db.execute("SELECT key, state FROM tracker_state")}


async def test_shutdown_during_a_save_leaves_the_last_state_on_disk(tmp_path: Path) -> None:
    for i in range(50):
        path = tmp_path / f"state-{i}.db"
        tracker = FakeTracker()
        store = SlowStore(path)
        persister = TrackerPersister(tracker, store, interval_s=0.001)
        tasks = Tasks()
        tasks.start(persister.run(), "persist")
        tracker.set("a", 1)
        tracker.set("b", 1)
        await until(store.started.is_set)
        tracker.set("a", 2)  # changed while the first save is still writing
        tracker.set("c", 3)
        await tasks.close()  # as at shutdown: the loop is cancelled mid-save...
        await persister.close()  # ...and the final flush runs after it
        assert store.overlaps == 0
        assert on_disk(path) == {"a": '{"n": 2}', "b": '{"n": 1}', "c": '{"n": 3}'}, i


async def test_a_failed_save_keeps_its_keys_dirty(tmp_path: Path) -> None:
    tracker = FakeTracker()
    store = SlowStore(tmp_path / "state.db")
    status = PersistStatus(path=str(store.path), persisted=True)
    persister = TrackerPersister(tracker, store, status=status)
    tracker.set("a", 1)
    store.fail_next = True
    with pytest.raises(sqlite3.OperationalError):
        await persister.flush()
    assert tracker.dirty == {"a"}
    tracker.set("b", 2)
    await persister.close()
    assert tracker.dirty == set()
    assert on_disk(tmp_path / "state.db") == {"a": '{"n": 1}', "b": '{"n": 2}'}


async def test_a_failed_save_in_the_loop_shows_in_the_status(tmp_path: Path) -> None:
    tracker = FakeTracker()
    store = SlowStore(tmp_path / "state.db")
    status = PersistStatus(path=str(store.path), persisted=True)
    persister = TrackerPersister(tracker, store, interval_s=0.001, status=status)
    tasks = Tasks()
    tasks.start(persister.run(), "persist")
    store.fail_next = True
    tracker.set("a", 1)
    await until(lambda: status.error is not None)
    assert "disk I/O error" in status.error
    await until(lambda: not tracker.dirty and status.error is None)  # the next tick writes it
    await tasks.close()
    await persister.close()
    assert on_disk(tmp_path / "state.db") == {"a": '{"n": 1}'}


async def test_a_database_deleted_while_running_is_recreated_with_all_state(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    tracker = FakeTracker()
    status = PersistStatus(path=str(path), persisted=True)
    persister = TrackerPersister(tracker, TrackerStateStore.open(path), status=status)
    tracker.set("a", 1)
    tracker.set("b", 2)
    await persister.flush()
    delete_database(path)
    tracker.set("b", 3)
    await persister.check_file()
    await persister.flush()
    assert status.recreated == 1
    assert on_disk(path) == {"a": '{"n": 1}', "b": '{"n": 3}'}
    await persister.check_file()  # the same file now: nothing to do
    assert status.recreated == 1
    await persister.close()


async def test_a_long_cooldown_is_written_at_once_not_at_the_next_tick(tmp_path: Path) -> None:
    """A crash a moment after a 429 must not lose its cooldown (SIGKILL 50 ms after it did)."""
    from chain429.engine.operations import CHAT
    from chain429.engine.settle import settle
    from chain429.providers.presets import get_preset
    from chain429.quota.tracker import MemoryTracker, Policy
    from chain429.vocabulary import Entry, Ticket

    path = tmp_path / "state.db"
    tracker = MemoryTracker(Policy(), persist_every_s=3600)  # the tick never comes in this test
    await tracker.start(TrackerStateStore.open(path))
    entry = Entry("groq", "m", get_preset("groq"), "http://x", {}, 5.0)
    try:
        ticket = tracker.acquire(entry, 10)
        assert isinstance(ticket, Ticket)
        settled = settle(entry, 429, {"retry-after": "600"}, b"{}", time.time(), operation=CHAT)
        tracker.release(ticket, settled.outcome, settled.snapshot)
        for _ in range(2000):  # written in the persister's thread: look often, for up to 20 s
            with closing(sqlite3.connect(path)) as db:
                rows = db.execute("SELECT key FROM tracker_state").fetchall()
            if ("entry:groq/m",) in rows:
                break
            await asyncio.sleep(0.01)
        assert ("entry:groq/m",) in rows
    finally:
        await tracker.close()
