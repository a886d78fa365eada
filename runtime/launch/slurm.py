"""Peers on a SLURM cluster: `SlurmLauncher` submits one allocation whose one srun step runs gscen's
process guard once per node, each for that node's share of the peers.

Takes a `SlurmConfig` (how many nodes, the time limit, partition, account, extra sbatch arguments,
the pending timeout) and a `PeerLaunch` (the peer command and the guard settings a local run would
use); gives the pipeline a `SlurmJob`, the same handle as the local guard (`start`, `wait_done`,
`aclose`, `reports`, `running`), plus `placement`, the job's state for the progress line.

How a run goes:

* `start()` writes `OUTPUT_DIR/.gscen/slurm/`: `node-spec.json` (what every node runs), `token`
  (the run's sync token, mode 600: it never appears on a command line or in the batch script, which
  other users may read) and `job.sh`, the batch script (`batch_script`), then `sbatch --parsable`.
  The job's environment is the run's (OUTPUT_DIR, SYNC_HOST, ... as locally), without the token.
* The batch script runs one step: `srun --nodes=N --ntasks=N --ntasks-per-node=1 python -m
  scenario_lang.runtime.launch.slurm_node node-spec.json` (`srun_argv`). Node rank r
  (SLURM_NODEID) runs `node_share(instances, N, r)` peers, the first `instances % N` nodes one more
  (as Gumby's das_node_run_job.sh), and peer k on it asks the sync server for id
  `first_id(instances, N, r) + k` (`request-id`, sync.py), so ids follow rank and index even when
  every node has the same address. Each node's guard writes into `.gscen/nodes/<rank>/` and a
  `status.json` there about once a second, which `reports()` / `running` read.
* While it runs, `squeue` is polled (`job_state`): a job still pending after `pending_timeout`
  seconds is cancelled and fails the run with SLURM's reason; the time limit (`node_timeout` + 120 s,
  Gumby's reservation length) is SLURM's to enforce.
* Process faults (`PeerLaunch.faults`, the scenario's `crash`, `pause`, `resume`, `restart`) go
  into `node-spec.json`; each node's guard carries out those of its own peers (slurm_node.py). When
  the sync server has sent the start signal, `begin_faults` writes its instant into
  `.gscen/slurm/start.json` (the shared folder the nodes already read their spec from; they look for
  it a few times a second), and the faults are due at that instant + their times, the clock the
  peers' schedulers use too. Each node lists what it did in its `status.json`; `fault_records()`
  merges them once the job is over. A restart on a node is a new process there; it is numbered
  after every node's first processes (`process_number`) and writes on in its peer's `.out`/`.err`.
  A peer paused and never resumed goes on, as locally, once every process of the run still running
  is paused: the statuses say so (`release_paused`), `.gscen/slurm/release.json` tells the nodes.
* At the end (the job left the queue or reached a final state), `collect_output` gives the output
  folder a local run's layout: each node's `%05d.out`/`.err` (numbered as in the whole run: node r's
  k-th process is number first_id - 1 + k) moved into OUTPUT_DIR, and one `resource_usage.log`
  merged from the nodes' in time order, each node's pids offset so that two nodes' never mix
  (`resource_log.merge_resource_logs`; the reports carry their node for the plots' labels), and one
  `network_usage.log` likewise, node r's interfaces named `<name>@node<r>` (`merge_network_logs`). The
  peers wrote OUTPUT_DIR/<id>/ themselves (a folder every node sees).
* `aclose()` on any path (Ctrl-C, a failed sync, a failing peer before the start, an error): if the
  job is not over, `scancel`, then wait until `squeue` no longer lists it; then collect.

Failures raise `SlurmError` (a `GuardError`, which the pipeline reports like the local guard's):
`SlurmCommandError` names the command, its exit status and what it printed (sbatch refusing a
partition, no `sbatch` on PATH); `SlurmPendingTimeout` names the job and SLURM's reason.

The files this side and the nodes' tasks share, and their formats (the node spec, the peers' share
per node, each node's `status.json`), are slurm_files.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import shlex
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from scenario_lang.files import write_atomically

from ..guard import (
    NETWORK_LOG_NAME,
    RESOURCE_LOG_NAME,
    GuardClosedError,
    GuardConfig,
    GuardError,
    GuardResult,
    ProcessReport,
    StopReason,
)
from ..output_files import WriteFailure, write_failure
from ..resource_log import merge_network_logs, merge_resource_logs
from ..shielded import wait_to_the_end
from ..summary import FaultRecord
from . import LaunchedPeers, PeerLaunch
from .slurm_files import (
    SLURM_FOLDER,
    SPEC_NAME,
    STATUS_NAME,
    TOKEN_NAME,
    NodeSpec,
    fault_from_json,
    first_id,
    node_reports,
    node_share,
    node_status,
)

__all__ = [
    "JobState",
    "SlurmCommandError",
    "SlurmConfig",
    "SlurmError",
    "SlurmJob",
    "SlurmLauncher",
    "SlurmPendingTimeout",
    "batch_script",
    "cancel_job",
    "collect_output",
    "job_state",
    "sbatch_argv",
    "srun_argv",
    "submit_job",
]

logger = logging.getLogger(__name__)

SCRIPT_NAME: Final = "job.sh"
RESERVE_EXTRA: Final = 120.0
"""Seconds the allocation outlives `node_timeout` (Gumby's DAS_RESERVE_DURATION default)."""
FINAL_STATES: Final = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
        "TIMEOUT",
    }
)
_COMMAND_TIMEOUT: Final = 30.0  # seconds an sbatch/squeue/scancel call may take


