"""The request log store: SQLite by default, Postgres by URL; one implementation (SQLAlchemy).

`Store.open` imports SQLAlchemy lazily (it costs ~0.8 s), so it is called after the server
listens; `StoreRef` lets handlers and the writer wait for it. Nothing here imports SQLAlchemy
at module level.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain429.storage.records import RequestRecord, is_fallback
from chain429.storage.rows import RowWriter
from chain429.storage.sqlite import create_private, file_identity, private_sidecars
from chain429.vocabulary import RequestOutcome

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
    from sqlalchemy.pool import ConnectionPoolEntry
    from sqlalchemy.sql.dml import Insert

logger = logging.getLogger("chain429.storage")

NO_DATABASE = ("", "none", "memory", ":memory:")
SQLITE_PRAGMAS = ("busy_timeout=5000", "journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")
DAY_S = 86_400


def configured(database_url: str) -> bool:
    return database_url.strip().lower() not in NO_DATABASE


def sqlite_file(database_url: str) -> str | None:
    """The SQLite file a `database_url` names; None for no database or another engine."""
    if not configured(database_url):
        return None
    url = async_url(database_url)
    prefix = "sqlite+aiosqlite:///"
    return url.removeprefix(prefix) if url.startswith(prefix) else None


def async_url(database_url: str) -> str:
    """The SQLAlchemy async URL for a `database_url`: a bare path, sqlite:///…, postgresql://…."""
    url = database_url.strip()
    if url.lower() in NO_DATABASE:
        raise ValueError(f"no database configured (database_url={database_url!r})")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return f"sqlite+aiosqlite:///{url}"
    scheme = scheme.lower()
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return f"sqlite+aiosqlite://{rest}"
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return f"postgresql+asyncpg://{rest}"
    raise ValueError(f"unsupported database_url scheme: {scheme}")


