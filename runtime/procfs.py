"""Linux's /proc, read raw: a process's `stat` line and `io` counters, every process, `/proc/net/dev`.

The process guard reads these every sampling tick, so reading is cheap (`os.open`/`os.read`, one read
per file) and tolerant: a process that is gone or a file that cannot be read gives None (or zeros for
`io`), never an exception. `ProcStat` keeps the raw `stat` line too, since the resource log holds it
as is. `STAT_*` name the positions of the `stat` fields after the process name, for readers of
that line (resource_log.py reads it back from the log). Elsewhere than Linux every reader finds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEAD_STATES",
    "IO_KEYS",
    "STAT_PPID",
    "STAT_RSS",
    "STAT_SESSION",
    "STAT_STARTTIME",
    "STAT_STATE",
    "STAT_STIME",
    "STAT_THREADS",
    "STAT_UTIME",
    "STAT_VSIZE",
    "ProcStat",
    "all_stats",
    "clock_ticks",
    "known_stats",
    "network_rows",
    "page_size",
    "parse_stat",
    "read_io",
    "read_proc_file",
    "read_stat",
]

_PROC = Path("/proc")
DEAD_STATES = frozenset((b"Z", b"X", b"x"))
IO_KEYS = ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes", "cancelled_write_bytes")
_NO_IO = b" ".join([b"0"] * len(IO_KEYS))


# Positions of `stat` fields in the words after the name (which may hold spaces and parentheses, so it
# ends at the last ')'): field n of proc(5) is word n - 3.
STAT_STATE, STAT_PPID, STAT_SESSION, STAT_UTIME, STAT_STIME = 0, 1, 3, 11, 12
STAT_THREADS, STAT_STARTTIME, STAT_VSIZE, STAT_RSS = 17, 19, 20, 21


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of one `/proc/<pid>/stat` line that the guard uses, and the line itself."""

    pid: int
    state: bytes
    ppid: int
    session: int
    cpu_ticks: int  # utime + stime
    rss_pages: int
    starttime: int
    line: bytes

    @property
    def dead(self) -> bool:
        return self.state in DEAD_STATES


def parse_stat(line: bytes) -> ProcStat | None:
    """A `stat` line's fields; None for a line that is not one."""
    close = line.rfind(b")")
    if close < 0:
        return None
    rest = line[close + 1 :].split()
    if len(rest) <= STAT_RSS:
        return None
    try:
        return ProcStat(
            pid=int(line[: line.index(b"(")]),
            state=rest[STAT_STATE],
            ppid=int(rest[STAT_PPID]),
            session=int(rest[STAT_SESSION]),
            cpu_ticks=int(rest[STAT_UTIME]) + int(rest[STAT_STIME]),
            rss_pages=int(rest[STAT_RSS]),
            starttime=int(rest[STAT_STARTTIME]),
            line=line,
        )
    except ValueError:
        return None


def read_proc_file(path: str) -> bytes | None:
    # os.open/os.read: a third of the cost of open() on /proc, where every tick reads every process.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_stat(pid: int) -> ProcStat | None:
    data = read_proc_file(f"/proc/{pid}/stat")
    return None if data is None else parse_stat(data.rstrip(b"\n"))


def read_io(pid: int) -> bytes:
    """The seven counters of /proc/<pid>/io, in file order (zeros when unreadable)."""
    data = read_proc_file(f"/proc/{pid}/io")
    values = [line.partition(b":")[2].strip() for line in data.splitlines()] if data else []
    if len(values) != len(IO_KEYS):
        return _NO_IO
    return b" ".join(values)


def all_stats() -> dict[int, ProcStat]:
    stats: dict[int, ProcStat] = {}
    try:
        names = os.listdir(_PROC)
    except OSError:
        return stats
    for name in names:
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                stats[stat.pid] = stat
    return stats


def known_stats(known: Iterable[tuple[int, int]]) -> dict[int, ProcStat]:
    stats: dict[int, ProcStat] = {}
    for pid, starttime in known:
        stat = read_stat(pid)
        if stat is not None and stat.starttime == starttime:
            stats[pid] = stat
    return stats


def network_rows() -> list[bytes]:
    try:
        with open("/proc/net/dev", "rb") as f:
            text = f.read()
    except OSError:
        return []
    rows = []
    for line in text.splitlines()[2:]:
        name, _, counters = line.partition(b":")
        values = counters.split()
        if len(values) == 16:
            rows.append(b" ".join([name.strip(), *values]))
    return rows


def clock_ticks() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


def page_size() -> int:
    return int(os.sysconf("SC_PAGESIZE"))
