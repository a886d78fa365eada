"""The guard's sampling: reads /proc for the watched processes and writes the resource and network logs.

Takes the watched sessions and known processes (a scan: `Sampler.scan`, run in the guard's worker
thread) and returns a `Scan` (members by command index, stray forked peers, memory readings); appends
Gumby-format rounds to `resource_usage.log` / `network_usage.log` through `LogFile`, which stops
with one warning when the disk is full, keeping whole rounds.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .fork_server import PEER_PROCESS_NAME
from .output_files import WriteFailure, write_failure
from .procfs import (
    MemoryUse,
    ProcStat,
    all_stats,
    known_stats,
    network_rows,
    read_io,
    read_memory,
)

# The guard's own log: what sampling reports is the guard's word to the operator.
logger = logging.getLogger("scenario_lang.runtime.guard")

# Share of each sampling interval spent reading /proc/PID/smaps_rollup (PSS, USS) for the processes in
# turn: it costs ~0.1-0.4 ms per process, so 1,000 peers are read once in ~5 rounds at 1 s, not each round.
MEMORY_BUDGET = 0.05
# That reading goes in slices of MEMORY_SLICE seconds with MEMORY_PAUSE between them: read in one go,
# 50 peers' PSS took 12 ms of a core at each round, and the peers' events due meanwhile waited for
# it (a third of the events more than 2 ms late in bench/faults_lateness.py fell in those 12 ms). In
# slices, a peer waking on a busy core waits 1 ms at most for it. The slices end by MEMORY_SPAN of
# the interval, whatever the budget left.
MEMORY_SLICE = 0.001
MEMORY_PAUSE = 0.004
MEMORY_SPAN = 0.3


@dataclass(frozen=True, slots=True)
class Scan:
    """One look at /proc: the watched processes, by command index."""

    members: dict[tuple[int, int], tuple[int, ProcStat]]  # (pid, starttime) -> (command index, stat)
    # Children of the guard named like forked peers that no command owns (full scans only): a peer
    # forked just before the fork server died, unreported. They are stopped and reaped with the rest.
    strays: dict[tuple[int, int], ProcStat] = field(default_factory=dict)
    # New memory readings of some members (sampling rounds only; see MEMORY_BUDGET).
    memory: dict[tuple[int, int], MemoryUse] = field(default_factory=dict)


class LogFile:
    """A log file the guard appends whole rounds to (unbuffered: a round is written or cut off)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = open(path, "wb", buffering=0)  # noqa: SIM115 (closed in _shutdown)
        self.size = 0  # bytes of complete rounds written

    def append(self, data: bytes) -> None:
        """Write `data` whole; raises OSError, after cutting the file back to its last whole round."""
        view = memoryview(data)
        try:
            while view:
                view = view[self.file.write(view) or 0 :]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.file.fileno(), self.size)
            raise
        self.size += len(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()


class Sampler:
    """Reads /proc and writes the logs; runs in a worker thread, one call at a time.

    A log that cannot be written (a full disk) is cut back to its last whole round, closed and left
    alone: one warning names it, `failure` keeps the first such failure, and sampling goes on (the
    guard needs it to supervise).
    """

    def __init__(self, resource_log: LogFile | None, network_log: LogFile | None, interval: float) -> None:
        self.resource_log = resource_log
        self.network_log = network_log
        self.interval = interval
        self.decimals = time_decimals(interval)
        self.failure: WriteFailure | None = None
        self._memory_turn = 0  # where the next round's memory readings begin, in pid order

    def append(self, log: LogFile, data: bytes) -> bool:
        """Append to `log`; False (and the log dropped) when it cannot be written."""
        try:
            log.append(data)
        except OSError as exc:
            failure = write_failure(log.path, exc)
            logger.warning("%s; this log stops here, the processes are still supervised", failure)
            log.close()
            if log is self.resource_log:
                self.resource_log = None
            if log is self.network_log:
                self.network_log = None
            if self.failure is None:
                self.failure = failure
            return False
        return True

    def scan(
        self,
        sessions: Mapping[int, int],
        known: Mapping[tuple[int, int], int],
        stamp: float | None,
        full: bool,
    ) -> Scan:
        """Find the watched processes; with `stamp` (a wall-clock time), also write a log round.

        A `full` scan reads every process in /proc, to find new members; otherwise only the known
        ones are read again.
        """
        stats = all_stats() if full else known_stats(known)
        members: dict[tuple[int, int], tuple[int, ProcStat]] = {}
        children: dict[int, list[ProcStat]] = {}
        for stat in stats.values():
            children.setdefault(stat.ppid, []).append(stat)
            key = (stat.pid, stat.starttime)
            index = sessions.get(stat.session, known.get(key))
            if index is not None:
                members[key] = (index, stat)
        # Descendants that left the session (setsid, daemons) while their parent is watched.
        todo = [(index, stat.pid) for index, stat in members.values()]
        while todo:
            index, pid = todo.pop()
            for child in children.get(pid, ()):
                key = (child.pid, child.starttime)
                if key not in members:
                    members[key] = (index, child)
                    todo.append((index, child.pid))
        strays = {}
        if full:
            me = os.getpid()
            for stat in children.get(me, ()):
                key = (stat.pid, stat.starttime)
                if key not in members and stat.name == PEER_PROCESS_NAME:
                    strays[key] = stat
        memory = {}
        if stamp is not None:
            self._write(members, stamp)
            memory = self._read_memory(members)
        return Scan(members, strays, memory)

    def _read_memory(
        self, members: Mapping[tuple[int, int], tuple[int, ProcStat]]
    ) -> dict[tuple[int, int], MemoryUse]:
        """PSS/USS of the next live members in turn, for at most MEMORY_BUDGET of the interval, in
        slices (MEMORY_SLICE, MEMORY_PAUSE) that end by MEMORY_SPAN of it."""
        keys = sorted(key for key, (_index, stat) in members.items() if not stat.dead)
        readings: dict[tuple[int, int], MemoryUse] = {}
        if not keys:
            return readings
        start = self._memory_turn % len(keys)
        began = slice_began = time.perf_counter()
        budget, span = MEMORY_BUDGET * self.interval, MEMORY_SPAN * self.interval
        spent = 0.0
        done = 0
        for key in keys[start:] + keys[:start]:
            done += 1
            memory = read_memory(key[0])
            if memory is not None:
                readings[key] = memory
            now = time.perf_counter()
            if now - slice_began >= MEMORY_SLICE:
                spent += now - slice_began
                if spent >= budget or now - began + MEMORY_PAUSE >= span:
                    break
                time.sleep(MEMORY_PAUSE)
                slice_began = time.perf_counter()
            elif spent + (now - slice_began) >= budget:
                break
        self._memory_turn = start + done
        return readings

    def _write(self, members: Mapping[tuple[int, int], tuple[int, ProcStat]], stamp: float) -> None:
        t = f"{math.ceil(stamp / self.interval) * self.interval:.{self.decimals}f}".encode()
        if self.resource_log is not None:
            parts = []
            for _index, stat in sorted(members.values(), key=lambda m: m[1].pid):
                if not stat.dead:
                    parts.append(b"%s %s %s\n" % (t, stat.line, read_io(stat.pid)))
            self.append(self.resource_log, b"".join(parts))
        if self.network_log is not None:
            self.append(self.network_log, b"".join(b"%s %s\n" % (t, row) for row in network_rows()))


def time_decimals(interval: float) -> int:
    """Gumby writes T with one decimal; a finer interval (0.05) needs more to keep rounds apart."""
    for decimals in range(1, 7):
        if abs(round(interval, decimals) - interval) < 1e-9:
            return decimals
    return 6
