"""Tying processes' lives to their guard's (Linux `prctl`): the guard as a subreaper, peers that die with it.

The guard stops its processes on every exit path it sees (TERM, grace, KILL, reap). Two exits it cannot
see are covered here, by the kernel:

* `become_subreaper()`: the guard's process adopts its orphaned descendants (PR_SET_CHILD_SUBREAPER), so
  a grandchild whose parent was killed is reparented to the guard, which reaps it, instead of to PID 1.
* `die_with_parent(pid)`: a process asks for SIGKILL when its parent `pid` exits (PR_SET_PDEATHSIG),
  so when the guard's own process is killed (SIGKILL, a crash) its peers and its fork server go with it
  instead of retrying a sync server that is gone. The signal follows the parent *thread*; the guard's
  children are started from its main thread, which lives as long as its process.
* `die_with_guard(environ)`: what a peer calls first: `GSCEN_GUARD_PID` (set by the guard) names the
  guard; when it is the peer's parent, the peer dies with it. A peer started through a shell that did
  not `exec` it has the shell as its parent and relies on the guard's TERM/KILL of its session.

Elsewhere than Linux these do nothing and return False.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Mapping

__all__ = ["GUARD_PID_VARIABLE", "become_subreaper", "die_with_guard", "die_with_parent", "set_process_name"]

GUARD_PID_VARIABLE = "GSCEN_GUARD_PID"

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int | bytes) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants; False when the kernel refused."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> bool:
    """Get `sig` when the parent `parent` exits. False when `parent` is not our parent (or the kernel
    refused). Raises SystemExit when the parent exited just before we asked (we were reparented)."""
    if os.getppid() != parent or not _prctl(_PR_SET_PDEATHSIG, int(sig)):
        return False
    # The parent may have died between the look and the request: then no signal will ever come.
    if os.getppid() != parent:
        raise SystemExit(128 + int(sig))
    return True


def die_with_guard(environ: Mapping[str, str]) -> bool:
    """Die with the guard named by GSCEN_GUARD_PID when it is our parent; see the module docstring."""
    value = environ.get(GUARD_PID_VARIABLE, "")
    return value.isdigit() and die_with_parent(int(value))


def set_process_name(name: str) -> bool:
    """Name this process (the `comm` of /proc/PID/stat, 15 bytes) so `ps` and the guard can tell it."""
    return _prctl(_PR_SET_NAME, name.encode()[:15])
