"""Writing a run's output files: whole files atomically, and one clear line when a write fails.

`write_atomically(path, data)` writes `data` to `<name>.tmp` beside `path`, flushes it to the disk and
renames it over `path`: readers see the old file or the new one, never a part of it. When the write
fails (a full disk), the temporary file is removed and the OSError is raised; `path` is untouched.

`write_failure(path, exc)` is that failure as a value whose text is the one line to show (`cannot write
/x/1/result.json: no space left on device`); `disk_full` tells a full disk (or an exhausted quota) apart
from other failures, so that `gscen run` can name the cause of a failed run once.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

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


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write `data` (str: UTF-8) to `path` through `<name>.tmp` and a rename; see the module docstring.

    Raises OSError (its `filename` is `path`) when it cannot; the temporary file is gone then, and
    `path` is as it was.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename != os.fspath(path):
            raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc
        raise
