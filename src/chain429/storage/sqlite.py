"""The tracker's state table in SQLite, with the standard library: fast enough to run at startup.

The quota tracker restores its state before the server listens, where importing SQLAlchemy
(about 0.8 s) would cost too much. This module applies the first step of the shared schema
history (`storage/migrations.py`) by itself, under the same name in the same
`schema_migrations` table, so either path can open a database the other made; a test keeps
the two in step.
"""

from __future__ import annotations

import json
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
    """Open (creating if need be) and migrate the database."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    migrate(db)
    return db


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
    """Rows of tracker state by key; an empty row deletes the key."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

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