class Store:
    """Writes batches of records, prunes old ones into daily rollups, and runs queries."""

    def __init__(self, engine: AsyncEngine, *, applied: Sequence[str] = ()) -> None:
        self.engine = engine
        self.dialect_name: str = engine.dialect.name  # "sqlite" | "postgresql"
        self.applied = list(applied)  # the migrations this open applied
        self.rejected = 0  # records the database refused (each one logged)
        self.prune_chunk = 5_000  # rows per prune transaction: keeps the write lock short
        # (device, inode) of the SQLite file as opened: a different one at the path later
        # means the file was deleted or replaced (see `http.lifetimes`).
        self.file_identity: tuple[int, int] | None = None
        self._write_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._rows = RowWriter(self.dialect_name)
        self._upsert_rollups = _rollup_upsert(self.dialect_name)

    @classmethod
    async def open(cls, database_url: str) -> Store:
        """Connect and migrate (under a lock, so concurrent openers are safe)."""
        from chain429.storage.migrations import migrate

        engine = _create_engine(async_url(database_url))
        try:
            async with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
                applied = await conn.run_sync(migrate)
        except BaseException:
            await engine.dispose()
            raise
        store = cls(engine, applied=applied)
        if engine.dialect.name == "sqlite" and engine.url.database:
            private_sidecars(Path(engine.url.database))
            store.file_identity = file_identity(engine.url.database)
        return store

    async def insert(self, records: Sequence[RequestRecord]) -> int:
        """Write a batch in one transaction; returns how many records were refused as invalid.

        Idempotent by request id, so a batch retried after an unclear commit adds nothing twice.
        A record the database refuses (a NULL where none may be, a bad value) would block every
        later batch if retried forever; the batch is then written one record at a time, and the
        refused ones are logged and counted in `rejected`. Other errors propagate: retry later.
        """
        if not records:
            return 0
        try:
            await self._insert(records)
            return 0
        except Exception as exc:
            if not _refused(exc):
                raise
        rejected = 0
        for record in records:
            try:
                await self._insert([record])
            except Exception as exc:
                if not _refused(exc):
                    raise
                rejected += 1
                logger.error("request log: the database refused record %s: %s", record.id, exc)
        self.rejected += rejected
        return rejected

    async def _insert(self, records: Sequence[RequestRecord]) -> None:
        async with self.begin_write() as conn:
            raw = await conn.get_raw_connection()
            await self._rows.write(raw.driver_connection, records)

    async def prune(self, before_ts: float) -> int:
        """Fold requests older than `before_ts` into daily_rollups, delete them; returns how many.

        One transaction per chunk: the chunk is deleted with RETURNING and its totals are added
        to the rollups in the same transaction, so each row is counted exactly once, even when
        two replicas prune at the same time. Attempts go with their request (ON DELETE CASCADE).
        """
        total = 0
        while True:
            pruned = await self._prune_chunk(before_ts)
            total += pruned
            if pruned < self.prune_chunk:
                return total

    async def _prune_chunk(self, before_ts: float) -> int:
        from sqlalchemy import delete, select

        from chain429.storage.tables import requests as r

        victims = select(r.c.id).where(r.c.ts < before_ts).limit(self.prune_chunk)
        statement = (
            delete(r)
            .where(r.c.id.in_(victims))
            .returning(
                r.c.ts,
                r.c.chain,
                r.c.provider,
                r.c.model,
                r.c.key_label,
                r.c.outcome,
                r.c.calls,
                r.c.rate_limited,
                r.c.prompt_tokens,
                r.c.completion_tokens,
                r.c.total_tokens,
                r.c.latency_ms,
            )
        )
        async with self.begin_write() as conn:
            rows = (await conn.execute(statement)).all()
            if rows:
                await conn.execute(self._upsert_rollups, _rollup_rows(rows))
        return len(rows)

    async def fetch(
        self, statement: Any, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run a SELECT (a SQLAlchemy Core statement); rows as dicts."""
        async with self.engine.connect() as conn:
            result = await conn.execute(statement, params)
            return [dict(row) for row in result.mappings()]

    async def close(self) -> None:
        await self.engine.dispose()

    def begin_write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        # On SQLite, BEGIN IMMEDIATE takes the write lock up front, where busy_timeout applies;
        # a deferred transaction that upgrades to a writer can fail at once with "locked".
        return self._write_engine.begin()


class StoreRef:
    """The store once it is open; until then `get` waits (bounded)."""

    def __init__(self) -> None:
        self.store: Store | None = None
        self.error: str | None = None
        self._ready = asyncio.Event()

    @property
    def ready(self) -> bool:
        """Settled: the store is open, or it failed to open (see `error`)."""
        return self._ready.is_set()

    def set(self, store: Store | None, error: str | None = None) -> None:
        self.store, self.error = store, error
        self._ready.set()

    async def get(self, timeout_s: float = 10.0) -> Store | None:
        if self.store is None and not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_s)
            except TimeoutError:
                return None
        return self.store


class MissingDriver(RuntimeError):
    """The database's driver is an optional extra that is not installed."""


def _create_engine(url_text: str) -> AsyncEngine:
    from sqlalchemy import event
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    url = make_url(url_text)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ValueError("the request log needs a SQLite file, not an in-memory database")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        create_private(Path(database))  # rows hold prompts and key labels: owner only
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    try:
        importlib.import_module("asyncpg")  # an optional extra
    except ImportError:
        raise MissingDriver(
            "database_url names a PostgreSQL database, but its driver (asyncpg) is not "
            "installed: pip install '429chain[postgres]'"
        ) from None
    sslmode = url.query.get("sslmode")
    if isinstance(sslmode, str):  # libpq's name for what asyncpg calls `ssl`
        url = url.difference_update_query(["sslmode"]).update_query_dict({"ssl": sslmode})
    return create_async_engine(url, pool_pre_ping=True)


def _sqlite_connect(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    # The driver's own transaction handling skips BEGIN before DDL; `_sqlite_begin` emits it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:  # busy_timeout first: switching to WAL may wait for a lock
        if pragma.startswith("journal_mode"):
            _switch_to_wal(cursor, pragma)
        else:
            cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _switch_to_wal(cursor: Any, pragma: str, tries: int = 100) -> None:
    """Replicas opening a new file at once: SQLite refuses a second switch to WAL with
    "locked" at once, without its busy handler, while the first is under way. Try again (at
    start-up only, for at most busy_timeout's 5 s) until the switch, or the other's, is done."""
    for attempt in range(tries):
        try:
            cursor.execute(f"PRAGMA {pragma}")
            return
        except Exception as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.05)


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _rollup_upsert(dialect_name: str) -> Insert:
    """INSERT into daily_rollups; on a key already there, add the counts to it."""
    from chain429.storage.tables import daily_rollups as t

    keys = [c.name for c in t.primary_key]
    sums = [c.name for c in t.columns if not c.primary_key]
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(t)
        return pg.on_conflict_do_update(
            index_elements=keys, set_={n: t.c[n] + pg.excluded[n] for n in sums}
        )
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(t)
        return lite.on_conflict_do_update(
            index_elements=keys, set_={n: t.c[n] + lite.excluded[n] for n in sums}
        )
    raise ValueError(f"unsupported database: {dialect_name}")


def _refused(exc: BaseException) -> bool:
    """The database (or the driver, on binding) refused the data itself, not the connection."""
    from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

    if isinstance(exc, DataError | IntegrityError):
        return True
    # Raised by the driver itself on the raw insert path (sqlite3, asyncpg), unwrapped.
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"IntegrityError", "DataError", "IntegrityConstraintViolationError"}:
        return True
    if isinstance(exc, StatementError):  # raised while binding parameters, before the server
        return not isinstance(exc, DBAPIError)
    return isinstance(exc, ValueError | TypeError)


@dataclass(slots=True)
class _DayTotals:
    requests: int = 0
    successes: int = 0
    failures: int = 0
    fallbacks: int = 0
    rate_limited: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency_ms_sum: float = 0.0


def _rollup_rows(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Sum pruned request rows by (UTC day, chain, provider, model, key label); "" for NULL."""
    days: dict[int, str] = {}
    totals: dict[tuple[str, str, str, str, str], _DayTotals] = {}
    for row in rows:
        (ts, chain, provider, model, key_label, outcome, calls, limited, pt, ct, tt, ms) = row
        day_number = int(ts // DAY_S)
        day = days.get(day_number)
        if day is None:
            day = days[day_number] = time.strftime("%Y-%m-%d", time.gmtime(day_number * DAY_S))
        key = (day, chain or "", provider or "", model or "", key_label or "")
        t = totals.get(key)
        if t is None:
            t = totals[key] = _DayTotals()
        t.requests += 1
        if outcome == RequestOutcome.SUCCESS:
            t.successes += 1
            t.fallbacks += is_fallback(outcome, calls)
        else:
            t.failures += 1
        t.rate_limited += limited
        t.prompt_tokens += pt or 0
        t.completion_tokens += ct or 0
        t.total_tokens += tt or 0
        t.latency_ms_sum += ms
    return [
        {
            "day": day,
            "chain": chain,
            "provider": provider,
            "model": model,
            "key_label": key_label,
            "requests": t.requests,
            "successes": t.successes,
            "failures": t.failures,
            "fallbacks": t.fallbacks,
            "rate_limited": t.rate_limited,
            "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens,
            "total_tokens": t.total_tokens,
            "latency_ms_sum": t.latency_ms_sum,
        }
        for (day, chain, provider, model, key_label), t in totals.items()
    ]
