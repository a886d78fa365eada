"""Reading `resource_usage.log`: the guard's log text -> typed per-process time series.

Takes the file the process guard writes (gscen's or Gumby's: docs/compatibility.md, "The process guard") and
returns a `ResourceLog`: per process (keyed by pid and start time, so a reused pid is a new process) its
samples (CPU seconds, threads, memory, I/O counters), plus derived `TimeSeries` (CPU seconds per second,
RSS in MiB) per process or per session (= per guarded command: each command is its own session, whose
id is the pid of the command's shell).

Format: line 1 is JSON `{"sc_clk_tck": ..., "pagesize": ...}`; every other line is `T`, a
`/proc/<pid>/stat` line, then seven `/proc/<pid>/io` counters (rchar wchar syscr syscw read_bytes
write_bytes cancelled_write_bytes). Fields are read at Gumby's positions, but counted from the last `)`
so a process name with spaces or parentheses does not shift them (Gumby's own parser gets those wrong).
Lines that cannot be read are not fatal: they are skipped and listed in `ResourceLog.problems`.

A SLURM run's nodes each write their own log; `merge_resource_logs` makes them one, in time order.
Nodes are hosts, so two of them can log the same pid (and session id) for different processes:
the merged log writes node r's pids, ppids, process groups and sessions as r x `NODE_PID_OFFSET` +
the pid (node 0's stay as they are; Linux pids stay below 2**22), and its header says so
(`"node_pid_offset"`). Every column keeps its place and stays an integer, so any reader that keys
processes by pid (this one, Gumby's process_guard_stats_parser.py) keeps the nodes' processes apart.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .procfs import (
    STAT_PPID,
    STAT_RSS,
    STAT_SESSION,
    STAT_STARTTIME,
    STAT_STATE,
    STAT_STIME,
    STAT_THREADS,
    STAT_UTIME,
    STAT_VSIZE,
)

__all__ = [
    "NODE_PID_OFFSET",
    "Grouping",
    "LogProblem",
    "ProcessSeries",
    "ResourceLog",
    "ResourceSample",
    "TimeSeries",
    "log_pid",
    "merge_network_logs",
    "merge_resource_logs",
    "parse_resource_log",
    "read_resource_log",
]

logger = logging.getLogger(__name__)

Grouping = Literal["process", "session"]
"""How `ResourceLog` series are grouped: one per process, or one per session (= guarded command)."""

_DEFAULT_CLOCK_TICKS = 100.0
_DEFAULT_PAGE_SIZE = 4096
_IO_FIELDS = 7
_MIN_STAT_FIELDS = STAT_RSS + 1
_MIB = 2**20

NODE_PID_OFFSET = 10_000_000
"""A merged log writes node r's pid p as r * NODE_PID_OFFSET + p: above Linux's PID_MAX_LIMIT (2**22),
a power of ten so that the node can be read off the number."""


def log_pid(node: int | None, pid: int) -> int:
    """The pid a run's resource log gives node `node`'s process `pid` (None: a local run's process)."""
    return pid if not node or pid <= 0 else node * NODE_PID_OFFSET + pid


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """One process at one sample time. CPU times are cumulative seconds; I/O counters cumulative bytes."""

    time: float
    state: str
    utime: float
    stime: float
    threads: int
    vsize_bytes: int
    rss_bytes: int
    rchar: int
    wchar: int
    read_bytes: int
    write_bytes: int

    @property
    def cpu_seconds(self) -> float:
        return self.utime + self.stime


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """A labelled series of (time, value) points, times ascending (epoch seconds, as in the log)."""

    label: str
    times: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ProcessSeries:
    """Every sample of one process (pid + start time), in time order.

    Attributes:
        pid, name: as in the log (`name` without the parentheses; may hold spaces); in a merged
            SLURM log the pid is `log_pid(node, pid on that node)`.
        ppid, session: parent pid and session id at the first sample (numbered as `pid`); the guard
            starts each command in its own session, so `session` says which command a process
            belongs to.
        start_ticks: start time in clock ticks after boot (tells two processes with one pid apart).
        node: the SLURM node rank it ran on, from a merged log's pids; 0 otherwise.
    """

    pid: int
    name: str
    ppid: int
    session: int
    start_ticks: int
    samples: tuple[ResourceSample, ...]
    node: int = 0

    @property
    def label(self) -> str:
        """`<name>_<pid>`, Gumby's process id (without the node prefix)."""
        return f"{self.name}_{self.pid}"

    def cpu_rate(self, interval: float) -> TimeSeries:
        """CPU seconds per second (utime + stime) at each sample.

        The first sample divides the CPU time so far by `interval`: the guard saw the process for the
        first time at most one interval after it was born.
        """
        times: list[float] = []
        values: list[float] = []
        previous: ResourceSample | None = None
        for sample in self.samples:
            if previous is None:
                rate = sample.cpu_seconds / interval
            else:
                dt = sample.time - previous.time
                rate = (sample.cpu_seconds - previous.cpu_seconds) / dt if dt > 0 else 0.0
            times.append(sample.time)
            values.append(max(rate, 0.0))
            previous = sample
        return TimeSeries(self.label, tuple(times), tuple(values))

    def rss_mib(self) -> TimeSeries:
        """Resident memory in MiB at each sample."""
        return TimeSeries(
            self.label,
            tuple(s.time for s in self.samples),
            tuple(s.rss_bytes / _MIB for s in self.samples),
        )


@dataclass(frozen=True, slots=True)
class LogProblem:
    """A line that could not be read (1-based line number) and why."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ResourceLog:
    """A parsed resource log.

    Attributes:
        clock_ticks, page_size: from the header (defaults 100 and 4096 when it is missing).
        processes: one per process, in order of first appearance.
        problems: lines skipped.
        path: the file read, if any.
        node_pid_offset: from a merged SLURM log's header (see `merge_resource_logs`); None otherwise.
    """

    clock_ticks: float
    page_size: int
    processes: tuple[ProcessSeries, ...]
    problems: tuple[LogProblem, ...] = ()
    path: Path | None = None
    node_pid_offset: int | None = None

    @property
    def times(self) -> tuple[float, ...]:
        """Every distinct sample time, ascending."""
        return tuple(sorted({s.time for p in self.processes for s in p.samples}))

    @property
    def interval(self) -> float:
        """The sampling interval, inferred as the median gap between sample times (1.0 if unknown)."""
        times = self.times
        gaps = [round(b - a, 6) for a, b in itertools.pairwise(times) if b > a]
        return sorted(gaps)[len(gaps) // 2] if gaps else 1.0

    def sessions(self) -> dict[int, tuple[ProcessSeries, ...]]:
        """Processes by session id (= the pid of the guarded command's shell), ascending."""
        groups: dict[int, list[ProcessSeries]] = {}
        for process in self.processes:
            groups.setdefault(process.session, []).append(process)
        return {sid: tuple(groups[sid]) for sid in sorted(groups)}

    def cpu_series(
        self, by: Grouping = "process", labels: Mapping[int, str] | None = None
    ) -> list[TimeSeries]:
        """CPU seconds per second, per process or summed per session.

        `labels` names sessions (session id -> label, e.g. a guarded shell's pid -> "peer 3"); sessions
        without one are labelled `session <id>`. Ignored when `by="process"`.
        """
        interval = self.interval
        return self._series(by, labels, lambda p: p.cpu_rate(interval))

    def memory_series(
        self, by: Grouping = "process", labels: Mapping[int, str] | None = None
    ) -> list[TimeSeries]:
        """RSS in MiB, per process or summed per session (see `cpu_series` for `labels`)."""
        return self._series(by, labels, ProcessSeries.rss_mib)

    def _series(
        self,
        by: Grouping,
        labels: Mapping[int, str] | None,
        per_process: Callable[[ProcessSeries], TimeSeries],
    ) -> list[TimeSeries]:
        if by == "process":
            return [per_process(p) for p in self.processes]
        result: list[TimeSeries] = []
        for sid, members in self.sessions().items():
            totals: dict[float, float] = {}
            for member in members:
                series = per_process(member)
                for t, v in zip(series.times, series.values, strict=True):
                    totals[t] = totals.get(t, 0.0) + v
            label = (labels or {}).get(sid, f"session {sid}")
            times = tuple(sorted(totals))
            result.append(TimeSeries(label, times, tuple(totals[t] for t in times)))
        return result


def _parse_header(line: str) -> tuple[float, int, int | None] | None:
    try:
        header = json.loads(line)
        offset = header.get("node_pid_offset")
        return (
            float(header["sc_clk_tck"]),
            int(header["pagesize"]),
            int(offset) if isinstance(offset, int) and offset > 0 else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def parse_resource_log(lines: Iterable[str], path: Path | None = None) -> ResourceLog:
    """Parse the lines of a resource log (with or without their newlines).

    Never raises for bad content: unreadable lines are skipped and reported in `problems`.
    """
    clock_ticks, page_size = _DEFAULT_CLOCK_TICKS, _DEFAULT_PAGE_SIZE
    offset: int | None = None
    problems: list[LogProblem] = []
    series: dict[tuple[int, int], tuple[ProcessSeries, list[ResourceSample]]] = {}
    line_list = list(lines)
    for number, raw in enumerate(line_list, start=1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if number == 1 and line.lstrip().startswith("{"):
            header = _parse_header(line)
            if header is None:
                problems.append(LogProblem(number, 'header is not {"sc_clk_tck": ..., "pagesize": ...}'))
            else:
                clock_ticks, page_size, offset = header
            continue
        if number == len(line_list) and number > 1 and not raw.endswith("\n"):
            # The writer was stopped in the middle of this line.
            problems.append(LogProblem(number, "incomplete last line"))
            continue
        parsed = _parse_line(line, clock_ticks, page_size)
        if isinstance(parsed, str):
            problems.append(LogProblem(number, parsed))
            continue
        key, process, sample = parsed
        entry = series.get(key)
        if entry is None:
            series[key] = (process, [sample])
        else:
            entry[1].append(sample)
    processes = []
    for process, samples in series.values():
        samples.sort(key=lambda s: s.time)
        processes.append(
            ProcessSeries(
                process.pid,
                process.name,
                process.ppid,
                process.session,
                process.start_ticks,
                tuple(samples),
                process.pid // offset if offset else 0,
            )
        )
    if problems:
        logger.debug("%s: %d line(s) skipped", path or "resource log", len(problems))
    return ResourceLog(clock_ticks, page_size, tuple(processes), tuple(problems), path, offset)


def _parse_line(
    line: str, clock_ticks: float, page_size: int
) -> str | tuple[tuple[int, int], ProcessSeries, ResourceSample]:
    time_text, _, stat = line.partition(" ")
    open_paren = stat.find("(")
    close_paren = stat.rfind(")")
    if open_paren < 0 or close_paren < open_paren:
        return "no `(name)` field"
    rest = stat[close_paren + 1 :].split()
    if len(rest) < _MIN_STAT_FIELDS + _IO_FIELDS:
        return f"too few fields ({len(rest)} after the name)"
    io = rest[-_IO_FIELDS:]
    try:
        time = float(time_text)
        pid = int(stat[:open_paren])
        utime = int(rest[STAT_UTIME]) / clock_ticks
        stime = int(rest[STAT_STIME]) / clock_ticks
        sample = ResourceSample(
            time=time,
            state=rest[STAT_STATE],
            utime=utime,
            stime=stime,
            threads=int(rest[STAT_THREADS]),
            vsize_bytes=int(rest[STAT_VSIZE]),
            rss_bytes=int(rest[STAT_RSS]) * page_size,
            rchar=int(io[0]),
            wchar=int(io[1]),
            read_bytes=int(io[4]),
            write_bytes=int(io[5]),
        )
        start_ticks = int(rest[STAT_STARTTIME])
        process = ProcessSeries(
            pid=pid,
            name=stat[open_paren + 1 : close_paren],
            ppid=int(rest[STAT_PPID]),
            session=int(rest[STAT_SESSION]),
            start_ticks=start_ticks,
            samples=(),
        )
    except ValueError as exc:
        return f"not a number: {exc}"
    return (pid, start_ticks), process, sample


def read_resource_log(path: Path) -> ResourceLog:
    """Read and parse a resource log file. Raises OSError when it cannot be read."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse_resource_log(f, path)


# --------------------------------------------------------------------------------------------- merging
def _node_line(line: bytes, node: int) -> bytes:
    """`line` of node `node`'s log with its pid, ppid, process group, session and terminal process
    group written as `log_pid` gives them; a line that is not a sample is kept as it is."""
    if not node:
        return line
    time_text, space, stat = line.partition(b" ")
    open_paren, close_paren = stat.find(b" ("), stat.rfind(b")")
    if not space or open_paren < 0 or close_paren < open_paren:
        return line
    # After the name: state ppid pgrp session tty_nr tpgid, then the rest untouched.
    fields = stat[close_paren + 2 :].split(b" ", 6)
    if len(fields) < 7:
        return line
    try:
        pid = log_pid(node, int(stat[:open_paren]))
        for i in (1, 2, 3, 5):
            fields[i] = b"%d" % log_pid(node, int(fields[i]))
    except ValueError:
        return line
    return b"%s %d%s %s" % (time_text, pid, stat[open_paren : close_paren + 1], b" ".join(fields))


def _timed_lines(
    path: Path, node: int, edit: Callable[[bytes, int], bytes] = _node_line, header: bool = True
) -> Iterator[tuple[float, bytes]]:
    with open(path, "rb") as f:
        if header:
            next(f, None)
        for line in f:
            head = line.split(b" ", 1)[0]
            try:
                yield float(head), edit(line, node)
            except ValueError:
                continue


def _node_interface(line: bytes, node: int) -> bytes:
    """`line` of node `node`'s network log with its interface named `<name>@node<node>` (node 0's
    kept as it is): every node has its own `eth0`."""
    if not node:
        return line
    time_text, space, rest = line.partition(b" ")
    name, space2, counters = rest.partition(b" ")
    if not space or not space2:
        return line
    return b"%s %s@node%d %s" % (time_text, name, node, counters)


def _merged_header(logs: Sequence[tuple[int, Path]]) -> bytes:
    """The first node's header, saying that node pids are offset; a warning when nodes differ."""
    headers = []
    for _node, path in logs:
        with open(path, "rb") as f:
            headers.append(f.readline())
    try:
        header = json.loads(headers[0])
    except ValueError:
        return headers[0]
    if not isinstance(header, dict):
        return headers[0]
    if len(set(headers)) > 1:
        logger.warning(
            "the nodes' resource logs have different clock ticks or page sizes; the merged log "
            "reads every node's with the first's (%s)",
            headers[0].decode(errors="replace").strip(),
        )
    header["node_pid_offset"] = NODE_PID_OFFSET
    return json.dumps(header).encode() + b"\n"


def merge_resource_logs(logs: Sequence[tuple[int, Path]], target: Path) -> None:
    """The nodes' resource logs, given as (node rank, file), as one: lines in time order, streamed
    (a long run's logs are large), each node's pids written as `log_pid` gives them; written beside
    `target` and renamed over it, so it is whole or absent. Raises OSError."""
    lines = [_timed_lines(path, node) for node, path in logs]
    _write_merged(_merged_header(logs), lines, target)


def merge_network_logs(logs: Sequence[tuple[int, Path]], target: Path) -> None:
    """The nodes' network logs (`network_usage.log`: T, interface, 16 counters; no header), given as
    (node rank, file), as one in time order, node r's interfaces named `<name>@node<r>` (node 0's as
    they are); whole or absent, as `merge_resource_logs`. Raises OSError."""
    lines = [_timed_lines(path, node, _node_interface, header=False) for node, path in logs]
    _write_merged(b"", lines, target)


def _write_merged(header: bytes, lines: Sequence[Iterator[tuple[float, bytes]]], target: Path) -> None:
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as out:
            out.write(header)
            for _, line in heapq.merge(*lines, key=lambda item: item[0]):
                out.write(line)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
