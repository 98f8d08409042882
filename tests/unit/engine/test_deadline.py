"""`Deadline`: asyncio.timeout's behaviour, with a deadline that moves later without a timer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chain429.engine.deadline import Deadline

pytestmark = pytest.mark.asyncio


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_the_block_is_cut_at_the_deadline_with_a_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        async with Deadline(now() + 0.01):
            await asyncio.sleep(30)


async def test_extend_moves_the_deadline_later_and_only_later() -> None:
    started = now()

    async def attempt() -> None:
        async with Deadline(started + 0.01) as deadline:
            deadline.extend(started + 0.2)
            deadline.extend(started + 0.001)  # earlier: ignored
            await asyncio.sleep(0.05)  # past the first deadline: still running
            await asyncio.sleep(30)

    with pytest.raises(TimeoutError):
        await attempt()
    assert now() - started >= 0.2 - 0.002  # never before the extended deadline


async def test_a_block_that_ends_in_time_leaves_no_timer_behind() -> None:
    async with Deadline(now() + 0.01):
        pass
    await asyncio.sleep(0.05)  # a timer left armed would cancel this task here


async def test_someone_elses_cancel_stays_a_cancel() -> None:
    async def attempt() -> None:
        async with Deadline(now() + 30):
            await asyncio.sleep(30)

    task = asyncio.create_task(attempt())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("make", [Deadline, asyncio.timeout_at], ids=["Deadline", "stdlib"])
async def test_a_cancel_at_the_same_instant_as_the_deadline_stays_a_cancel(make: Any) -> None:
    # The deadline fires and someone else cancels the task in the same loop iteration: the
    # outside cancel must not be swallowed into a TimeoutError (as with asyncio.timeout).
    when = now() + 0.02

    async def attempt() -> None:
        async with make(when):
            await asyncio.sleep(30)

    task = asyncio.create_task(attempt())
    await asyncio.sleep(0)  # entered: its timer is armed first
    asyncio.get_running_loop().call_at(when, task.cancel)  # due at the same instant, after it
    with pytest.raises(asyncio.CancelledError):
        await task
