"""Writing a run's output files: whole files atomically, and one clear line when a write fails.

`write_atomically` is the front end's (`scenario_lang.files`): a temporary file, flushed, renamed; on
a failure (a full disk) the temporary file is removed and an OSError naming the file is raised.

`write_failure(path, exc)` is that failure as a value whose text is the one line to show (`cannot write
/x/1/result.json: no space left on device`); `disk_full` tells a full disk (or an exhausted quota) apart
from other failures, so that `gscen run` can name the cause of a failed run once.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from scenario_lang.files import write_atomically

__all__ = ["WriteFailure", "is_disk_full", "write_atomically", "write_failure"]

_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True, slots=True)
class WriteFailure:
    """A file that could not be written, why (lowercase, as a sentence part), and whether the disk is full."""

    path: str
    reason: str
    disk_full: bool

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"


def is_disk_full(exc: BaseException) -> bool:
    """The error says the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def write_failure(path: str | os.PathLike[str], exc: OSError) -> WriteFailure:
    """The failure to write `path` with `exc`, for one line of output."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return WriteFailure(os.fspath(path), reason[:1].lower() + reason[1:], is_disk_full(exc))
