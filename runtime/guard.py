"""The process guard: commands -> supervised process groups, a resource log, per-process results.

gscen's equivalent of Gumby's `process_guard.py` (see docs/compatibility.md, "The process guard"). It takes a
`GuardConfig` (shell commands, timeout, sampling interval, output folders) and returns a `GuardResult`
(per command: exit status, peak RSS, CPU seconds, output files).

Library use (as `gscen run` does)::

    config = GuardConfig(commands=("gscen peer ...",) * 4, output_dir=out, resource_dir=out)
    async with Guard(config) as guard:
        result = await guard.wait_done()      # every process gone, or the timeout passed
    # leaving the block (normally, by an exception or by cancellation) terminates what is left

Behaviour:

* Each command starts through `/bin/sh -c` in a new session (so a new process group), stdin from
  /dev/null, stdout/stderr written by the child straight into `%05d.out` / `%05d.err` (the guard keeps no
  buffer, so nothing is lost when a process is killed). `.out` begins with `Starting #NNNNN: <cmd>`.
  Python children get `PYTHONUNBUFFERED=1` unless the environment already says otherwise, so their own
  output is not lost in a stdio buffer when they are killed either.
* Commands that are exactly a gscen peer (`GuardConfig.peer_python`) are forked from a fork server
  instead (fork_server.py): the same files, session and environment, a child of the guard's process
  all the same, for a few milliseconds of CPU instead of a new interpreter's ~0.1 s. A failed fork
  fails `start()` like a failed spawn. Each process the guard starts directly dies with the guard's
  process if that is killed (lifetime.py).
* Every `interval` seconds, on absolute deadlines (the period does not drift with the work done), the
  guard samples the watched processes: every process in one of the commands' sessions, or descended
  from a watched process (so `setsid` does not escape). New ones are found by a look through all of
  /proc at most once a second (Gumby: once a second, for the first 60 s only); in between only the
  known ones are read. A line per watched process goes to `resource_usage.log` in Gumby's format
  (first line `{"sc_clk_tck": ..., "pagesize": ...}`, then `"%.1f" % T`, the `/proc/<pid>/stat` line and
  the seven `/proc/<pid>/io` counters; T is the sample time rounded up to a multiple of the interval,
  with more decimals only when the interval needs them, e.g. 0.05). Ticks are phased just after
  interval boundaries, so T is the same on every node. The raw /proc files are read (not psutil): the
  log needs the raw stat line, and reading the files once is half the cost. A log that cannot be
  written (a full disk) keeps its whole rounds and stops with one warning naming it
  (`GuardResult.log_failure`); the guard goes on supervising (timeout, TERM/KILL, exit codes).
* It is done when every command has exited and no watched process is left, or when the timeout passes.
* Stopping (timeout, `aclose()`, cancellation, or a signal to `gscen guard`): SIGTERM to every process
  group and every watched process, up to `grace` seconds for them to go, SIGKILL to what is left, then
  wait until nothing is running and reap. The guard makes itself a child subreaper (Linux), so
  grandchildren orphaned by the kill are reparented to it and reaped too instead of lingering as zombies.

Process faults (`Guard.fault(index, action)`, asked for by the scenario through `process_faults`):
`crash` SIGKILLs a command's process group (its exit is then not a failure), `pause` and `resume`
send SIGSTOP and SIGCONT (a paused group also gets SIGCONT after the SIGTERM of a stop, so it can
act on it), and `restart` kills a running one and spawns the same command again as a new entry,
with extra environment (the peer's id to rejoin under), writing on in the old one's `.out`/`.err`
after a `--- restarted` marker line.

Exit code (`GuardResult.exit_code`, as Gumby's HEAD guard): 0 when no command exited non-zero on its own,
5 when at least one did. A process stopped by the guard (timeout or stop) never counts as a failure, so a
timeout alone exits 0, as in Gumby; `fail_on_timeout` (`-T`, Gumby before 2020-10) makes it exit 3.

Commands from the command line (`commands_from_options`): a single `-c` runs `-n` copies (Gumby HEAD);
a repeated `-c` runs each command once (Gumby before 2020-10, which 26 corpus configurations rely on),
and `-n` is then ignored with a warning. Commands from `-f FILE` (one per line, blank and `#` lines
skipped) follow, once each.

Sampling and the tracking of grandchildren are Linux only (they read /proc). Elsewhere the log holds
only its header, while spawning, exit codes, the timeout and the stop of each process group still work.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import enum
import json
import logging
import math
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fork_server import ForkServer, ForkServerError
from .gumby_commands import peer_shell_command
from .lifetime import GUARD_PID_VARIABLE, become_subreaper
from .output_files import WriteFailure
from .procfs import (
    MemoryUse,
    ProcStat,
    clock_ticks,
    page_size,
    read_stat,
)
from .sampling import LogFile, Sampler, Scan
from .shielded import wait_to_the_end

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "Guard",
    "GuardClosedError",
    "GuardConfig",
    "GuardError",
    "GuardResult",
    "GuardSpawnError",
    "ProcessReport",
    "StopReason",
    "commands_from_options",
    "read_command_file",
    "run_guard",
]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 5
EXIT_TIMEOUT = 3

RESOURCE_LOG_NAME = "resource_usage.log"
NETWORK_LOG_NAME = "network_usage.log"

# How often the stop sequence looks whether the processes are gone.
_STOP_POLL = 0.05
# SIGKILL cannot be ignored; this only bounds a process stuck in uninterruptible sleep.
_KILL_WAIT = 5.0
# Looking through all of /proc for new members costs ~50 us per process on the machine: do it at most
# this often (and at every stop); in between only the known members are read.
_DISCOVERY_PERIOD = 1.0
# Peers requested from the fork server before the guard waits for the oldest one's pid.
_FORK_WINDOW = 16


# --------------------------------------------------------------------------------------------- errors
class GuardError(Exception):
    """Base of the guard's errors: something the guard could not do (I/O, spawning, misuse)."""


