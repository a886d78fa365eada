"""The finest timer slack for the thread that keeps a peer's instants (runtime/timer_slack.py), read
back from the real kernel. Each test runs in a thread of its own, as the slack belongs to the
calling thread (and the processes it starts)."""

from __future__ import annotations

import asyncio
import sys

import pytest
from own_thread import in_thread
from scenario_lang.runtime import timer_slack
from scenario_lang.runtime.scheduler import LoopClock

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timer slack is Linux's")

OTHER_SLACK_NS = 70_000
"""A slack no one else sets (the default is 50,000 ns)."""


def test_the_kernel_reports_the_fine_slack_once_asked() -> None:
    def body() -> tuple[int | None, bool, int | None]:
        assert timer_slack.set_slack(OTHER_SLACK_NS)
        before = timer_slack.current()
        return before, timer_slack.make_fine(), timer_slack.current()

    before, taken, after = in_thread(body)
    assert before == OTHER_SLACK_NS
    assert taken
    assert after == timer_slack.FINE_SLACK_NS


def test_the_loop_clock_gives_its_thread_the_fine_slack_and_no_other() -> None:
    async def make_clock() -> tuple[bool, int | None]:
        clock = LoopClock()
        return clock.fine_timers, timer_slack.current()

    def body() -> tuple[tuple[bool, int | None], int | None]:
        assert timer_slack.set_slack(OTHER_SLACK_NS)  # this thread's own, inherited by the clock's
        made = in_thread(lambda: asyncio.run(make_clock()))
        return made, timer_slack.current()

    (fine, slack), other = in_thread(body)
    assert fine
    assert slack == timer_slack.FINE_SLACK_NS
    assert other == OTHER_SLACK_NS
