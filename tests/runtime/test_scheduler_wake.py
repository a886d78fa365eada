"""The scheduler's `Wake`: its waits end on a timer or on `set`, without cancelling the waiting task."""

from __future__ import annotations

import asyncio

from scenario_lang.runtime.scheduler import LoopClock, Wake


async def test_a_wait_with_a_deadline_ends_at_it_without_cancelling_the_task() -> None:
    loop = asyncio.get_running_loop()
    wake = Wake()
    began = loop.time()
    assert await wake.wait(loop, began + 0.05) is False
    assert loop.time() - began >= 0.05
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    assert not wake._waiters  # the timed-out waiter is gone


async def test_set_ends_every_wait_at_once_and_stays_set_until_cleared() -> None:
    loop = asyncio.get_running_loop()
    wake = Wake()
    waits = [asyncio.create_task(wake.wait(loop, loop.time() + 30)) for _ in range(3)]
    untimed = asyncio.create_task(wake.wait())
    await asyncio.sleep(0)
    wake.set()
    assert await asyncio.wait_for(asyncio.gather(*waits, untimed), 1) == [True] * 4
    assert await wake.wait(loop, loop.time() + 30) is True  # already set: no wait
    wake.clear()
    assert await wake.wait(loop, loop.time() + 0.01) is False


async def test_a_cancelled_wait_leaves_no_waiter_behind() -> None:
    loop = asyncio.get_running_loop()
    wake = Wake()
    task = asyncio.create_task(wake.wait(loop, loop.time() + 30))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and not wake._waiters
    wake.set()  # nothing left to resolve


async def test_the_loop_clock_wakes_on_time_and_early_on_set() -> None:
    loop = asyncio.get_running_loop()
    clock = LoopClock(loop)
    wake = Wake()
    deadline = clock.now() + 0.08
    assert await clock.wait_until(deadline, wake) is False
    assert 0 <= clock.now() - deadline < 0.02
    loop.call_later(0.02, wake.set)
    began = clock.now()
    assert await clock.wait_until(began + 5, wake) is True
    assert clock.now() - began < 1


async def test_the_loop_clock_makes_an_event_ready_once_as_its_approach_begins_not_before() -> None:
    loop = asyncio.get_running_loop()
    clock = LoopClock(loop, approach=0.02)
    wake = Wake()
    ready: list[float] = []
    began = clock.now()
    deadline = began + 0.1
    assert await clock.wait_until(deadline, wake, on_approach=lambda: ready.append(clock.now())) is False
    assert clock.now() >= deadline
    assert len(ready) == 1
    # the loop's wait ends 0.2% of the time left before the approach, never earlier
    assert ready[0] >= deadline - 0.02 - (deadline - began) * LoopClock.SLACK