class GuardSpawnError(GuardError):
    """A command could not be started, or its output files could not be created."""


class GuardClosedError(GuardError):
    """The guard was used after `aclose()`, or started twice."""


# --------------------------------------------------------------------------------------------- config
@dataclass(frozen=True, slots=True)
class GuardConfig:
    """What to run and how to watch it.

    Attributes:
        commands: shell commands, numbered from 0 in this order (`%05d.out`).
        timeout: seconds after the start at which everything is stopped; None (or 0) for no timeout.
        interval: sampling and checking period in seconds (Gumby: 1.0; DAS scripts: 5).
        grace: seconds between SIGTERM and SIGKILL when stopping (Gumby waits 0.1 s).
        output_dir: folder for `%05d.out` / `%05d.err` (created); None lets children inherit the
            guard's stdout/stderr (Gumby's `DEBUG` mode).
        resource_dir: folder for `resource_usage.log` (created); None writes no log.
        network: also write `network_usage.log` (from /proc/net/dev) into `resource_dir`.
        cwd: working folder of the commands; None keeps the current one.
        env: environment of the commands; None inherits the guard's.
        reap_orphans: make this process a child subreaper (Linux, process-wide) so orphaned
            grandchildren are reaped by the guard instead of staying zombies.
        fail_on_timeout: a timeout gives exit code 3 (Gumby's `-T` before 2020-10) instead of 0.
        first_number: the number of the first command's output files and `Starting #` line (a
            guard running one node's share of a run's commands numbers them as the whole run does).
        command_env: per command, variables added to `env` for it alone (empty: none), as
            `VAR=x cmd` would, also for peers forked by the fork server (a SLURM node gives each of
            its peers its id this way, so identical peer commands still fork).
        peer_python: the interpreter of gscen's peers: commands equal to `gumby_commands.
            peer_shell_command(peer_python)` are forked from a fork server (fork_server.py) running on
            it instead of starting through `/bin/sh` (Linux with `reap_orphans`); None: every command
            goes through the shell.
    """

    commands: tuple[str, ...]
    timeout: float | None = None
    interval: float = 1.0
    grace: float = 2.0
    output_dir: Path | None = None
    resource_dir: Path | None = None
    network: bool = False
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    reap_orphans: bool = True
    fail_on_timeout: bool = False
    first_number: int = 0
    command_env: tuple[Mapping[str, str], ...] = ()
    peer_python: str | None = None

    def __post_init__(self) -> None:
        if not self.commands:
            raise ValueError("the guard needs at least one command")
        if self.command_env and len(self.command_env) != len(self.commands):
            raise ValueError("command_env needs one mapping per command")
        if not self.interval > 0:
            raise ValueError(f"interval must be positive, got {self.interval}")
        if self.timeout is not None and not self.timeout >= 0:
            raise ValueError(f"timeout must be zero or positive, got {self.timeout}")
        if not self.grace >= 0:
            raise ValueError(f"grace must be zero or positive, got {self.grace}")


# --------------------------------------------------------------------------------------------- results
class StopReason(enum.Enum):
    """Why the guard stopped."""

    ALL_EXITED = "all-exited"  # every command exited and no watched process was left
    TIMEOUT = "timeout"  # the timeout passed; what was left was terminated
    STOPPED = "stopped"  # aclose(), cancellation or a signal; what was left was terminated
    ERROR = "error"  # the guard itself failed (e.g. the resource log could not be written)


