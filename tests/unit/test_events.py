"""`EventHub`: one synchronous publish to every subscriber; failures contained; bounded feeds."""

from __future__ import annotations

import asyncio
import logging

import pytest

from chain429.events import EventHub, RequestFinished
from chain429.storage.records import RequestRecord


def finished(n: int = 0) -> RequestFinished:
    record = RequestRecord(f"r{n}", 0.0, "k", "c", "c", None, None, False, 200, "success")
    return RequestFinished(record)


def test_every_subscriber_gets_each_event_once_in_order() -> None:
    hub, seen = EventHub(), []
    hub.subscribe(lambda e: seen.append(("a", e.record.id)))
    unsubscribe = hub.subscribe(lambda e: seen.append(("b", e.record.id)))
    hub.publish(finished(1))
    unsubscribe()
    hub.publish(finished(2))
    assert seen == [("a", "r1"), ("b", "r1"), ("a", "r2")]


def test_a_failing_subscriber_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    hub, seen = EventHub(), []

    def broken(_: RequestFinished) -> None:
        raise RuntimeError("boom")

    hub.subscribe(broken)
    hub.subscribe(lambda e: seen.append(e.record.id))
    with caplog.at_level(logging.ERROR, logger="chain429.events"):
        hub.publish(finished(1))  # does not raise
    assert seen == ["r1"]
    assert "boom" in caplog.text


def test_the_event_is_frozen() -> None:
    event = finished()
    with pytest.raises(AttributeError):
        event.chain = None  # type: ignore[misc]


async def test_a_feed_is_bounded_counts_drops_and_unsubscribes() -> None:
    hub = EventHub()
    with hub.feed(max_queue=2) as feed:
        for n in range(5):
            hub.publish(finished(n))
        assert (feed.queued, feed.dropped) == (2, 3)  # the newest were dropped, and counted
        got = []
        async for event in feed:
            got.append(event.record.id)
            if len(got) == 2:
                break
        assert got == ["r0", "r1"]
        later = asyncio.ensure_future(feed.get())
        hub.publish(finished(7))
        assert (await later).record.id == "r7"
    assert hub.subscribers == 0  # leaving the block unsubscribed it
    hub.publish(finished(9))
    assert feed.queued == 0
