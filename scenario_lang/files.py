"""Writing a whole file atomically: every file gscen writes whole (plans, the check cache, `gscen fmt`'s
output, a run's results) goes through `write_atomically`.

The data goes to `<name>.tmp<pid>` beside the file (the pid: two processes may write the same file, as
two `gscen check` runs may fill the same cache entry), is flushed to the disk unless `durable=False`,
and is renamed over the file: readers see the old file or the new one, never a part of it. When the
write fails (a full disk), the temporary file is removed and an OSError naming the file is raised; the
file is as it was. Standard library only: the peer process imports it.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike[str], data: bytes | str, *, durable: bool = True) -> None:
    """Write `data` (str: UTF-8, line ends as they are) to `path`; see the module docstring."""
    target = os.fspath(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = f"{target}.tmp{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename != target:
            raise OSError(exc.errno, exc.strerror or str(exc), target) from exc
        raise