@dataclass(frozen=True, slots=True)
class ProcessReport:
    """One command's process group, as seen by the guard.

    Attributes:
        index: start order, from 0 (the `%05d` of its output files).
        command: the shell command.
        pid: pid of the shell that runs it; also its process group and session id.
        returncode: as `subprocess`: the exit status, or minus the signal number that killed it;
            None while it runs.
        stopped_by_guard: it was still running when the guard began to stop (timeout or stop), so a
            non-zero `returncode` is the guard's doing, not a failure.
        peak_rss_bytes: the largest sum of RSS over its live processes at one sample (0 if it never
            lived through a sample). Pages its processes share with each other or with a fork
            server count in full (procfs.py says what each figure counts).
        cpu_seconds: user + system CPU seconds of the group: the larger of the last-sampled CPU time
            summed over every process seen in the group and the `wait4` usage of the shell and its
            waited-for children. A lower bound: a process born and gone between two samples and not
            waited for by the shell is missed.
        started_at: wall-clock time (`time.time()`) of the spawn.
        ended_at: wall-clock time at which its exit was seen; None while it runs.
        stdout_path, stderr_path: its output files, or None without an output folder.
        peer: the peer id it runs as, when the launcher knows it (SLURM); None otherwise.
        peak_pss_bytes, peak_uss_bytes: the largest sum of PSS (shared pages divided among the
            processes sharing them) and of USS (pages no other process maps) over its live processes
            at one reading, 0 if never read. /proc/PID/smaps_rollup is slow to read, so each sampling
            round reads it for as many processes as `sampling.MEMORY_BUDGET` of the interval allows, in turn:
            with many processes these peaks are estimates from fewer readings than the RSS peak.
    """

    index: int
    command: str
    pid: int
    returncode: int | None
    stopped_by_guard: bool
    peak_rss_bytes: int
    cpu_seconds: float
    started_at: float
    ended_at: float | None
    stdout_path: Path | None
    stderr_path: Path | None
    fault: str | None = None  # the last process fault the scenario asked for (`crash`, `pause`, ...)
    restart_of: int | None = None  # a restart: the index of the command it started again
    peak_pss_bytes: int = 0
    peak_uss_bytes: int = 0
    # The peer it runs as, when the launcher knows it (a SLURM node's guard: first_id + its index);
    # None: the pipeline learns it from the process's working folder. pids are unique only per host.
    peer: int | None = None
    # The SLURM node rank it ran on, as the submitting side collects it; None in a local run. The
    # run's resource log names it by `resource_log.log_pid(node, pid)`.
    node: int | None = None

    @property
    def failed(self) -> bool:
        """It exited non-zero on its own (Gumby's criterion for exit code 5); a crash the scenario
        asked for is not a failure."""
        return (
            self.returncode is not None
            and self.returncode != 0
            and not self.stopped_by_guard
            and self.fault != "crash"
        )


@dataclass(frozen=True, slots=True)
class GuardResult:
    """The outcome of a guarded run.

    Attributes:
        processes: one report per command, in start order.
        reason: why the guard stopped.
        started_at, ended_at: wall-clock times of the first spawn and of the end of the stop.
        samples: sampling rounds done; late_ticks: rounds skipped because one ran late.
        fail_on_timeout: copied from the config (decides `exit_code`).
        error: what went wrong when `reason` is ERROR.
        log_failure: the first resource (or network) log write that failed, e.g. on a full disk;
            logging stopped there, supervision did not (the log keeps its whole rounds).
    """

    processes: tuple[ProcessReport, ...]
    reason: StopReason
    started_at: float
    ended_at: float
    samples: int
    late_ticks: int
    fail_on_timeout: bool = False
    error: str | None = None
    log_failure: WriteFailure | None = None

    @property
    def failed(self) -> tuple[ProcessReport, ...]:
        """Commands that exited non-zero on their own before the guard stopped."""
        return tuple(p for p in self.processes if p.failed)

    @property
    def timed_out(self) -> bool:
        return self.reason is StopReason.TIMEOUT

    @property
    def exit_code(self) -> int:
        """Gumby's guard exit code: 5 if a command failed, else 3 on a timeout with
        `fail_on_timeout`, else 0 (a plain timeout exits 0, as in Gumby)."""
        if self.failed:
            return EXIT_FAILED
        if self.timed_out and self.fail_on_timeout:
            return EXIT_TIMEOUT
        return EXIT_OK


# --------------------------------------------------------------------------------------------- commands
def read_command_file(path: Path) -> list[str]:
    """Commands from a `-f` file: one per line; blank lines and lines starting with `#` skipped."""
    commands: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            commands.append(stripped)
    return commands


def commands_from_options(
    commands: Sequence[str], instances: int = 1, command_file: Path | None = None
) -> tuple[str, ...]:
    """The command list for `-c` (repeatable), `-n` and `-f`, by the rule in the module docstring.

    One `-c`: `instances` copies. Several `-c`: each once, `instances` ignored (a warning is logged when
    it is above 1). Then the lines of `command_file`, once each. Raises ValueError for `instances < 1`
    and OSError when the file cannot be read.
    """
    if instances < 1:
        raise ValueError(f"--instances must be at least 1, got {instances}")
    result: list[str] = []
    if len(commands) == 1:
        result.extend([commands[0]] * instances)
    elif not commands and instances > 1:
        logger.warning("-n %d without -c is ignored: the commands of -f run once each", instances)
    else:
        if instances > 1:
            logger.warning(
                "-c was given %d times and -n %d: each -c command runs once (the pre-2020 meaning of a "
                "repeated -c) and -n is ignored; give a single -c to run %d copies",
                len(commands),
                instances,
                instances,
            )
        result.extend(commands)
    if command_file is not None:
        result.extend(read_command_file(command_file))
    return tuple(result)


def _send(pid: int, starttime: int, sig: int) -> None:
    """Signal one process, unless its pid now belongs to another process."""
    stat = read_stat(pid)
    if stat is None or stat.starttime != starttime or stat.dead:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


