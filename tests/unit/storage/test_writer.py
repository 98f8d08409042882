"""The batched writer against a real SQLite store: nothing accepted is lost, drops are loud."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest

from chain429.storage.store import Store, StoreRef
from chain429.storage.writer import RecordWriter
from tests.unit.storage.factories import make_record, make_records


def rows(db_path: Path, table: str = "requests") -> int:
    with closing(sqlite3.connect(db_path)) as db:
        (n,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(n)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("not within the time allowed")


@asynccontextmanager
async def running(writer: RecordWriter) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(writer.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_records_wait_for_the_store_and_then_all_land(db_path: Path) -> None:
    ref = StoreRef()
    writer = RecordWriter(ref, interval_s=0.01)
    async with running(writer):
        for record in make_records(300):
            writer.submit(record)
        await asyncio.sleep(0.05)
        assert (writer.queued, writer.written) == (300, 0)  # the store opens after listening

        store = await Store.open(str(db_path))
        ref.set(store)
        await until(lambda: writer.written == 300)
        await writer.close()
        await store.close()
    assert writer.queued == 0
    assert rows(db_path) == 300


async def test_a_full_queue_counts_drops_and_logs_them_every_ten_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    writer = RecordWriter(StoreRef(), max_queue=10, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, "chain429.storage")
    for record in make_records(15):
        writer.submit(record)
    assert (writer.queued, writer.dropped) == (10, 5)
    assert [r.getMessage() for r in caplog.records] == [
        "request log: dropping records, the queue is full (10 records); 1 dropped so far"
    ]
    now[0] = 10.0
    writer.submit(make_record(99))
    assert writer.dropped == 6
    assert len(caplog.records) == 2
    assert caplog.records[-1].getMessage().endswith("6 dropped so far")


async def test_close_flushes_everything_queued(db_path: Path, store: Store) -> None:
    ref = StoreRef()
    ref.set(store)
    writer = RecordWriter(ref, batch=500)
    for record in make_records(1234):
        writer.submit(record)
    await writer.close()  # run() never started: close alone writes it all
    assert (writer.written, writer.queued, writer.dropped) == (1234, 0, 0)
    assert rows(db_path) == 1234

    writer.submit(make_record(5000))  # after close, a record cannot be kept: it is counted
    assert writer.dropped == 1


async def test_close_while_running_under_load_loses_nothing(db_path: Path, store: Store) -> None:
    ref = StoreRef()
    ref.set(store)
    writer = RecordWriter(ref, batch=100, interval_s=0.01)
    async with running(writer):
        for i in range(20):
            for record in make_records(50, i * 50):
                writer.submit(record)
            await asyncio.sleep(0)
        await writer.close()
    assert (writer.written, writer.dropped) == (1000, 0)
    assert rows(db_path) == 1000


async def test_a_store_that_never_opens_makes_close_count_what_it_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = RecordWriter(StoreRef())
    for record in make_records(7):
        writer.submit(record)
    await writer.close(timeout_s=0.05)
    assert (writer.queued, writer.dropped) == (0, 7)
    assert "7 records not written at shutdown" in caplog.text


async def test_a_store_that_failed_to_open_stops_the_queue_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref = StoreRef()
    writer = RecordWriter(ref)
    for record in make_records(4):
        writer.submit(record)
    ref.set(None, "could not open: disk full")
    await asyncio.wait_for(writer.run(), 10)  # returns, not loops
    writer.submit(make_record(9))
    assert (writer.queued, writer.dropped) == (0, 5)
    assert writer.last_error == "could not open: disk full"
    assert "the database did not open: could not open: disk full" in caplog.text


async def test_a_failing_database_keeps_the_records_and_retries(
    db_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    ref = StoreRef()
    ref.set(store)
    writer = RecordWriter(ref, interval_s=0.01, max_backoff_s=0.05)
    with closing(sqlite3.connect(db_path, isolation_level=None)) as admin:
        admin.execute("ALTER TABLE requests RENAME TO requests_away")  # every insert now fails
        async with running(writer):
            for record in make_records(50):
                writer.submit(record)
            await until(lambda: writer.failed_batches >= 3)
            assert (writer.written, writer.queued, writer.dropped) == (0, 50, 0)
            assert writer.last_error is not None
            assert "no such table" in writer.last_error

            admin.execute("ALTER TABLE requests_away RENAME TO requests")
            await until(lambda: writer.written == 50)
    assert rows(db_path) == 50
    assert "a batch of 50 failed" in caplog.text


async def test_a_record_the_database_refuses_is_counted_and_the_rest_land(
    db_path: Path, store: Store
) -> None:
    ref = StoreRef()
    ref.set(store)
    writer = RecordWriter(ref)
    records = make_records(10)
    records[4].key_label = None  # type: ignore[assignment]
    for record in records:
        writer.submit(record)
    await writer.close()
    assert (writer.written, writer.dropped) == (9, 1)
    assert writer.last_error == "the database refused 1 records (see the log)"
    assert rows(db_path) == 9
    assert writer.status()["dropped"] == 1
