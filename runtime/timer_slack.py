"""The calling thread's timer slack, made as fine as Linux allows for the thread that keeps a peer's
instants.

Linux lets a sleeping thread's timer fire up to its timer slack after the time asked for, so that
nearby wake-ups can share one interrupt: 50 µs by default for `nanosleep` (`time.sleep`), and for
poll, select and epoll timeouts the larger of that and 0.1% of the timeout. A peer's last sleep
before an event ends at the event's instant, so with the default slack the event could fire up to
50 µs late before anything else delayed it. `make_fine` asks for 1 ns (`prctl(PR_SET_TIMERSLACK)`,
no privilege needed); the scheduler's clock (scheduler.LoopClock) does so for the loop's thread.
In the 50-peer lateness bench (bench/faults_lateness.py) the median lateness went from 0.15 to
0.08-0.10 ms over 3 pairs, at the same CPU.

Processes the thread starts afterwards inherit the fine slack; that costs them nothing but the
coalescing of their own wake-ups. On other systems `make_fine` does nothing and says so.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any

__all__ = ["FINE_SLACK_NS", "current", "make_fine", "set_slack"]

FINE_SLACK_NS = 1
"""The finest slack (nanoseconds); 0 would mean "back to the default"."""

_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30


@functools.cache
def _prctl() -> Any:
    """libc's prctl returning a long, or None where there is none (looked up once)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.restype = ctypes.c_long
    return prctl


def make_fine() -> bool:
    """Ask for the finest timer slack for the calling thread; whether the kernel took it."""
    return set_slack(FINE_SLACK_NS)


def set_slack(nanoseconds: int) -> bool:
    """Set the calling thread's timer slack (0: back to the thread's default); whether the kernel
    took it."""
    prctl = _prctl()
    if prctl is None:
        return False
    zero = ctypes.c_ulong(0)
    return int(prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(nanoseconds), zero, zero, zero)) == 0


def current() -> int | None:
    """The calling thread's timer slack in nanoseconds (None: not known here)."""
    prctl = _prctl()
    if prctl is None:
        return None
    zero = ctypes.c_ulong(0)
    value = int(prctl(_PR_GET_TIMERSLACK, zero, zero, zero, zero))
    return value if value >= 0 else None
