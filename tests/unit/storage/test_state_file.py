"""The tracker's SQLite file: private to its owner, refused cleanly when corrupt."""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain429.storage import sqlite as tracker_db


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: new files world-readable
    try:
        yield
    finally:
        os.umask(old)


def modes(directory: Path, pattern: str) -> dict[str, int]:
    return {file.name: mode(file) for file in directory.glob(pattern)}


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.usefixtures("loose_umask")
def test_the_database_and_its_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "state.db"
    state = tracker_db.TrackerStateStore.open(path)
    try:
        state.save({"a/b": {"n": 1}}, now=1.0)
        for suffix in ("", "-wal", "-shm"):
            assert os.path.exists(f"{path}{suffix}"), suffix
            assert mode(f"{path}{suffix}") == 0o600, suffix
    finally:
        state.close()


@pytest.mark.usefixtures("loose_umask")
def test_sidecars_made_loose_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    tracker_db.connect(path).close()
    os.chmod(path, 0o644)  # e.g. a file copied in by hand
    state = tracker_db.TrackerStateStore.open(path)
    try:
        state.save({"k": {"n": 1}}, now=1.0)
        assert mode(f"{path}-wal") == 0o600
    finally:
        state.close()


def test_a_corrupt_file_raises_and_closes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(sqlite3.DatabaseError):
        tracker_db.TrackerStateStore.open(path)


def test_replacing_the_file_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    state = tracker_db.TrackerStateStore.open(path)
    try:
        state.save({"k": {"n": 1}}, now=1.0)
        assert state.ensure_file() is False
        os.replace(path, tmp_path / "moved.db")
        assert state.ensure_file() is True
        assert state.load() == {}
        assert mode(path) == 0o600
    finally:
        state.close()


@pytest.mark.usefixtures("loose_umask")
async def test_the_request_log_database_is_created_0600(tmp_path: Path) -> None:
    from chain429.storage.store import Store

    path = tmp_path / "log.db"
    store = await Store.open(str(path))
    try:
        assert modes(tmp_path, "log.db*") == {
            "log.db": 0o600,
            "log.db-wal": 0o600,
            "log.db-shm": 0o600,
        }
    finally:
        await store.close()


async def test_postgres_without_its_driver_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chain429.storage.store import MissingDriver, Store

    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if not installed
    with pytest.raises(MissingDriver, match=r"pip install '429chain\[postgres\]'"):
        await Store.open("postgresql://user@127.0.0.1:5432/test")
