"""The wait room on a fake clock: first in, first out; refused waiters go back to the front."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from chain429.engine.request import ClientRequest, parse_request
from chain429.engine.walk import Walker, WalkFailed
from chain429.quota.tracker import MemoryTracker, Policy
from tests.unit.engine.fakes import FakeClock, FakeResponse, FakeUpstream, chain, entry

LIMITED = FakeResponse(429, b"{}", {"retry-after": "5"})


def ask(user: str) -> ClientRequest:
    body = {"model": "c", "messages": [{"role": "user", "content": "hi"}], "user": user}
    return parse_request(orjson.dumps(body))


async def settle_loop() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


@pytest.fixture
def walker(clock: FakeClock, upstream: FakeUpstream) -> Walker:
    return Walker(MemoryTracker(Policy(), clock), upstream, clock=clock)


async def time_passes(walker: Walker, clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds)
    walker.waiting.capacity_changed()
    await settle_loop()


async def test_a_waiter_refused_by_a_fresh_429_goes_back_to_the_front(
    walker: Walker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    a = entry("a")
    upstream.script("a/m", LIMITED, LIMITED)  # the second: a 429 the counters did not foresee
    waiter = asyncio.ensure_future(walker.serve(chain(a), ask("w"), max_wait_s=60))
    await settle_loop()
    assert walker.waiting.queued("c") == 1
    await time_passes(walker, clock, 6)  # a frees; the waiter's call meets a fresh 429
    assert len(upstream.calls) == 2
    assert not waiter.done()  # it did not fail with 54 s of its wait left
    assert walker.waiting.queued("c") == 1
    await time_passes(walker, clock, 6)
    served = await asyncio.wait_for(waiter, 5)
    assert served.entry.key == "a/m"
    assert len(upstream.calls) == 3


async def test_new_requests_do_not_take_capacity_ahead_of_waiters(
    walker: Walker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    a = entry("a")
    upstream.script("a/m", LIMITED)
    first = asyncio.ensure_future(walker.serve(chain(a), ask("first"), max_wait_s=60))
    await settle_loop()
    clock.advance(6)  # a has room again, and the waiter has not looked yet
    with pytest.raises(WalkFailed) as refused:  # does not wait: told to retry, no call made
        await walker.serve(chain(a), ask("impatient"))
    assert refused.value.status == 429
    assert int(refused.value.headers["Retry-After"]) >= 1
    second = asyncio.ensure_future(walker.serve(chain(a), ask("second"), max_wait_s=60))
    await settle_loop()
    assert walker.waiting.queued("c") == 2
    assert [c.body["user"] for c in upstream.calls] == ["first"]
    await time_passes(walker, clock, 0)
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert [c.body["user"] for c in upstream.calls] == ["first", "first", "second"]
    assert walker.waiting.queued("c") == 0


async def test_a_waiter_whose_time_runs_out_in_the_queue_gets_the_429(
    walker: Walker, upstream: FakeUpstream, clock: FakeClock
) -> None:
    a = entry("a")
    upstream.script("a/m", LIMITED)
    first = asyncio.ensure_future(walker.serve(chain(a), ask("first"), max_wait_s=60))
    await settle_loop()
    with pytest.raises(WalkFailed) as late:
        await walker.serve(chain(a), ask("second"), max_wait_s=0.05)
    assert late.value.status == 429
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert walker.waiting.queued("c") == 0
