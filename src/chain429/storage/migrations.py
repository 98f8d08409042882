"""The schema's history: ordered, append-only named steps, recorded in `schema_migrations`.

Each step builds its own tables as they were when it was released, so a later edit to
`tables.py` cannot rewrite history; a test checks that the steps together produce `tables.py`.
Steps use SQLAlchemy DDL only, so they run unchanged on SQLite and Postgres.

`storage/sqlite.py` applies 0001 with the standard library (it runs before the server
listens, where importing SQLAlchemy would cost too much) and records it under the same name
in the same table; either path can open a database the other made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
)

logger = logging.getLogger("chain429.storage")

# Several replicas may start at once against one Postgres: they queue on this lock.
ADVISORY_LOCK_KEY = 0x429C_0001

schema_migrations = Table(
    "schema_migrations",
    MetaData(),
    Column("name", String(200), primary_key=True),
    Column("applied_at", Float),
)


class Migration(NamedTuple):
    name: str
    apply: Callable[[Connection], None]


def _0001_tracker_state(conn: Connection) -> None:
    # checkfirst: a table made by storage/sqlite.py's own 0001 counts as this step done.
    meta = MetaData()
    Table(
        "tracker_state",
        meta,
        Column("key", String(400), primary_key=True),
        Column("state", Text, nullable=False),
        Column("updated_at", Float, nullable=False),
    )
    meta.create_all(conn, checkfirst=True)


def _0002_request_log(conn: Connection) -> None:
    meta = MetaData()
    Table(
        "requests",
        meta,
        Column("id", String(32), primary_key=True),
        Column("ts", Float, nullable=False),
        Column("key_label", String(64), nullable=False),
        Column("chain", String(200)),
        Column("requested_model", String(300)),
        Column("provider", String(200)),
        Column("model", String(300)),
        Column("stream", Boolean, nullable=False),
        Column("status", Integer, nullable=False),
        Column("outcome", String(32), nullable=False),
        Column("prompt_tokens", Integer),
        Column("completion_tokens", Integer),
        Column("total_tokens", Integer),
        Column("tokens_estimated", Boolean, nullable=False),
        Column("latency_ms", Float, nullable=False),
        Column("ttft_ms", Float),
        Column("calls", Integer, nullable=False),
        Column("skipped", Integer, nullable=False),
        Column("rate_limited", Integer, nullable=False),
        Column("error", Text),
        Index("ix_requests_ts", "ts"),
        Index("ix_requests_chain_ts", "chain", "ts"),
        Index("ix_requests_provider_ts", "provider", "ts"),
    )
    Table(
        "attempts",
        meta,
        Column(
            "request_id",
            String(32),
            ForeignKey("requests.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column("seq", Integer, primary_key=True),
        Column("ts", Float, nullable=False),
        Column("provider", String(200), nullable=False),
        Column("model", String(300), nullable=False),
        Column("outcome", String(32), nullable=False),
        Column("status", Integer),
        Column("latency_ms", Float, nullable=False),
        Column("reason", Text, nullable=False),
        Column("skipped", Boolean, nullable=False),
        Index("ix_attempts_provider_ts", "provider", "ts"),
    )
    Table(
        "daily_rollups",
        meta,
        Column("day", String(10), primary_key=True),
        Column("chain", String(200), primary_key=True),
        Column("provider", String(200), primary_key=True),
        Column("model", String(300), primary_key=True),
        Column("key_label", String(64), primary_key=True),
        Column("requests", Integer, nullable=False),
        Column("successes", Integer, nullable=False),
        Column("failures", Integer, nullable=False),
        Column("fallbacks", Integer, nullable=False),
        Column("rate_limited", Integer, nullable=False),
        Column("prompt_tokens", BigInteger, nullable=False),
        Column("completion_tokens", BigInteger, nullable=False),
        Column("total_tokens", BigInteger, nullable=False),
        Column("latency_ms_sum", Float, nullable=False),
    )
    meta.create_all(conn)


def _0003_endpoints_and_responses(conn: Connection) -> None:
    # Which API a request came in on; rows from before it came from the chat-shaped routes.
    conn.execute(text("ALTER TABLE requests ADD COLUMN endpoint VARCHAR(64)"))
    meta = MetaData()
    Table(
        "responses",
        meta,
        Column("id", String(64), primary_key=True),
        Column("key_label", String(64), nullable=False),
        Column("created_at", Float, nullable=False),
        Column("expires_at", Float, nullable=False),
        Column("response", Text, nullable=False),
        Column("conversation", Text, nullable=False),
        Index("ix_responses_expires_at", "expires_at"),
    )
    meta.create_all(conn)


# Ordered and append-only: a migration, once released, is never edited or reordered.
MIGRATIONS: list[Migration] = [
    Migration("0001_tracker_state", _0001_tracker_state),
    Migration("0002_request_log", _0002_request_log),
    Migration("0003_endpoints_and_responses", _0003_endpoints_and_responses),
]


def migrate(conn: Connection, migrations: list[Migration] = MIGRATIONS) -> list[str]:
    """Apply every step not yet recorded, in the caller's transaction; returns the names applied.

    The caller's transaction must hold the write lock on SQLite (BEGIN IMMEDIATE); on Postgres
    this takes a transaction-scoped advisory lock, so concurrent openers apply each step once.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    schema_migrations.create(conn, checkfirst=True)
    done = set(conn.scalars(select(schema_migrations.c.name)))
    applied = []
    for migration in migrations:
        if migration.name in done:
            continue
        migration.apply(conn)
        conn.execute(schema_migrations.insert().values(name=migration.name, applied_at=time.time()))
        applied.append(migration.name)
    unknown = done - {m.name for m in migrations}
    if unknown:  # a newer release migrated this database; its extra tables are left alone
        logger.warning("database has migrations this version does not know: %s", sorted(unknown))
    if applied:
        logger.info("database migrated: %s", ", ".join(applied))
    return applied
