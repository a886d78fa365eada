"""The peer's short CPU slice before an event (runtime/cpu_slice.py), read back from the real kernel.

Each test runs in a thread of its own, as the slice (and the reset-on-fork flag that comes with it)
belongs to the calling thread. Kernels before 6.12 have no such slices: the tests skip there.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from own_thread import in_thread
from scenario_lang.runtime.cpu_slice import SHORT_SLICE, ThreadSlice
from scenario_lang.runtime.scheduler import LoopClock, Wake

CHILD_SLICE = """
from scenario_lang.runtime.cpu_slice import ThreadSlice
s = ThreadSlice()
s.shorten()  # probes the kernel (and sets the short slice): `current` can then read it
s.restore()
print(s.current())
"""


def skip_without_slices(usable: bool) -> None:
    if not usable:
        pytest.skip("this kernel has no per-thread slices (Linux 6.12 and later)")


def test_shorten_sets_the_kernels_slice_and_restore_gives_back_the_default() -> None:
    def body() -> list[int | None] | None:
        cpu_slice = ThreadSlice()
        cpu_slice.shorten()
        if not cpu_slice.usable:
            return None
        seen = [cpu_slice.current()]
        cpu_slice.restore()
        seen.append(cpu_slice.current())
        cpu_slice.shorten()
        seen.append(cpu_slice.current())
        cpu_slice.restore()
        return seen

    seen = in_thread(body)
    skip_without_slices(seen is not None)
    short, default, again = seen
    assert short == again == SHORT_SLICE
    assert default is not None and default > SHORT_SLICE


def test_the_threads_nice_value_is_kept() -> None:
    def body() -> tuple[bool, int, int]:
        os.setpriority(os.PRIO_PROCESS, 0, 7)  # this thread's
        cpu_slice = ThreadSlice()
        cpu_slice.shorten()
        during = os.getpriority(os.PRIO_PROCESS, 0)
        cpu_slice.restore()
        return cpu_slice.usable, during, os.getpriority(os.PRIO_PROCESS, 0)

    usable, during, after = in_thread(body)
    skip_without_slices(usable)
    assert during == after == 7


def test_a_process_started_while_the_slice_is_short_gets_the_default() -> None:
    def body() -> tuple[bool, int | None, str]:
        cpu_slice = ThreadSlice()
        cpu_slice.shorten()
        child = subprocess.run(
            [sys.executable, "-c", CHILD_SLICE], capture_output=True, text=True, timeout=60, check=True
        )
        return cpu_slice.usable, cpu_slice.current(), child.stdout.strip()

    usable, ours, childs = in_thread(body)
    skip_without_slices(usable)
    assert ours == SHORT_SLICE
    assert childs.isdigit() and int(childs) > SHORT_SLICE


def test_the_loop_clock_waits_out_an_events_approach_with_the_short_slice() -> None:
    async def body() -> tuple[bool, int | None, int | None, int | None]:
        probe = ThreadSlice()  # whether this kernel can, asked apart from the clock
        probe.shorten()
        probe.restore()
        loop = asyncio.get_running_loop()
        cpu_slice = ThreadSlice()
        clock = LoopClock(loop, cpu_slice=cpu_slice)
        wake = Wake()
        # a wait that is not for an event (the start instant, the end) keeps the default slice
        assert await clock.wait_until(clock.now() + 0.02, wake) is False
        not_event = probe.current()
        deadline = clock.now() + 0.05
        assert await clock.wait_until(deadline, wake, on_approach=lambda: None) is False
        assert clock.now() >= deadline
        at_event = probe.current()
        # the next wait begins long before its deadline: the default slice again at once
        loop.call_later(0.02, wake.set)
        assert await clock.wait_until(clock.now() + 5, wake) is True
        return probe.usable, not_event, at_event, probe.current()

    usable, not_event, at_event, next_wait = in_thread(lambda: asyncio.run(body()))
    skip_without_slices(usable)
    assert not_event is not None and not_event > SHORT_SLICE
    assert at_event == SHORT_SLICE
    assert next_wait is not None and next_wait > SHORT_SLICE
