"""The tracker's state table in SQLite, with the standard library: fast enough to run at startup.

The quota tracker restores its state before the server listens, where importing SQLAlchemy
(about 0.8 s) would cost too much. This module applies the first step of the shared schema
history (`storage/migrations.py`) by itself, under the same name in the same
`schema_migrations` table, so either path can open a database the other made; a test keeps
the two in step.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Migration = Callable[[sqlite3.Connection], None]

SCHEMA_MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)"
)
TRACKER_STATE_DDL = (
    "CREATE TABLE tracker_state ("
    " key TEXT PRIMARY KEY,"
    " state TEXT NOT NULL,"
    " updated_at REAL NOT NULL)"
)


def _tracker_state(db: sqlite3.Connection) -> None:
    db.execute(TRACKER_STATE_DDL)


# Ordered and append-only: a migration, once released, is never edited. These names are the
# first of `storage.migrations.MIGRATIONS`; the later steps need SQLAlchemy and run there.
MIGRATIONS: list[tuple[str, Migration]] = [
    ("0001_tracker_state", _tracker_state),
]


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating if need be, private to its owner) and migrate the database.

    Raises sqlite3.Error for a file that is not a usable database, OSError for one that
    cannot be created; the connection is closed again in either case.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        create_private(Path(path))
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        migrate(db)
    except BaseException:
        db.close()
        raise
    if str(path) != ":memory:":
        private_sidecars(Path(path))
    return db


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 (whatever the umask) unless it exists.

    SQLite gives the -wal and -shm files the database file's mode; a file made by
    `sqlite3.connect` itself would follow the umask, often world-readable.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def private_sidecars(path: Path) -> None:
    """The database's WAL and shared-memory files, once they exist, readable by the owner only."""
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", 0o600)


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied."""
    db.execute(SCHEMA_MIGRATIONS_DDL)
    applied = []
    for name, step in MIGRATIONS:
        with db:  # one transaction per migration, holding the write lock from the start
            db.execute("BEGIN IMMEDIATE")
            if db.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone():
                continue  # done before, or by another process while we waited for the lock
            step(db)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, time.time()))
        applied.append(name)
    return applied


class TrackerStateStore:
    """Rows of tracker state by key; an empty row deletes the key.

    Not thread-safe: its owner (`quota.persist.TrackerPersister`) calls it from one thread
    at a time.
    """

    def __init__(self, db: sqlite3.Connection, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._db = db
        self._identity = file_identity(self.path)

    @classmethod
    def open(cls, path: str | Path) -> TrackerStateStore:
        return cls(connect(path), path)

    def load(self) -> dict[str, dict[str, Any]]:
        rows = self._db.execute("SELECT key, state FROM tracker_state")
        return {key: json.loads(state) for key, state in rows}

    def save(self, rows: dict[str, dict[str, Any]], now: float) -> None:
        keep = [(k, json.dumps(v), now) for k, v in rows.items() if v]
        drop = [(k,) for k, v in rows.items() if not v]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO tracker_state (key, state, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET state = excluded.state,"
                " updated_at = excluded.updated_at",
                keep,
            )
            self._db.executemany("DELETE FROM tracker_state WHERE key = ?", drop)
        if self._identity is not None:
            private_sidecars(Path(self.path))

    def ensure_file(self) -> bool:
        """If the file at `path` is no longer the one open (deleted, replaced), open it anew.

        Writes to a deleted file succeed and vanish at exit; True tells the caller that the
        database is new and empty, so everything must be written again.
        """
        if self._identity is None or file_identity(self.path) == self._identity:
            return False
        self._db.close()
        self._db = connect(self.path)
        self._identity = file_identity(self.path)
        return True

    def close(self) -> None:
        self._db.close()


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None for an in-memory database; (0, 0): gone.

    A changed identity means the file open is no longer the one at `path`: writes to it are
    lost at exit.
    """
    if path == ":memory:":
        return None
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return (0, 0)
    return stat.st_dev, stat.st_ino
