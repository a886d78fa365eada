"""`adopter`: a fixture to see which processes a run left behind (tests/runtime/conftest.py offers it)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import time
from collections.abc import Iterator

import psutil
import pytest

_PR_SET_CHILD_SUBREAPER = 36


class Adopter:
    """This test process as the reaper of the orphans of the processes it starts (PID 1 here does not
    reap, and a process whose parent died would otherwise be out of sight): after a run has exited and
    been waited for, every child still here, alive or zombie, is something the run left behind."""

    def __init__(self) -> None:
        self.since = time.time() - 1

    def left(self, zombies: bool = True) -> list[psutil.Process]:
        found = []
        for child in psutil.Process().children(recursive=True):
            try:
                if child.create_time() < self.since:
                    continue
                if zombies or child.status() != psutil.STATUS_ZOMBIE:
                    found.append(child)
            except psutil.NoSuchProcess:
                pass
        return found

    def reap(self) -> None:
        """Reap the adopted zombies (by pid: the test's own Popen children are waited for by Popen)."""
        for child in self.left():
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(child.pid, os.WNOHANG)
            except (psutil.NoSuchProcess, ChildProcessError):
                pass


@pytest.fixture
def adopter() -> Iterator[Adopter]:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("this system cannot make a process a child subreaper")
    watch = Adopter()
    try:
        yield watch
    finally:
        for child in watch.left():
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        time.sleep(0.1)
        watch.reap()
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
