"""The calling thread's CPU time slice, shortened while a peer is about to fire a scenario event.

Linux's fair scheduler (EEVDF, 6.6 and later) gives each runnable thread a virtual deadline one time
slice after it became eligible, and runs the eligible thread whose deadline is nearest. Since 6.12 an
unprivileged thread can ask for its own slice, between 0.1 and 100 ms (`sched_runtime` of
`sched_setattr(2)` for SCHED_OTHER and SCHED_BATCH threads; the default is 0.7 ms times 1 + log2 of
the number of CPUs, capped at 8). A thread woken with a shorter slice than the running one's preempts
it at once, and goes before the threads already waiting whose deadlines come later.

When many peers share a few cores, a peer whose precise sleep ends at its event's instant would
otherwise wait for the peers busy with their own messages (half a millisecond of Python each) to
finish their slices: 2-4 ms at times with 50 IPv8 peers on 2 cores. So the scheduler's clock
(scheduler.LoopClock) asks for `SHORT_SLICE` for the last milliseconds before an event and gives it
back once the event has fired; the peer's other work keeps the default slice, so it does not get
ahead of the others.

The slice is that of the calling thread only (the thread running the event loop). The request keeps
the thread's policy and nice value, and sets SCHED_FLAG_RESET_ON_FORK, so that a process a callback
starts meanwhile gets the default slice (the flag also resets a real-time policy or a negative nice
in such children, which peers never have; an unprivileged thread cannot clear it again, and need not).

Where the kernel has no such slices (before 6.12: it ignores the request or refuses the flags), or
on another system or architecture, `shorten` and `restore` find that out once and then do nothing.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys
from typing import Any

__all__ = ["SHORT_SLICE", "ThreadSlice"]

SHORT_SLICE = 100_000
"""Nanoseconds: the kernel's smallest slice (0.1 ms). An event's own work runs with it too; longer
work is preempted more often, but gets the same share of the CPU."""

# sched_setattr / sched_getattr, per architecture (the generic table is shared by arm64 and riscv)
_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275), "arm64": (274, 275), "riscv64": (274, 275)}
_SCHED_FLAG_RESET_ON_FORK = 0x01
_SCHED_FLAG_KEEP_POLICY = 0x08
# struct sched_attr up to sched_period (SCHED_ATTR_SIZE_VER0): size, policy, flags, nice, priority,
# runtime, deadline, period
_ATTR = struct.Struct("=IIQiIQQQ")
_GET_SIZE = 56  # with util_min and util_max (VER1): what the kernel returns


class ThreadSlice:
    """`shorten()` asks the kernel for the short slice for the calling thread, `restore()` for the
    default again; each costs two system calls (the thread's nice value, then the request) when the
    slice changes, and nothing when it does not."""

    def __init__(self, short: int = SHORT_SLICE) -> None:
        self.short = short
        self._is_short = False
        self._call: tuple[Any, int, int] | None = None
        self._usable: bool | None = None if sys.platform.startswith("linux") else False

    @property
    def usable(self) -> bool:
        """Whether the kernel takes the request (known after the first `shorten`; False before)."""
        return bool(self._usable)

    def shorten(self) -> None:
        if self._is_short or self._usable is False:
            return
        if self._usable is None:
            self._usable = self._probe()
            return
        if self._set(self.short):
            self._is_short = True
        else:
            self._usable = False

    def restore(self) -> None:
        if self._is_short:
            self._is_short = False
            if not self._set(0):  # 0: the kernel's default slice
                self._usable = False

    def _probe(self) -> bool:
        """Set the short slice once and read it back: the kernel honours it, or the request is dropped."""
        numbers = _SYSCALLS.get(platform.machine())
        if numbers is None:
            return False
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            self._call = (libc.syscall, numbers[0], numbers[1])
        except (OSError, AttributeError):
            return False
        if not self._set(self.short):
            return False
        if self.current() != self.short:
            self._set(0)
            return False
        self._is_short = True
        return True

    def _set(self, runtime: int) -> bool:
        if self._call is None:
            return False
        syscall, setattr_nr, _ = self._call
        try:
            nice = os.getpriority(os.PRIO_PROCESS, 0)  # this thread's, as a callback may have changed it
        except OSError:
            return False
        flags = _SCHED_FLAG_RESET_ON_FORK | _SCHED_FLAG_KEEP_POLICY
        attr = ctypes.create_string_buffer(_ATTR.pack(_ATTR.size, 0, flags, nice, 0, runtime, 0, 0))
        return int(syscall(setattr_nr, 0, attr, 0)) == 0

    def current(self) -> int | None:
        """The calling thread's slice in nanoseconds as the kernel reports it (None: not known)."""
        if self._call is None:
            return None
        syscall, _, getattr_nr = self._call
        attr = ctypes.create_string_buffer(_GET_SIZE)
        if int(syscall(getattr_nr, 0, attr, _GET_SIZE, 0)) != 0:
            return None
        return int(_ATTR.unpack_from(attr.raw)[5])
