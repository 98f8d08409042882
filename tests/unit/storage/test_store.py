"""The store's URLs, its speed on SQLite, and its agreement with the tracker's stdlib path."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from chain429.storage import sqlite as tracker_db
from chain429.storage.migrations import MIGRATIONS
from chain429.storage.store import Store, async_url
from tests.unit.storage.factories import make_records


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        ("./data/429chain.db", "sqlite+aiosqlite:///./data/429chain.db"),
        ("/var/lib/429chain.db", "sqlite+aiosqlite:////var/lib/429chain.db"),
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("postgresql://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgres://u@db/app?sslmode=require", "postgresql+asyncpg://u@db/app?sslmode=require"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
    ],
)
def test_database_urls_map_to_async_drivers(database_url: str, expected: str) -> None:
    assert async_url(database_url) == expected


@pytest.mark.parametrize("database_url", ["", "none", ":memory:", "mysql://u@db/app"])
def test_no_database_or_an_unknown_one_is_refused(database_url: str) -> None:
    with pytest.raises(ValueError, match="database"):
        async_url(database_url)


async def test_an_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        await Store.open("sqlite://")


def test_importing_the_store_and_writer_does_not_import_sqlalchemy() -> None:
    code = (
        "import sys, chain429.storage.writer, chain429.storage.retention, chain429.storage.sqlite;"
        "print(any(m.split('.')[0] == 'sqlalchemy' for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_a_batch_of_a_thousand_records_is_one_transaction(store: Store) -> None:
    # The speed itself is a bench figure; what makes it fast is checked here: one commit per
    # batch (a commit per row would be ~1000x the fsyncs). The bound only catches a collapse.
    from sqlalchemy import event

    commits: list[None] = []
    event.listen(store.engine.sync_engine, "commit", lambda _conn: commits.append(None))
    timings = []
    for start in range(0, 3000, 1000):
        batch = make_records(1000, start)
        t0 = time.perf_counter()
        assert await store.insert(batch) == 0
        timings.append(time.perf_counter() - t0)
    assert len(commits) == 3
    (count,) = (await store.fetch(_count_requests()))[0].values()
    assert count == 3000
    assert min(timings) < 2.0, timings  # ~10 ms on an idle machine


def _count_requests() -> object:
    from sqlalchemy import func, select

    from chain429.storage.tables import requests

    return select(func.count()).select_from(requests)


def test_the_tracker_path_applies_the_first_steps_of_the_shared_history() -> None:
    names = [name for name, _ in tracker_db.MIGRATIONS]
    assert names == [m.name for m in MIGRATIONS[: len(names)]]


async def test_a_database_the_store_made_serves_the_tracker(db_path: Path) -> None:
    store = await Store.open(str(db_path))
    await store.close()
    db = tracker_db.connect(db_path)
    try:
        assert tracker_db.migrate(db) == []
        state = tracker_db.TrackerStateStore(db)
        state.save({"a/b": {"until": 5.0}}, now=1.0)
        assert state.load() == {"a/b": {"until": 5.0}}
    finally:
        db.close()


async def test_the_tracker_and_the_store_share_the_file_at_once(db_path: Path) -> None:
    db = tracker_db.connect(db_path)  # as at startup: the tracker first, before listening
    store = await Store.open(str(db_path))
    try:
        state = tracker_db.TrackerStateStore(db)
        for i in range(5):
            state.save({f"k{i}": {"n": i}}, now=float(i))
            await store.insert(make_records(50, i * 50))
        assert len(state.load()) == 5
        with closing(sqlite3.connect(db_path)) as check:
            assert check.execute("SELECT count(*) FROM requests").fetchone() == (250,)
    finally:
        await store.close()
        db.close()
