"""Request records as database rows, and the cheapest way each database takes a batch of them.

Rows are plain tuples passed straight to the driver: SQLAlchemy's per-row processing cost
several times the database's own work. Postgres (asyncpg) pipelines an `executemany` of one-row
INSERTs well. Python's sqlite3 driver binds and steps each row of an `executemany` on its own
(and lets go of the GIL around every step), so SQLite gets INSERTs of `SQLITE_ROWS` rows each:
the request log's share of a request fell from about 106,000 instructions to 74,000
(`python -m bench.instructions`). Every INSERT skips rows already there, so a retried batch
adds nothing twice; any other refusal (NOT NULL, types) still raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from chain429.storage.records import AttemptRecord, RequestRecord

# 32 rows × 21 columns stays under the 999 bound variables of SQLite builds before 3.32.
SQLITE_ROWS = 32

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: str  # the conflict target: a row with this key already there is skipped


REQUESTS = Table(
    "requests",
    (
        "id", "ts", "key_label", "chain", "requested_model", "provider", "model", "stream",
        "status", "outcome", "prompt_tokens", "completion_tokens", "total_tokens",
        "tokens_estimated", "latency_ms", "ttft_ms", "calls", "skipped", "rate_limited", "error",
        "endpoint",
    ),
    "id",
)  # fmt: skip
ATTEMPTS = Table(
    "attempts",
    (
        "request_id", "seq", "ts", "provider", "model", "outcome", "status", "latency_ms",
        "reason", "skipped",
    ),
    "request_id, seq",
)  # fmt: skip


class RowWriter:
    """Writes a batch of records through one database's driver connection, in its dialect."""

    def __init__(self, dialect_name: str) -> None:
        self.dialect_name = dialect_name
        # sqlite3 runs every value that is not exactly an int, float or str through its
        # adapter lookup, which fails (and formats an exception) for a bool: store 0/1.
        self._flag: Callable[[bool], Any] = int if dialect_name == "sqlite" else bool

    def rows(self, records: Sequence[RequestRecord]) -> tuple[list[Row], list[Row]]:
        """The `requests` rows and the `attempts` rows of `records`."""
        flag = self._flag
        return (
            [request_row(r, flag) for r in records],
            [attempt_row(r, a, flag) for r in records for a in r.attempts],
        )

    async def write(self, driver: Any, records: Sequence[RequestRecord]) -> None:
        """Insert `records` through `driver` (asyncpg's, or aiosqlite's connection), inside
        the caller's transaction."""
        requests, attempts = self.rows(records)
        await self._insert(driver, REQUESTS, requests)
        if attempts:
            await self._insert(driver, ATTEMPTS, attempts)

    async def _insert(self, driver: Any, table: Table, rows: list[Row]) -> None:
        if self.dialect_name != "sqlite":
            await driver.executemany(insert_sql(table, 1, self.dialect_name), rows)
            return
        whole = len(rows) - len(rows) % SQLITE_ROWS
        if whole:
            chunks = [_joined(rows[i : i + SQLITE_ROWS]) for i in range(0, whole, SQLITE_ROWS)]
            await driver.executemany(insert_sql(table, SQLITE_ROWS, "sqlite"), chunks)
        if whole < len(rows):
            rest = rows[whole:]
            await driver.execute(insert_sql(table, len(rest), "sqlite"), _joined(rest))


@lru_cache(maxsize=128)
def insert_sql(table: Table, rows: int, dialect_name: str) -> str:
    """An INSERT of `rows` rows into `table` that skips rows whose key is already there."""
    width = len(table.columns)
    if dialect_name == "postgresql":
        marks = [f"${i}" for i in range(1, width * rows + 1)]
    else:
        marks = ["?"] * (width * rows)
    values = ", ".join(
        "(" + ", ".join(marks[i : i + width]) + ")" for i in range(0, len(marks), width)
    )
    names = ", ".join(table.columns)
    return (
        f"INSERT INTO {table.name} ({names}) VALUES {values} ON CONFLICT ({table.key}) DO NOTHING"
    )


def text(value: str | None, limit: int = 0) -> str | None:
    """Fit a string to its column: Postgres refuses NUL characters and over-long VARCHARs."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "")
    if limit and len(value) > limit:
        value = value[:limit]
    return value


def request_row(r: RequestRecord, flag: Callable[[bool], Any]) -> Row:
    # Column order is REQUESTS.columns; lengths as in tables.py (a test keeps them in step).
    return (
        text(r.id, 32),
        r.ts,
        text(r.key_label, 64),
        text(r.chain, 200),
        text(r.requested_model, 300),
        text(r.provider, 200),
        text(r.model, 300),
        flag(r.stream),
        r.status,
        text(r.outcome, 32),
        r.prompt_tokens,
        r.completion_tokens,
        r.total_tokens,
        flag(r.tokens_estimated),
        r.latency_ms,
        r.ttft_ms,
        r.calls,
        r.skipped,
        r.rate_limited,
        text(r.error),
        text(r.endpoint, 64),
    )


def attempt_row(r: RequestRecord, a: AttemptRecord, flag: Callable[[bool], Any]) -> Row:
    return (
        text(r.id, 32),
        a.seq,
        r.ts,
        text(a.provider, 200),
        text(a.model, 300),
        text(a.outcome, 32),
        a.status,
        a.latency_ms,
        text(a.reason),
        flag(a.skipped),
    )


def _joined(rows: Sequence[Row]) -> list[Any]:
    return [value for row in rows for value in row]