# --------------------------------------------------------------------------------------------- state
@dataclass(slots=True)
class _Command:
    index: int
    command: str
    pid: int
    popen: subprocess.Popen[bytes] | None  # None for a peer forked by the fork server
    started_at: float
    stdout_path: Path | None
    stderr_path: Path | None
    pidfd: int | None = None
    returncode: int | None = None
    ended_at: float | None = None
    stopped_by_guard: bool = False
    fault: str | None = None  # see ProcessReport.fault
    paused: bool = False
    restart_of: int | None = None
    peak_rss_bytes: int = 0
    peak_pss_bytes: int = 0
    peak_uss_bytes: int = 0
    rusage_cpu: float = 0.0
    # (pid, starttime) -> last sampled utime + stime in clock ticks, for every process seen in the group
    cpu_ticks: dict[tuple[int, int], int] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- guard
class Guard:
    """Runs commands in their own process groups, samples them, and always cleans up.

    `start()` returns once every command is spawned (an async context manager calls it on entry);
    `wait_done()` waits until they are all gone or the timeout passed; `aclose()` stops what is left
    (TERM, grace, KILL, reap) and returns the result, even when the caller is being cancelled. A guard
    runs once: using it after `aclose()` raises GuardClosedError.
    """

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self._commands: list[_Command] = []
        self._sessions: dict[int, int] = {}  # session id (= shell pid) -> command index
        self._known: dict[tuple[int, int], int] = {}  # (pid, starttime) -> command index
        self._live: dict[tuple[int, int], ProcStat] = {}  # last seen, not dead
        self._resource_log: LogFile | None = None
        self._network_log: LogFile | None = None
        self._last_full_scan = -math.inf
        self._last_scan_full = False
        self._sampler: Sampler | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._sampling: concurrent.futures.Future[Scan] | None = None
        self._monitor_task: asyncio.Task[StopReason] | None = None
        self._shutdown_task: asyncio.Task[GuardResult] | None = None
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._result: GuardResult | None = None
        self._error: BaseException | None = None
        self._started = False
        self._env: dict[str, str] = {}
        self._started_at = 0.0
        self._samples = 0
        self._late_ticks = 0
        self._subreaper = False
        self._deadline: float | None = None  # loop time at which the timeout passes
        self._deadline_moved = False
        self._fork_server: ForkServer | None = None
        self._strays: dict[tuple[int, int], ProcStat] = {}  # forked peers the guard was never told of
        self._memory: dict[tuple[int, int], MemoryUse | None] = {}  # last reading of each live member

    # -- lifecycle
    async def __aenter__(self) -> Guard:
        try:
            await self.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Open the logs and spawn every command; return once all are spawned.

        Raises GuardSpawnError when a folder, file or process cannot be created (what was already
        started keeps running until `aclose()`), GuardClosedError when called twice or after close.
        """
        if self._started or self._shutdown_task is not None:
            raise GuardClosedError("a guard can only be started once")
        self._started = True
        cfg = self.config
        loop = asyncio.get_running_loop()
        if cfg.reap_orphans:
            self._subreaper = become_subreaper()
        for folder in (cfg.output_dir, cfg.resource_dir):
            if folder is not None:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise GuardSpawnError(f"cannot create folder {folder}: {exc.strerror or exc}") from exc
        if cfg.resource_dir is not None:
            self._resource_log = self._open_log(cfg.resource_dir / RESOURCE_LOG_NAME)
            if cfg.network:
                self._network_log = self._open_log(cfg.resource_dir / NETWORK_LOG_NAME)
        self._sampler = Sampler(self._resource_log, self._network_log, cfg.interval)
        if self._resource_log is not None:
            header = {"sc_clk_tck": float(clock_ticks()), "pagesize": page_size()}
            self._sampler.append(self._resource_log, json.dumps(header).encode() + b"\n")
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="gscen-guard"
        )
        env = dict(os.environ if cfg.env is None else cfg.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._env = env
        # Peers (and the fork server) that this process starts directly die with it (lifetime.py).
        env[GUARD_PID_VARIABLE] = str(os.getpid())
        self._started_at = time.time()
        try:
            server = await self._start_fork_server(env)
            peer = peer_shell_command(cfg.peer_python) if server is not None and cfg.peer_python else None
            forking: collections.deque[int] = collections.deque()  # requested, pid not yet known
            for index, command in enumerate(cfg.commands):
                if self._shutdown_task is not None:
                    raise GuardClosedError("the guard was closed while it was starting")
                if server is not None and command == peer:
                    # A few requests in flight keep the server forking while this loop waits for
                    # CPU (and serves the sync server); few enough that a stop is heeded at once.
                    await self._request_fork(server, index, command)
                    forking.append(index)
                    if len(forking) >= _FORK_WINDOW:
                        await self._forked(server, forking.popleft(), loop)
                    continue
                while server is not None and forking:  # commands are added in their order
                    await self._forked(server, forking.popleft(), loop)
                self._spawn(index, command, env, loop)
                # Let the loop breathe between spawns (a sync server may be accepting in the same
                # loop), and let a cancellation land between two spawns rather than after all of them.
                await asyncio.sleep(0)
            while server is not None and forking:
                await self._forked(server, forking.popleft(), loop)
        except asyncio.CancelledError:
            # Cancelled half-way (a signal to `gscen run` while 3,000 peers are spawned): the caller
            # never got a started guard to close, so stop what was spawned here, before the
            # cancellation goes on; otherwise those peers outlive the run.
            with contextlib.suppress(asyncio.CancelledError):
                await self.aclose()
            raise
        if self._shutdown_task is not None:
            raise GuardClosedError("the guard was closed while it was starting")
        self._monitor_task = loop.create_task(self._monitor(), name="gscen-guard-monitor")
        self._monitor_task.add_done_callback(self._on_monitor_done)
        logger.info("started %d command(s)", len(self._commands))

    async def wait_done(self) -> GuardResult:
        """Wait until every process is gone or the timeout passed (and what was left is stopped).

        Raises GuardError when the guard failed while watching (after it stopped the processes).
        """
        if not self._started:
            raise GuardClosedError("the guard was not started")
        await self._done.wait()
        assert self._result is not None
        if self._error is not None:
            raise GuardError(f"the process guard failed: {self._error}") from self._error
        return self._result

    async def aclose(self) -> GuardResult:
        """Stop: TERM every group, wait up to `grace`, KILL, wait and reap; return the result.

        Idempotent. Runs to the end even if the calling task is cancelled meanwhile (the cancellation
        is re-raised afterwards).
        """
        task = self._ensure_shutdown(StopReason.STOPPED)
        return await wait_to_the_end(task)

    def set_deadline(self, at: float | None) -> None:
        """Move the timeout to wall-clock instant `at` (`time.time()` seconds), or remove it (None).

        `gscen run` counts a peer guard's timeout from the start signal this way. Must be called
        from the guard's event loop; a deadline already past stops everything at the next look.
        """
        loop = asyncio.get_running_loop()
        self._deadline = None if at is None else loop.time() + (at - time.time())
        self._deadline_moved = True
        self._wake.set()

    # -- views
    @property
    def result(self) -> GuardResult:
        """The final result; raises GuardError before the guard has stopped."""
        if self._result is None:
            raise GuardError("the guard has not stopped yet")
        return self._result

    def reports(self) -> tuple[ProcessReport, ...]:
        """A snapshot of every command's state (for progress displays)."""
        return tuple(self._report(c) for c in self._commands)

    @property
    def running(self) -> int:
        """How many commands have not exited yet."""
        return sum(1 for c in self._commands if c.returncode is None)

    # -- spawning
    async def _start_fork_server(self, env: Mapping[str, str]) -> ForkServer | None:
        """Start the fork server when some commands are gscen peers; None when there is none.

        Without a subreaper the forked peers could not be the guard's children: they go through the
        shell then, as they do when the server cannot start (a warning says why).
        """
        cfg = self.config
        if cfg.peer_python is None or not self._subreaper:
            return None
        peer = peer_shell_command(cfg.peer_python)
        if peer not in cfg.commands:
            return None
        server = ForkServer(cfg.peer_python, env, cfg.cwd)
        self._fork_server = server
        try:
            await server.start()
        except ForkServerError as exc:
            logger.warning("%s; the peers start through the shell instead", exc)
            self._fork_server = None
            await server.aclose(self.config.grace)
            return None
        return server

    def _open_log(self, path: Path) -> LogFile:
        try:
            return LogFile(path)
        except OSError as exc:
            raise GuardSpawnError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def _spawn(
        self,
        index: int,
        command: str,
        env: Mapping[str, str],
        loop: asyncio.AbstractEventLoop,
        restart_of: _Command | None = None,
    ) -> _Command:
        cfg = self.config
        out: Any = None
        err: Any = None
        number = index + cfg.first_number
        out_path, err_path = self._output_paths(index)
        if cfg.command_env and index < len(cfg.command_env):
            env = {**env, **cfg.command_env[index]}
        try:
            if restart_of is not None and restart_of.stdout_path is not None:
                # A restart goes on in the files of the process it replaces, after a marker line.
                out_path, err_path = restart_of.stdout_path, restart_of.stderr_path
                out = open(out_path, "ab", buffering=0)  # noqa: SIM115
                err = open(err_path, "ab", buffering=0) if err_path is not None else None  # noqa: SIM115
                marker = (
                    f"--- restarted #{restart_of.index:05d} as #{index:05d} at {time.time():.6f}: {command}\n"
                )
                out.write(marker.encode())
                if err is not None:
                    err.write(marker.encode())
            elif out_path is not None and err_path is not None:
                # Unbuffered: the child writes into these descriptors directly.
                out = open(out_path, "wb", buffering=0)  # noqa: SIM115
                err = open(err_path, "wb", buffering=0)  # noqa: SIM115
                out.write(f"Starting #{number:05d}: {command}\n".encode())
            popen = subprocess.Popen(
                command,
                shell=True,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=cfg.cwd,
                env=env,
                close_fds=True,
            )
        except (OSError, ValueError) as exc:
            what = f"#{number:05d} ({command})"
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise GuardSpawnError(f"cannot start command {what}: {reason}") from exc
        finally:
            for f in (out, err):
                if f is not None:
                    f.close()
        entry = _Command(index, command, popen.pid, popen, time.time(), out_path, err_path)
        if restart_of is not None:
            entry.restart_of = restart_of.index
        self._add(entry, loop)
        return entry

    def _output_paths(self, index: int) -> tuple[Path | None, Path | None]:
        folder = self.config.output_dir
        if folder is None:
            return None, None
        number = index + self.config.first_number
        return folder / f"{number:05d}.out", folder / f"{number:05d}.err"

    async def _request_fork(self, server: ForkServer, index: int, command: str) -> None:
        """Ask the fork server for a gscen peer (the same files and session as `_spawn` gives)."""
        cfg = self.config
        out_path, err_path = self._output_paths(index)
        header = f"Starting #{index + cfg.first_number:05d}: {command}\n"
        env = cfg.command_env[index] if cfg.command_env else None
        try:
            await server.request(index, out_path, err_path, header, env)
        except ForkServerError as exc:
            raise GuardSpawnError(f"cannot start command #{index:05d} ({command}): {exc}") from exc

    async def _forked(self, server: ForkServer, index: int, loop: asyncio.AbstractEventLoop) -> None:
        command = self.config.commands[index]
        try:
            pid = await server.reply(index)
        except ForkServerError as exc:
            raise GuardSpawnError(f"cannot start command #{index:05d} ({command}): {exc}") from exc
        out_path, err_path = self._output_paths(index)
        self._add(_Command(index, command, pid, None, time.time(), out_path, err_path), loop)

    def _add(self, entry: _Command, loop: asyncio.AbstractEventLoop) -> None:
        self._commands.append(entry)
        self._sessions[entry.pid] = entry.index
        stat = read_stat(entry.pid)
        if stat is not None:
            self._known[(stat.pid, stat.starttime)] = entry.index
        try:
            entry.pidfd = os.pidfd_open(entry.pid)
            loop.add_reader(entry.pidfd, self._on_exit, entry)
        except (OSError, AttributeError, NotImplementedError):
            # No pidfd (old kernel, too many open files): the monitor polls at every tick.
            entry.pidfd = None
        logger.debug("started #%05d pid %d: %s", entry.index, entry.pid, entry.command)

    # -- process faults the scenario asks for
    def fault(self, index: int, action: str, env: Mapping[str, str] | None = None) -> int:
        """Carry out `crash` (SIGKILL), `pause` (SIGSTOP), `resume` (SIGCONT) or `restart` on
        command `index`'s process group; returns the index of the command that now stands for it
        (a restart spawns a new one, with `env` added to the environment, whose output goes on in
        the old one's files). A crash is recorded on the command, so its exit is not a failure.

        Raises GuardError for an unknown index, a closed guard, or a restart that cannot spawn.
        """
        if not self._started or self._shutdown_task is not None:
            raise GuardClosedError("the guard is not running")
        if not 0 <= index < len(self._commands):
            raise GuardError(f"no command #{index:05d}")
        entry = self._commands[index]
        running = not self._collect(entry)
        if action in ("crash", "restart"):
            if running:
                entry.fault = "crash"
                self._signal_command(entry, signal.SIGKILL)
            if action == "crash":
                return index
            new = self._spawn(
                len(self._commands),
                entry.command,
                {**self._env, **(env or {})},
                asyncio.get_running_loop(),
                restart_of=entry,
            )
            new.fault = "restart"
            self._wake.set()
            return new.index
        if action not in ("pause", "resume"):
            raise GuardError(f"unknown process fault {action!r}")
        if running:
            entry.fault = action
            entry.paused = action == "pause"
            self._signal_command(entry, signal.SIGSTOP if entry.paused else signal.SIGCONT)
        return index

    def _signal_command(self, entry: _Command, sig: int) -> None:
        """`sig` to one command's process group, and to its watched processes that left it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(entry.pid, sig)
        for (pid, starttime), _stat in list(self._live.items()):
            if self._known.get((pid, starttime)) == entry.index:
                _send(pid, starttime, sig)

    # -- exits and reaping
    def _on_exit(self, entry: _Command) -> None:
        self._collect(entry)
        if entry.returncode is not None and all(c.returncode is not None for c in self._commands):
            self._wake.set()

    def _collect(self, entry: _Command) -> bool:
        """Reap the command's shell if it exited; True once it has."""
        if entry.returncode is not None:
            return True
        try:
            pid, status, usage = os.wait4(entry.pid, os.WNOHANG)
        except ChildProcessError:
            if entry.popen is None and read_stat(entry.pid) is not None:
                # A forked peer whose intermediate has not exited yet: not our child for a moment.
                return False
            # Someone else reaped it (should not happen): the status is lost.
            pid, status, usage = entry.pid, 255 << 8, None
        if pid == 0:
            return False
        entry.returncode = os.waitstatus_to_exitcode(status)
        if entry.popen is not None:
            # Tell Popen, so that it never waits for this pid again (it may be reused).
            entry.popen.returncode = entry.returncode
        entry.ended_at = time.time()
        if usage is not None:
            # ru_maxrss is not used: it counts the guard's own pages the child had before its exec.
            entry.rusage_cpu = usage.ru_utime + usage.ru_stime
        self._close_pidfd(entry)
        level = logging.INFO if entry.returncode == 0 or entry.stopped_by_guard else logging.WARNING
        logger.log(level, "#%05d (pid %d) exited with %s", entry.index, entry.pid, entry.returncode)
        return True

    def _close_pidfd(self, entry: _Command) -> None:
        if entry.pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(entry.pidfd)
            with contextlib.suppress(OSError):
                os.close(entry.pidfd)
            entry.pidfd = None

    def _apply(self, scan: Scan) -> None:
        """Fold a scan into the per-command figures and reap orphaned zombies (loop thread)."""
        rss: dict[int, int] = {}
        page = page_size()
        live: dict[tuple[int, int], ProcStat] = {}
        me = os.getpid()
        shells = {c.pid for c in self._commands}
        for key, (index, stat) in scan.members.items():
            self._known[key] = index
            entry = self._commands[index]
            entry.cpu_ticks[key] = stat.cpu_ticks
            if stat.dead:
                # An orphan reparented to us (subreaper): reap it, by pid only, so nobody else's
                # child status is taken. The shells themselves are reaped by `_collect`.
                if stat.ppid == me and stat.pid not in shells:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(stat.pid, os.WNOHANG)
                continue
            live[key] = stat
            rss[index] = rss.get(index, 0) + stat.rss_pages * page
        for index, total in rss.items():
            entry = self._commands[index]
            entry.peak_rss_bytes = max(entry.peak_rss_bytes, total)
        self._live = live
        if scan.memory:
            self._memory = {key: scan.memory.get(key, self._memory.get(key)) for key in live}
            pss: dict[int, int] = {}
            uss: dict[int, int] = {}
            for key, memory in self._memory.items():
                if memory is not None:
                    index = self._known[key]
                    pss[index] = pss.get(index, 0) + memory.pss
                    uss[index] = uss.get(index, 0) + memory.uss
            for index in pss:
                entry = self._commands[index]
                entry.peak_pss_bytes = max(entry.peak_pss_bytes, pss[index])
                entry.peak_uss_bytes = max(entry.peak_uss_bytes, uss[index])
        if self._last_scan_full:
            self._strays = {}
            for key, stat in scan.strays.items():
                if stat.dead:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(stat.pid, os.WNOHANG)
                else:
                    self._strays[key] = stat

    async def _scan(self, stamp: float | None, full: bool = True) -> Scan:
        assert self._sampler is not None and self._executor is not None
        now = time.monotonic()
        if not full and now - self._last_full_scan >= _DISCOVERY_PERIOD:
            full = True
        if full:
            self._last_full_scan = now
        self._last_scan_full = full
        known = dict(self._known) if full else {key: self._known[key] for key in self._live}
        # Reading /proc is blocking work: it goes to the guard's own worker thread, one scan at a time.
        self._sampling = self._executor.submit(self._sampler.scan, dict(self._sessions), known, stamp, full)
        scan = await asyncio.wrap_future(self._sampling)
        self._apply(scan)
        return scan

    # -- monitoring
    async def _monitor(self) -> StopReason:
        cfg = self.config
        loop = asyncio.get_running_loop()
        interval = cfg.interval
        # Phase the ticks just after wall-clock multiples of the interval: every node then stamps
        # the same T, and up to 0.98 interval of lateness keeps the same T.
        wall, mono = time.time(), loop.time()
        phase = 0.02 * interval
        k = math.floor((wall - phase) / interval) + 1
        base = mono - wall  # wall time w is monotonic time w + base
        if not self._deadline_moved:
            self._deadline = None if cfg.timeout in (None, 0) else mono + float(cfg.timeout or 0)
        while True:
            deadline = self._deadline
            tick_at = k * interval + phase + base
            wake_at = tick_at if deadline is None else min(tick_at, deadline)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(wake_at):
                    await self._wake.wait()
            # Cleared only here, once seen: a wake set during a scan is not lost.
            self._wake.clear()
            now = loop.time()
            deadline = self._deadline  # set_deadline may have moved it while we slept
            if deadline is not None and now >= deadline:
                logger.warning("the timeout passed: stopping what is left")
                return StopReason.TIMEOUT
            for entry in self._commands:
                if entry.pidfd is None:
                    self._collect(entry)
            if now >= tick_at:
                await self._scan(stamp=time.time(), full=False)
                self._samples += 1
                k_next = math.floor((now - base - phase) / interval) + 1
                if k_next > k + 1:
                    self._late_ticks += k_next - k - 1
                    logger.debug("sampling ran late: skipped %d tick(s)", k_next - k - 1)
                k = max(k + 1, k_next)
            else:
                # Woken early because the last command exited: look (without a log round) whether
                # anything is left in the groups.
                await self._scan(stamp=None)
            if self._everything_gone():
                if not self._last_scan_full:
                    # A sampling round reads only known processes: look for unknown ones first.
                    await self._scan(stamp=None)
                if self._everything_gone():
                    return StopReason.ALL_EXITED

    def _on_monitor_done(self, task: asyncio.Task[StopReason]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("the process guard failed: %s", exc)
            self._error = exc
            self._ensure_shutdown(StopReason.ERROR)
        else:
            self._ensure_shutdown(task.result())

    # -- stopping
    def _ensure_shutdown(self, reason: StopReason) -> asyncio.Task[GuardResult]:
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(
                self._shutdown(reason), name="gscen-guard-stop"
            )
        return self._shutdown_task

    async def _shutdown(self, reason: StopReason) -> GuardResult:
        monitor = self._monitor_task
        if monitor is not None and not monitor.done():
            monitor.cancel()
            with contextlib.suppress(BaseException):
                await monitor
        # A scan cancelled by the caller still runs in its thread: let it end before the logs close.
        while self._sampling is not None and not self._sampling.done():
            await asyncio.sleep(_STOP_POLL)
        try:
            if self._fork_server is not None:
                # No more forks: the server ends at end of file (it has no peer as its child).
                await self._fork_server.aclose(self.config.grace)
            await self._stop_processes()
        finally:
            for entry in self._commands:
                self._close_pidfd(entry)
            for log in (self._resource_log, self._network_log):
                if log is not None:
                    log.close()
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._result = GuardResult(
                processes=self.reports(),
                reason=reason,
                started_at=self._started_at,
                ended_at=time.time(),
                samples=self._samples,
                late_ticks=self._late_ticks,
                fail_on_timeout=self.config.fail_on_timeout,
                error=None if self._error is None else str(self._error),
                log_failure=self._sampler.failure if self._sampler is not None else None,
            )
            self._done.set()
        return self._result

    async def _stop_processes(self) -> None:
        if not self._commands and self._fork_server is None:
            return
        for entry in self._commands:
            if not self._collect(entry):
                entry.stopped_by_guard = True
        if not self._sampler:
            return
        await self._scan(stamp=None)
        if self._everything_gone():
            return
        stopping = [c for c in self._commands if c.stopped_by_guard]
        logger.info(
            "stopping %d command(s): SIGTERM, then SIGKILL after %g s", len(stopping), self.config.grace
        )
        self._signal_all(signal.SIGTERM)
        for entry in stopping:
            if entry.paused:  # a stopped process acts on SIGTERM only once it runs again
                self._signal_command(entry, signal.SIGCONT)
        if await self._wait_gone(self.config.grace):
            return
        logger.warning("SIGKILL to what is left after %g s", self.config.grace)
        self._signal_all(signal.SIGKILL)
        if not await self._wait_gone(_KILL_WAIT):
            left = ", ".join(str(pid) for pid, _ in self._live)
            logger.error("processes still running after SIGKILL (uninterruptible?): %s", left)

    def _signal_all(self, sig: int) -> None:
        # Every watched process by pid (checked against its start time), and every process group
        # whole, which also reaches processes born since the last scan. A group id is only used
        # while it is certainly still ours: its shell is not reaped yet, or a member of its session
        # is alive (the kernel does not reuse a pid that is still a session id).
        sessions_alive = {stat.session for stat in self._live.values()}
        for entry in self._commands:
            if entry.returncode is None or entry.pid in sessions_alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(entry.pid, sig)
        for (pid, starttime), _stat in [*self._live.items(), *self._strays.items()]:
            _send(pid, starttime, sig)

    def _everything_gone(self) -> bool:
        return all(c.returncode is not None for c in self._commands) and not self._live and not self._strays

    async def _wait_gone(self, seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            for entry in self._commands:
                self._collect(entry)
            await self._scan(stamp=None)
            if self._everything_gone():
                # One more scan reaps the orphans that turned into zombies during the last one.
                await self._scan(stamp=None)
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(min(_STOP_POLL, max(0.0, deadline - loop.time())))

    def _report(self, entry: _Command) -> ProcessReport:
        clk = clock_ticks()
        sampled = sum(entry.cpu_ticks.values()) / clk
        return ProcessReport(
            index=entry.index,
            command=entry.command,
            pid=entry.pid,
            returncode=entry.returncode,
            stopped_by_guard=entry.stopped_by_guard,
            peak_rss_bytes=entry.peak_rss_bytes,
            cpu_seconds=max(sampled, entry.rusage_cpu),
            started_at=entry.started_at,
            ended_at=entry.ended_at,
            stdout_path=entry.stdout_path,
            stderr_path=entry.stderr_path,
            fault=entry.fault,
            restart_of=entry.restart_of,
            peak_pss_bytes=entry.peak_pss_bytes,
            peak_uss_bytes=entry.peak_uss_bytes,
        )


# --------------------------------------------------------------------------------------------- entry points
async def run_guard(config: GuardConfig, stop: asyncio.Event | None = None) -> GuardResult:
    """Run the guard until it is done, or until `stop` is set; always cleans up.

    `stop` is heeded while the commands are still being spawned, too: no more are started. Raises
    GuardError as `Guard.start()` and `Guard.wait_done()` do, after cleaning up.
    """
    guard = Guard(config)
    stopper = None if stop is None else asyncio.ensure_future(stop.wait())
    try:
        for step in (guard.start, guard.wait_done):
            task: asyncio.Future[Any] = asyncio.ensure_future(step())
            try:
                await asyncio.wait(
                    {task} if stopper is None else {task, stopper}, return_when="FIRST_COMPLETED"
                )
            finally:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if task.cancelled():
                break  # stop was set
            task.result()  # raises what start() / wait_done() raised
    finally:
        if stopper is not None:
            stopper.cancel()
        await guard.aclose()
    return guard.result
