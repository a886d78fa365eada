"""Linux's /proc, read raw: a process's `stat` line, `io` counters and memory, every process, `/proc/net/dev`.

The process guard reads these every sampling tick, so reading is cheap (`os.open`/`os.read`, one read
per file) and tolerant: a process that is gone or a file that cannot be read gives None (or zeros for
`io`), never an exception. `ProcStat` keeps the raw `stat` line too, since the resource log holds it
as is. `STAT_*` name the positions of the `stat` fields after the process name, for readers of
that line (resource_log.py reads it back from the log). Elsewhere than Linux every reader finds nothing.

Memory figures (`read_memory`, `read_peak_rss`), and why there are three:
* RSS: resident pages mapped by the process, counting in full the pages it shares (with a fork
  server it was forked from, with the libraries of other processes);
* PSS: each resident page divided by the number of processes mapping it, so that the PSS of a set of
  processes adds up to the memory they take together (the figure for peers forked from one server);
* USS: the pages only this process maps (what its exit would give back).
RSS and its peak (`VmHWM` of /proc/PID/status) are cheap; PSS and USS come from
/proc/PID/smaps_rollup, which walks the process's mappings (a few hundred microseconds), so the guard
reads it for a few processes per sampling round. `VmHWM` is the peak of the process's own address
space; `getrusage`'s `ru_maxrss` is not: across `exec` it keeps the peak of the address space the
process was forked with, i.e. its parent's (6 GB for a peer of a runner that had compiled a big plan).
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
    "MemoryUse",
    "ProcStat",
    "all_stats",
    "clock_ticks",
    "known_stats",
    "network_rows",
    "page_size",
    "parse_stat",
    "read_cwd",
    "read_io",
    "read_memory",
    "read_peak_rss",
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

    @property
    def name(self) -> str:
        """The process's `comm` (its executable's name, or what it set with PR_SET_NAME)."""
        return self.line[self.line.find(b"(") + 1 : self.line.rfind(b")")].decode("utf-8", "replace")


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


@dataclass(frozen=True, slots=True)
class MemoryUse:
    """A process's memory now, in bytes (see the module docstring for what each figure counts)."""

    rss: int
    pss: int
    uss: int


def _kib_fields(data: bytes, names: Iterable[bytes]) -> dict[bytes, int]:
    wanted = set(names)
    found: dict[bytes, int] = {}
    for line in data.splitlines():
        key, _, rest = line.partition(b":")
        if key in wanted:
            words = rest.split()
            if words and words[0].isdigit():
                found[key] = int(words[0]) * 1024
    return found


def read_memory(pid: int | str) -> MemoryUse | None:
    """RSS, PSS and USS from /proc/<pid>/smaps_rollup (`pid` may be "self"); None when unreadable."""
    data = read_proc_file(f"/proc/{pid}/smaps_rollup")
    if not data:
        return None
    fields = _kib_fields(data, (b"Rss", b"Pss", b"Private_Clean", b"Private_Dirty", b"Private_Hugetlb"))
    if b"Rss" not in fields or b"Pss" not in fields:
        return None
    uss = (
        fields.get(b"Private_Clean", 0) + fields.get(b"Private_Dirty", 0) + fields.get(b"Private_Hugetlb", 0)
    )
    return MemoryUse(rss=fields[b"Rss"], pss=fields[b"Pss"], uss=uss)


def read_cwd(pid: int) -> Path | None:
    """The process's working folder; None when it is gone or not ours to read."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def read_peak_rss(pid: int | str = "self") -> int | None:
    """The peak RSS of the process's own address space (`VmHWM`), bytes; None when unreadable."""
    data = read_proc_file(f"/proc/{pid}/status")
    return _kib_fields(data, (b"VmHWM",)).get(b"VmHWM") if data else None


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