# --------------------------------------------------------------------------------------------- errors
class SlurmError(GuardError):
    """Something SLURM refused or did not do; the message says what and why."""


class SlurmCommandError(SlurmError):
    """A SLURM command failed: `argv`, its exit status (None: not found or timed out), its output."""

    def __init__(self, argv: Sequence[str], returncode: int | None, output: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.output = output
        how = f"exited with status {returncode}" if returncode is not None else "could not run"
        said = f": {output.strip()}" if output.strip() else ""
        super().__init__(f"`{shlex.join(argv[:2])} ...` {how}{said}")


class SlurmPendingTimeout(SlurmError):
    """The job did not start within the pending timeout (it was cancelled)."""


# --------------------------------------------------------------------------------------------- config
@dataclass(frozen=True, slots=True)
class SlurmConfig:
    """One SLURM allocation for a run.

    `node_amount`: nodes to allocate (one guard per node). `node_timeout`: seconds each node's guard
    lets its peers run (Gumby's NODE_TIMEOUT; None: the local guard's timeout); the allocation's time
    limit is that plus 120 s (None on both: no `--time`). `partition`, `account`: sbatch's; `extra_args`:
    more sbatch arguments, as words. `pending_timeout`: seconds the job may wait in the queue before
    it is cancelled. `poll_interval`: seconds between `squeue` polls while the job runs (each is a
    call to the controller; a quarter of it while pending, and the nodes' status files are looked at
    every quarter too, so the end is seen at once). `job_name`: the job's name. `node_dir`: a
    folder on each node's own disk (DAS: /local/$USER) where the peers and the guard write while
    they run; each node copies it into the output folder at its end (None: they write the output
    folder, which every node sees, directly).
    `commands`: the sbatch, squeue and scancel programs (names looked up on PATH, or paths).
    """

    node_amount: int = 1
    node_timeout: float | None = None
    partition: str | None = None
    account: str | None = None
    extra_args: tuple[str, ...] = ()
    pending_timeout: float = 60.0
    poll_interval: float = 1.0
    job_name: str = "gscen"
    node_dir: str | None = None
    sbatch: str = "sbatch"
    squeue: str = "squeue"
    scancel: str = "scancel"

    def __post_init__(self) -> None:
        if self.node_amount < 1:
            raise ValueError(f"node_amount must be at least 1, got {self.node_amount}")
        if self.node_timeout is not None and not self.node_timeout > 0:
            raise ValueError(f"node_timeout must be positive, got {self.node_timeout}")
        if not self.pending_timeout > 0:
            raise ValueError(f"pending_timeout must be positive, got {self.pending_timeout}")
        if not self.poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, got {self.poll_interval}")

    def time_limit_minutes(self, guard_timeout: float | None) -> int | None:
        """sbatch's `--time`, in whole minutes: the node timeout (else the guard's) + 120 s."""
        seconds = self.node_timeout if self.node_timeout is not None else guard_timeout
        if not seconds:
            return None
        return math.ceil((seconds + RESERVE_EXTRA) / 60)


# --------------------------------------------------------------------------------------------- scripts
def srun_argv(python: str, spec_path: Path, nodes: int) -> list[str]:
    """The one job step: one task per node, each gscen's guard for that node's peers."""
    return [
        "srun",
        f"--nodes={nodes}",
        f"--ntasks={nodes}",
        "--ntasks-per-node=1",
        # A node task that fails itself (not its peers: they are reported) ends the whole step.
        "--kill-on-bad-exit=1",
        python,
        "-m",
        "scenario_lang.runtime.launch.slurm_node",
        str(spec_path),
    ]


def batch_script(python: str, spec_path: Path, nodes: int, instances: int) -> str:
    """The batch script sbatch runs on the first node: the srun step, nothing else."""
    return (
        "#!/bin/sh\n"
        f"# gscen: {instances} peers on {nodes} nodes, one process guard per node\n"
        f"# (node-spec: {spec_path}; the sync token is in a file only its owner reads)\n"
        f"exec {shlex.join(srun_argv(python, spec_path, nodes))}\n"
    )


def sbatch_argv(
    config: SlurmConfig, script: Path, output_dir: Path, cwd: Path | None, guard_timeout: float | None
) -> list[str]:
    """sbatch's command line: one allocation of `node_amount` nodes, one task per node."""
    log = output_dir / SLURM_FOLDER / "job-%j.out"
    argv = [
        config.sbatch,
        "--parsable",
        f"--job-name={config.job_name}",
        f"--nodes={config.node_amount}",
        "--ntasks-per-node=1",
        f"--output={log}",
        "--export=ALL",
    ]
    if cwd is not None:
        argv.append(f"--chdir={cwd}")
    minutes = config.time_limit_minutes(guard_timeout)
    if minutes is not None:
        argv.append(f"--time={minutes}")
    if config.partition:
        argv.append(f"--partition={config.partition}")
    if config.account:
        argv.append(f"--account={config.account}")
    argv.extend(config.extra_args)
    argv.append(str(script))
    return argv


# --------------------------------------------------------------------------------------------- commands
async def _call(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Run a SLURM command; its stdout, or SlurmCommandError with what it said."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env) if env is not None else None,
        )
    except OSError as exc:
        raise SlurmCommandError(argv, None, exc.strerror or str(exc)) from None
    try:
        async with asyncio.timeout(_COMMAND_TIMEOUT):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise SlurmCommandError(argv, None, f"no answer within {_COMMAND_TIMEOUT:g} s") from None
    finally:
        if process.returncode is None:
            process.kill()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(process.wait())
    if process.returncode != 0:
        raise SlurmCommandError(argv, process.returncode, (err or out).decode("utf-8", "replace"))
    return out.decode("utf-8", "replace")


async def submit_job(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """sbatch --parsable ...: the job id."""
    out = await _call(argv, env)
    job_id = out.strip().split(";", 1)[0]
    if not job_id.isdigit():
        raise SlurmCommandError(argv, 0, f"unexpected answer {out.strip()!r} (expected a job id)")
    return job_id


@dataclass(frozen=True, slots=True)
class JobState:
    """A job as squeue shows it: `state` (PENDING, RUNNING, ..., or GONE once SLURM forgot it),
    `nodes` (the node list, empty while pending) and `reason` (why it is pending, if it is)."""

    state: str
    nodes: str = ""
    reason: str = ""

    @property
    def final(self) -> bool:
        return self.state == "GONE" or self.state in FINAL_STATES

    def describe(self, job_id: str) -> str:
        if self.state == "PENDING":
            why = f" ({self.reason})" if self.reason and self.reason != "None" else ""
            return f"slurm job {job_id}: pending{why}"
        if self.state == "RUNNING":
            return f"slurm job {job_id}: running on {self.nodes}"
        if self.state == "GONE":
            return f"slurm job {job_id}: finished (no longer queued)"
        return f"slurm job {job_id}: {self.state.lower()}"


async def job_state(job_id: str, squeue: str = "squeue") -> JobState:
    """The job's state now (GONE when squeue no longer knows it)."""
    argv = [squeue, "-h", "-j", job_id, "-o", "%T|%N|%r"]
    try:
        out = await _call(argv)
    except SlurmCommandError as exc:
        if "Invalid job id" in exc.output:
            return JobState("GONE")
        raise
    line = out.strip().splitlines()[0] if out.strip() else ""
    if not line:
        return JobState("GONE")
    state, _, rest = line.partition("|")
    nodes, _, reason = rest.partition("|")
    return JobState(state.strip(), nodes.strip(), reason.strip())


async def cancel_job(
    job_id: str, scancel: str = "scancel", squeue: str = "squeue", wait: float = 30.0
) -> None:
    """scancel the job, then wait (up to `wait` s) until squeue no longer lists it as active."""
    await _call([scancel, job_id])
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        state = await job_state(job_id, squeue)
        if state.final and state.state != "COMPLETING":
            return
        await asyncio.sleep(0.1)
    logger.warning("slurm job %s is still listed %g s after scancel", job_id, wait)


# --------------------------------------------------------------------------------------------- collect
def collect_output(
    spec: NodeSpec,
) -> tuple[list[ProcessReport], list[dict[str, Any]], WriteFailure | None]:
    """Give OUTPUT_DIR a local run's layout from the node folders (see the module docstring).

    Returns every process's report (global numbering, files where they were moved), each node's last
    status (missing nodes are absent), and a merged log's write failure (a full disk), if any: that
    log's node parts are then kept where they are. Idempotent: moved files are not looked for
    again.
    """
    output = Path(spec.output_dir)
    reports: list[ProcessReport] = []
    statuses: list[dict[str, Any]] = []
    logs: list[tuple[int, Path]] = []
    network_logs: list[tuple[int, Path]] = []
    for rank in range(spec.nodes):
        folder = spec.node_folder(rank)
        status = node_status(folder)
        if status is None:
            continue
        statuses.append(status)
        for report in node_reports(status, spec, rank, output):
            for suffix in ("out", "err") if report.restart_of is None else ():
                # The node's guard numbered them as the whole run does (GuardConfig.first_number).
                source = folder / f"{report.index:05d}.{suffix}"
                if source.exists():
                    source.replace(output / source.name)
            reports.append(report)
        if (folder / RESOURCE_LOG_NAME).is_file():
            logs.append((rank, folder / RESOURCE_LOG_NAME))
        if (folder / NETWORK_LOG_NAME).is_file():
            network_logs.append((rank, folder / NETWORK_LOG_NAME))
    failure = None
    for name, merge, parts in (
        (RESOURCE_LOG_NAME, merge_resource_logs, logs),
        (NETWORK_LOG_NAME, merge_network_logs, network_logs),
    ):
        if not parts:
            continue
        try:
            merge(parts, output / name)
        except OSError as exc:
            this = write_failure(output / name, exc)
            logger.warning("%s", this)
            failure = failure or this
        else:
            for _rank, path in parts:  # merged whole into the run's log: no second copy
                path.unlink()
    reports.sort(key=lambda r: r.index)
    return reports, statuses, failure


# --------------------------------------------------------------------------------------------- handle
class SlurmJob:
    """The peers of one run as one SLURM job (a `LaunchedPeers`); see the module docstring.

    Also an async context manager, as the local guard is::

        async with SlurmJob(config, PeerLaunch(guard), python, token) as job:   # submitted
            result = await job.wait_done()
        # leaving the block (normally, by an exception or by cancellation) cancels what still runs

    After `aclose()`, `start()` raises `GuardClosedError`.
    """

    def __init__(self, config: SlurmConfig, launch: PeerLaunch, python: str, token: str | None) -> None:
        guard = launch.config
        if guard.output_dir is None:
            raise SlurmError("peers on SLURM need an output folder for their files")
        if len(set(guard.commands)) > 1:
            raise SlurmError("peers on SLURM run one command on every node; the guard was given several")
        self.config = config
        self.guard = guard
        self.python = python
        self.token = token
        self.output_dir = Path(guard.output_dir)
        self.folder = self.output_dir / SLURM_FOLDER
        nodes = min(config.node_amount, len(guard.commands))
        self.spec = NodeSpec(
            instances=len(guard.commands),
            nodes=nodes,
            command=guard.commands[0],
            output_dir=str(self.output_dir),
            cwd=str(guard.cwd) if guard.cwd is not None else None,
            timeout=config.node_timeout if config.node_timeout is not None else guard.timeout,
            interval=guard.interval,
            grace=guard.grace,
            network=guard.network,
            token_file=str(self.folder / TOKEN_NAME) if token is not None else None,
            node_dir=config.node_dir,
            peer_python=guard.peer_python,
            faults=launch.faults,
        )
        self.job_id: str | None = None
        self.state = JobState("UNSUBMITTED")
        self._poller: asyncio.Task[None] | None = None
        self._finished = asyncio.Event()
        self._failure: SlurmError | None = None
        self._result: GuardResult | None = None
        self._cancelled = False
        self._started_at = time.time()
        # rank -> (status mtime, its reports, how many fault records it lists)
        self._report_cache: dict[int, tuple[int, tuple[ProcessReport, ...], int]] = {}
        self._pausing = any(f.action == "pause" for f in launch.faults)
        self._released = False
        self._done_nodes: set[int] = set()
        self._fault_records: list[FaultRecord] = []
        self._faults_not_begun: str | None = None  # why the nodes did not get the start instant

    # -- what it would run (also for --dry-run)
    @property
    def script_path(self) -> Path:
        return self.folder / SCRIPT_NAME

    def script(self) -> str:
        return batch_script(self.python, self.folder / SPEC_NAME, self.spec.nodes, self.spec.instances)

    def sbatch_argv(self) -> list[str]:
        config = dataclasses.replace(self.config, node_amount=self.spec.nodes)
        return sbatch_argv(config, self.script_path, self.output_dir, self.guard.cwd, self.guard.timeout)

    async def __aenter__(self) -> SlurmJob:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- LaunchedPeers
    async def start(self) -> None:
        if self._result is not None:
            raise GuardClosedError("the slurm job handle is closed")
        if self.job_id is not None or self._cancelled:
            raise GuardClosedError("the slurm job was already started")
        if shutil.which(self.config.sbatch) is None and not os.path.isfile(self.config.sbatch):
            raise SlurmCommandError(
                [self.config.sbatch], None, "not found on PATH (is SLURM installed here?)"
            )
        await asyncio.to_thread(self._write_files)
        env = {k: v for k, v in (self.guard.env or os.environ).items() if k != "GSCEN_SYNC_TOKEN"}
        self._started_at = time.time()
        self.job_id = await submit_job(self.sbatch_argv(), env)
        self.state = JobState("PENDING")
        logger.info("submitted slurm job %s (%d nodes)", self.job_id, self.spec.nodes)
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name=f"slurm-job-{self.job_id}")

    def _write_files(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for rank in range(self.spec.nodes):
            folder = self.spec.node_folder(rank)
            folder.mkdir(parents=True, exist_ok=True)
            # A status left by an earlier run into this folder (--force) would read as this run's.
            (folder / STATUS_NAME).unlink(missing_ok=True)
        self.spec.start_path.unlink(missing_ok=True)  # as would its start instant
        self.spec.release_path.unlink(missing_ok=True)  # and its release of paused peers
        if self.token is not None:
            path = self.folder / TOKEN_NAME
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.token)
            os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
        write_atomically(self.folder / SPEC_NAME, self.spec.to_json())
        write_atomically(self.script_path, self.script())
        os.chmod(self.script_path, 0o755)

    # -- RemoteFaults: the nodes' guards carry out the scenario's process faults
    async def begin_faults(self, start_instant: float) -> None:
        """Tell the nodes the run's start instant (they then act at it + each fault's time)."""
        try:
            await asyncio.to_thread(
                write_atomically, self.spec.start_path, json.dumps({"start": start_instant})
            )
        except OSError as exc:  # the run goes on; its faults are listed as not carried out
            self._faults_not_begun = f"not carried out: cannot write {self.spec.start_path}: {exc}"
            logger.warning("%s", self._faults_not_begun)

    async def release_paused(self, reports: Sequence[ProcessReport]) -> bool:
        """As a local run does, let paused peers go on once every process of the run still running
        is paused: then write `release.json`, which every node looks for once its own faults are
        done. Decided from the nodes' statuses, each of which lists its processes and the faults it
        carried out in one file: once a node's scenario faults are all done, none of its paused
        processes is resumed by the scenario any more, so a status that shows every running process
        paused stays true until the release, however old it is. True once released."""
        if len(self._report_cache) < self.spec.nodes:
            return False
        # a node whose guard has ended carries out nothing more (its faults not yet due never are)
        ongoing = [rank for rank in range(self.spec.nodes) if rank not in self._done_nodes]
        if any(self._report_cache[rank][2] < self.spec.faults_on(rank) for rank in ongoing):
            return False
        running = [r for r in reports if r.returncode is None]
        if not running or any(r.fault != "pause" for r in running):
            return False
        try:
            await asyncio.to_thread(
                write_atomically, self.spec.release_path, json.dumps({"time": time.time()})
            )
        except OSError as exc:  # the nodes' guards stop them at their timeout
            logger.warning(
                "cannot let the paused peers go on: cannot write %s: %s", self.spec.release_path, exc
            )
        self._released = True
        return True

    def fault_records(self) -> list[FaultRecord]:
        """What the nodes' guards did, in time order (read when the job is collected)."""
        if self._faults_not_begun is not None:
            return [
                FaultRecord(peer, f.action, f.time, None, f.source, self._faults_not_begun)
                for f in self.spec.faults
                for peer in f.peers
            ]
        return list(self._fault_records)

    async def _poll(self) -> None:
        assert self.job_id is not None
        submitted = time.monotonic()
        try:
            while True:
                state = await job_state(self.job_id, self.config.squeue)
                if state != self.state:
                    logger.info("%s", state.describe(self.job_id))
                self.state = state
                if state.final:
                    break
                if state.state == "RUNNING":
                    # squeue every poll_interval; in between, the nodes' own word that they are done.
                    await self._wait_nodes_done(self.config.poll_interval)
                    continue
                waited = time.monotonic() - submitted
                if state.state == "PENDING" and waited > self.config.pending_timeout:
                    why = f" ({state.reason})" if state.reason else ""
                    self._failure = SlurmPendingTimeout(
                        f"slurm job {self.job_id} did not start within {self.config.pending_timeout:g} s"
                        f"{why}; it was cancelled"
                    )
                    await self._cancel()
                    break
                await asyncio.sleep(self.config.poll_interval / 4)
        except SlurmError as exc:
            self._failure = exc
        finally:
            self._finished.set()

    async def _wait_nodes_done(self, limit: float) -> None:
        """Up to `limit` seconds: return early once every node's status says done (the job is
        ending; squeue is then asked at once, and every 0.1 s until it agrees)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            reports = self.reports()
            if self._pausing and not self._released:
                await self.release_paused(reports)
            if len(self._done_nodes) == self.spec.nodes:
                await asyncio.sleep(0.1)
                return
            await asyncio.sleep(limit / 4)

    async def _cancel(self) -> None:
        if self.job_id is None or self._cancelled:
            return
        self._cancelled = True
        await cancel_job(self.job_id, self.config.scancel, self.config.squeue)
        self.state = await job_state(self.job_id, self.config.squeue)

    async def wait_done(self) -> GuardResult:
        if self.job_id is None:
            raise GuardError("the slurm job was not started")
        await self._finished.wait()
        if self._failure is not None:
            raise self._failure
        result = await self._collect()
        if result.error is not None:
            raise SlurmError(result.error)
        return result

    async def aclose(self) -> GuardResult:
        """Cancel the job unless it is over (waiting until squeue drops it), then collect. Idempotent;
        runs to the end even if the caller is cancelled meanwhile (then re-raises the cancellation)."""
        return await wait_to_the_end(asyncio.ensure_future(self._close()))

    async def _close(self) -> GuardResult:
        if self._result is not None:
            return self._result
        if self._poller is not None and not self._poller.done():
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.job_id is not None and not self.state.final:
            try:
                await self._cancel()
            except SlurmError as exc:
                logger.error("cannot cancel slurm job %s: %s", self.job_id, exc)
        return await self._collect()

    async def _collect(self) -> GuardResult:
        if self._result is not None:
            return self._result
        reports, statuses, log_failure = await asyncio.to_thread(collect_output, self.spec)
        records = [fault_from_json(f) for s in statuses for f in s.get("faults", ())]
        self._fault_records = sorted(records, key=lambda r: (r.planned, r.peer, r.action))
        reason = StopReason.STOPPED if self._cancelled else StopReason.ALL_EXITED
        error = None
        if any(s.get("reason") == StopReason.TIMEOUT.value for s in statuses):
            reason = StopReason.TIMEOUT
        done = [s for s in statuses if s.get("done")]
        if self.job_id is not None and not self._cancelled and len(done) < self.spec.nodes:
            reason = StopReason.ERROR
            log = self.folder / f"job-{self.job_id}.out"
            error = (
                f"slurm job {self.job_id} ended ({self.state.state.lower()}) with "
                f"{self.spec.nodes - len(done)} of {self.spec.nodes} nodes not done: see {log}"
            )
        self._result = GuardResult(
            processes=tuple(reports),
            reason=reason,
            started_at=min((r.started_at for r in reports), default=self._started_at),
            ended_at=time.time(),
            samples=max((int(s.get("samples", 0)) for s in statuses), default=0),
            late_ticks=sum(int(s.get("late_ticks", 0)) for s in statuses),
            error=error,
            log_failure=log_failure,
        )
        return self._result

    def set_deadline(self, at: float | None) -> None:
        """Not moved: each node's guard got its timeout (and the job its time limit) at submission,
        counted from the node's start; gscen run only moves local guards' deadlines."""
        del at

    def reports(self) -> tuple[ProcessReport, ...]:
        """Every node's last status; a node's file is read again only when it changed (on a shared
        file system each read is a round trip, and the pipeline asks several times a second)."""
        found: list[ProcessReport] = []
        for rank in range(self.spec.nodes):
            folder = self.spec.node_folder(rank)
            try:
                stamp = (folder / STATUS_NAME).stat().st_mtime_ns
            except OSError:
                continue
            cached = self._report_cache.get(rank)
            if cached is None or cached[0] != stamp:
                status = node_status(folder)
                if status is None:
                    continue
                faults = status.get("faults")
                cached = (
                    stamp,
                    tuple(node_reports(status, self.spec, rank)),
                    len(faults) if isinstance(faults, list) else 0,
                )
                self._report_cache[rank] = cached
                if status.get("done"):
                    self._done_nodes.add(rank)
            found.extend(cached[1])
        return tuple(found)

    @property
    def running(self) -> int:
        return sum(1 for r in self.reports() if r.returncode is None)

    @property
    def placement(self) -> str:
        """The job's state for the progress line: pending (why), or running on which nodes."""
        if self.job_id is None:
            return "slurm job not submitted yet"
        return self.state.describe(self.job_id)


class SlurmLauncher:
    """Peers on a SLURM cluster (see the module docstring): one job per `open`."""

    name = "slurm"

    def __init__(self, config: SlurmConfig, python: str, token: str | None) -> None:
        self.config = config
        self.python = python
        self.token = token

    def open(self, launch: PeerLaunch) -> LaunchedPeers:
        return SlurmJob(self.config, launch, self.python, self.token)

    def describe(self, guard: GuardConfig) -> list[str]:
        """What `--dry-run` shows: the sbatch command and the batch script (nothing is contacted)."""
        job = SlurmJob(self.config, PeerLaunch(guard), self.python, self.token)
        limit = f"node timeout {job.spec.timeout:g} s" if job.spec.timeout else "no node timeout"
        lines = [
            f"slurm: {job.spec.instances} peers on {job.spec.nodes} nodes, shares {shares(job.spec)}, {limit}"
        ]
        lines.append(f"  sbatch: {shlex.join(job.sbatch_argv())}")
        lines.append(f"  batch script ({job.script_path}):")
        lines.extend(f"    {line}" for line in job.script().splitlines())
        return lines


def shares(spec: NodeSpec) -> str:
    """`8 + 8` (ids 1-8, 9-16)."""
    counts = [node_share(spec.instances, spec.nodes, r) for r in range(spec.nodes)]
    ranges = []
    for rank, count in enumerate(counts):
        first = first_id(spec.instances, spec.nodes, rank)
        ranges.append(f"{first}-{first + count - 1}" if count > 1 else f"{first}")
    return " + ".join(map(str, counts)) + f" (ids {', '.join(ranges)})"
