"""The store on a real SQLite file and on the live Postgres: rows, rollups, migrations."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Connection, Table, func, inspect, select, text
from sqlalchemy import types as sqltypes

from chain429.storage import sqlite as tracker_db
from chain429.storage.migrations import MIGRATIONS, schema_migrations
from chain429.storage.rows import SQLITE_ROWS, RowWriter
from chain429.storage.store import Store, StoreRef
from chain429.storage.tables import attempts, daily_rollups, metadata, requests, tracker_state
from chain429.storage.writer import RecordWriter
from tests.integration.storage.conftest import fresh_postgres
from tests.unit.storage.factories import BASE_TS, make_record, make_records

REQUEST_FIELDS = [c.name for c in requests.columns]
ATTEMPT_FIELDS = ["seq", "provider", "model", "outcome", "status", "latency_ms", "reason"]
DAY = 86_400.0


async def count(store: Store, table: Table) -> int:
    rows = await store.fetch(select(func.count().label("n")).select_from(table))
    return int(rows[0]["n"])


async def test_records_round_trip_with_their_attempts(store: Store) -> None:
    records = make_records(40)
    assert await store.insert(records) == 0

    rows = await store.fetch(select(requests).order_by(requests.c.id))
    assert rows == [{f: getattr(r, f) for f in REQUEST_FIELDS} for r in records]
    steps = await store.fetch(select(attempts).order_by(attempts.c.request_id, attempts.c.seq))
    expected = [
        {"request_id": r.id, "ts": r.ts, "skipped": a.skipped}
        | {f: getattr(a, f) for f in ATTEMPT_FIELDS}
        for r in records
        for a in r.attempts
    ]
    assert steps == expected


async def test_a_batch_written_twice_is_stored_once(store: Store) -> None:
    records = make_records(25)
    await store.insert(records)
    await store.insert(records[10:])  # a retry after a commit whose answer was lost
    assert await count(store, requests) == 25
    assert await count(store, attempts) == sum(len(r.attempts) for r in records)


@pytest.mark.parametrize(
    "size", [1, SQLITE_ROWS - 1, SQLITE_ROWS, SQLITE_ROWS + 1, 3 * SQLITE_ROWS + 5]
)
async def test_batches_around_the_sqlite_insert_size_round_trip_once(
    store: Store, size: int
) -> None:
    records = make_records(size)
    assert await store.insert(records) == 0
    assert await store.insert(records[size // 2 :]) == 0  # a retried half adds nothing
    ids = [row["id"] for row in await store.fetch(select(requests.c.id).order_by(requests.c.id))]
    assert ids == [r.id for r in records]
    assert await count(store, attempts) == sum(len(r.attempts) for r in records)
    flags = await store.fetch(select(requests.c.stream, requests.c.tokens_estimated))
    assert Counter((row["stream"], row["tokens_estimated"]) for row in flags) == Counter(
        (r.stream, r.tokens_estimated) for r in records
    )


async def test_sqlite_takes_a_batch_in_inserts_of_many_rows(tmp_path: Path) -> None:
    # sqlite3 binds and steps each row of an executemany on its own: a batch of 70 goes in
    # two INSERTs of 32 rows and one of 6, in each table, not in 70 one-row statements.
    path = tmp_path / "log.db"
    await (await Store.open(str(path))).close()
    records = make_records(2 * SQLITE_ROWS + 6)
    statements: list[str] = []
    async with aiosqlite.connect(path) as db:
        await db.set_trace_callback(statements.append)
        await RowWriter("sqlite").write(db, records)
        await db.commit()
        stored = await (await db.execute("SELECT count(*) FROM requests")).fetchone()
    assert stored == (len(records),)
    per_table: dict[str, list[int]] = {"requests": [], "attempts": []}
    for sql in statements:
        if sql.startswith("INSERT INTO"):
            per_table[sql.split()[2]].append(sql.count("), (") + 1)
    assert per_table["requests"] == [SQLITE_ROWS, SQLITE_ROWS, 6]
    attempt_rows = sum(len(r.attempts) for r in records)
    assert sum(per_table["attempts"]) == attempt_rows
    assert len(per_table["attempts"]) == attempt_rows // SQLITE_ROWS + 1


async def test_values_too_long_or_with_nul_are_fitted_to_their_columns(store: Store) -> None:
    record = make_record(1, chain="c" * 1000, model="m" * 1000, error="a\x00b" * 5000)
    record.attempts[0].reason = "why\x00not"
    assert await store.insert([record]) == 0
    (row,) = await store.fetch(select(requests.c.chain, requests.c.model, requests.c.error))
    assert row == {"chain": "c" * 200, "model": "m" * 300, "error": "ab" * 5000}
    reasons = await store.fetch(select(attempts.c.reason).where(attempts.c.seq == 0))
    assert reasons == [{"reason": "whynot"}]


async def test_a_record_the_database_refuses_does_not_block_its_batch(store: Store) -> None:
    records = make_records(10)
    records[3].key_label = None  # type: ignore[assignment]  # NOT NULL
    assert await store.insert(records) == 1
    assert store.rejected == 1
    ids = {row["id"] for row in await store.fetch(select(requests.c.id))}
    assert ids == {r.id for r in records} - {records[3].id}


COUNTS = [
    "requests",
    "successes",
    "failures",
    "fallbacks",
    "rate_limited",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
]


def summary(rows: list[dict[str, Any]], rollups: list[dict[str, Any]]) -> dict[Any, Counter[str]]:
    """Totals per UTC day and provider, as the stats API computes them from both tables."""
    totals: dict[Any, Counter[str]] = {}
    for r in rows:
        day = time.strftime("%Y-%m-%d", time.gmtime(r["ts"]))
        c = totals.setdefault((day, r["provider"] or ""), Counter())
        success = r["outcome"] == "success"
        c.update(
            requests=1,
            successes=success,
            failures=not success,
            fallbacks=success and r["calls"] > 1,
            rate_limited=r["rate_limited"],
            prompt_tokens=r["prompt_tokens"] or 0,
            completion_tokens=r["completion_tokens"] or 0,
            total_tokens=r["total_tokens"] or 0,
            latency_us=round(r["latency_ms"] * 1000),
        )
    for d in rollups:
        c = totals.setdefault((d["day"], d["provider"]), Counter())
        c.update({k: int(d[k]) for k in COUNTS})
        c.update(latency_us=round(d["latency_ms_sum"] * 1000))
    return totals


async def test_pruning_folds_old_rows_into_daily_rollups_and_totals_survive(store: Store) -> None:
    records = make_records(600)  # ten minutes apart: a bit over four days
    await store.insert(records)
    before = summary(await store.fetch(select(requests)), [])
    assert len({day for day, _ in before}) == 5
    store.prune_chunk = 70  # several chunks per prune

    # Twice, the second cutoff inside a day the first already rolled up: counts are added.
    previous = BASE_TS
    for cutoff in (BASE_TS + 1.5 * DAY, BASE_TS + 1.75 * DAY, BASE_TS + 3.25 * DAY):
        assert await store.prune(cutoff) == sum(previous <= r.ts < cutoff for r in records)
        previous = cutoff
        remaining = await store.fetch(select(requests))
        assert min(r["ts"] for r in remaining) >= cutoff
        assert summary(remaining, await store.fetch(select(daily_rollups))) == before
        left = [r for r in records if r.ts >= cutoff]
        assert await count(store, attempts) == sum(len(r.attempts) for r in left)

    assert await store.prune(cutoff) == 0  # nothing older is left: the rollups are unchanged
    everything = summary(
        await store.fetch(select(requests)), await store.fetch(select(daily_rollups))
    )
    assert everything == before
    keys = await store.fetch(select(daily_rollups.c.chain, daily_rollups.c.provider))
    assert {"chain": "", "provider": ""} in keys  # NULL chain and unserved rows, as ""


async def test_a_thousand_records_through_the_writer_give_a_thousand_rows(store: Store) -> None:
    ref = StoreRef()
    ref.set(store)
    writer = RecordWriter(ref, batch=300, interval_s=0.01)
    task = asyncio.create_task(writer.run())
    for record in make_records(1000):
        writer.submit(record)
    for _ in range(500):
        if writer.written == 1000:
            break
        await asyncio.sleep(0.01)
    await writer.close()
    await task
    assert (writer.written, writer.dropped, writer.failed_batches) == (1000, 0, 0)
    assert await count(store, requests) == 1000


def describe(conn: Connection) -> dict[str, Any]:
    """The schema as the database reports it, in terms that compare across dialects."""
    inspector = inspect(conn)
    return {
        name: {
            "columns": [
                (c["name"], kind(c["type"]), c["nullable"]) for c in inspector.get_columns(name)
            ],
            "primary_key": inspector.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted((i["name"], i["column_names"]) for i in inspector.get_indexes(name)),
            "foreign_keys": [
                (
                    fk["constrained_columns"],
                    fk["referred_table"],
                    fk["referred_columns"],
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(name)
            ],
        }
        for name in inspector.get_table_names()
    }


def declared(table: Table) -> dict[str, Any]:
    return {
        "columns": [(c.name, kind(c.type), c.nullable) for c in table.columns],
        "primary_key": [c.name for c in table.primary_key],
        "indexes": sorted((i.name, [c.name for c in i.columns]) for i in table.indexes),
        "foreign_keys": [
            ([fk.parent.name], fk.column.table.name, [fk.column.name], fk.ondelete)
            for fk in table.foreign_keys
        ],
    }


def kind(t: Any) -> str:
    for base, name in [
        (sqltypes.Boolean, "bool"),
        (sqltypes.BigInteger, "bigint"),
        (sqltypes.Integer, "int"),
        (sqltypes.Float, "float"),
    ]:
        if isinstance(t, base):
            return name
    assert isinstance(t, sqltypes.String), t
    return f"str({t.length})"


async def test_a_blank_database_gets_exactly_the_schema_of_tables_py(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        assert store.applied == [m.name for m in MIGRATIONS]
        async with store.engine.connect() as conn:
            actual = await conn.run_sync(describe)
        expected = {t.name: declared(t) for t in [*metadata.sorted_tables, schema_migrations]}
        assert actual == expected
        names = await store.fetch(select(schema_migrations.c.name))
        assert sorted(r["name"] for r in names) == [m.name for m in MIGRATIONS]
    finally:
        await store.close()
    again = await Store.open(database_url)  # a restart applies nothing
    assert again.applied == []
    await again.close()


async def test_replicas_opening_at_once_apply_each_migration_once(database_url: str) -> None:
    stores = await asyncio.gather(*(Store.open(database_url) for _ in range(4)))
    try:
        applied = sorted(name for s in stores for name in s.applied)
        assert applied == [m.name for m in MIGRATIONS]
        assert await count(stores[0], schema_migrations) == len(MIGRATIONS)
    finally:
        for s in stores:
            await s.close()


async def test_a_request_log_from_before_endpoints_upgrades_and_keeps_its_rows(
    database_url: str,
) -> None:
    from chain429.storage.migrations import migrate
    from chain429.storage.store import _create_engine, async_url

    engine = _create_engine(async_url(database_url))  # the schema as 0002 left it
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: migrate(c, MIGRATIONS[:2]))
        await conn.execute(
            text(
                "INSERT INTO requests (id, ts, key_label, stream, status, outcome, "
                "tokens_estimated, latency_ms, calls, skipped, rate_limited) "
                "VALUES ('old', 1.0, 'k', false, 200, 'success', false, 5.0, 1, 0, 0)"
            )
        )
    await engine.dispose()

    store = await Store.open(database_url)
    try:
        assert store.applied == ["0003_endpoints_and_responses"]
        await store.insert([make_record(1, id="new", endpoint="/v1/messages")])
        rows = await store.fetch(select(requests.c.id, requests.c.endpoint).order_by(requests.c.id))
        assert rows == [{"id": "new", "endpoint": "/v1/messages"}, {"id": "old", "endpoint": None}]
    finally:
        await store.close()


async def test_sqlite_from_the_previous_release_upgrades_and_keeps_tracker_state(
    tmp_path: Any,
) -> None:
    path = tmp_path / "429chain.db"
    db = tracker_db.connect(path)  # the previous release's schema: 0001 only
    tracker_db.TrackerStateStore(db).save({"groq/llama": {"cooldown_until": 123.5}}, now=100.0)
    db.close()

    store = await Store.open(str(path))
    try:
        assert store.applied == ["0002_request_log", "0003_endpoints_and_responses"]
        await store.insert(make_records(3))
        assert await count(store, requests) == 3
        rows = await store.fetch(select(tracker_state))
        assert rows == [
            {"key": "groq/llama", "state": '{"cooldown_until": 123.5}', "updated_at": 100.0}
        ]
    finally:
        await store.close()

    # ...and the tracker's own stdlib path still reads and writes it, with nothing to apply.
    db = tracker_db.connect(path)
    assert tracker_db.migrate(db) == []
    state = tracker_db.TrackerStateStore(db)
    assert state.load() == {"groq/llama": {"cooldown_until": 123.5}}
    state.save({"groq/llama": {}, "cerebras/qwen": {"used": 3}}, now=200.0)
    assert state.load() == {"cerebras/qwen": {"used": 3}}
    names = [row[0] for row in db.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [m.name for m in MIGRATIONS]
    db.close()


async def test_postgres_from_the_previous_schema_upgrades_and_keeps_tracker_state() -> None:
    import asyncpg

    async with fresh_postgres() as url:
        conn = await asyncpg.connect(url)
        try:  # the previous release's tables, in its own DDL
            await conn.execute(tracker_db.SCHEMA_MIGRATIONS_DDL)
            await conn.execute(tracker_db.TRACKER_STATE_DDL)
            await conn.execute("INSERT INTO schema_migrations VALUES ('0001_tracker_state', 1.0)")
            await conn.execute("INSERT INTO tracker_state VALUES ('groq/llama', '{}', 100.0)")
        finally:
            await conn.close()

        store = await Store.open(url)
        try:
            assert store.applied == ["0002_request_log", "0003_endpoints_and_responses"]
            await store.insert(make_records(3))
            assert await count(store, requests) == 3
            rows = await store.fetch(select(tracker_state.c.key))
            assert rows == [{"key": "groq/llama"}]
        finally:
            await store.close()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Any) -> None:
    store = await Store.open(f"sqlite:///{tmp_path}/x.db")
    try:
        for pragma, value in [("journal_mode", "wal"), ("foreign_keys", 1), ("synchronous", 1)]:
            (row,) = await store.fetch(text(f"PRAGMA {pragma}"))
            assert next(iter(row.values())) == value
    finally:
        await store.close()
