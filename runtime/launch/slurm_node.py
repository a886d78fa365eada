"""One node's task in a SLURM run: `python -m scenario_lang.runtime.launch.slurm_node NODE_SPEC`.

srun starts this once per node (slurm.py's batch script). It reads the `NodeSpec`, takes its rank
from SLURM_NODEID, and runs gscen's process guard on this node's share of the peers
(`slurm_files.node_share`), peer k asking the sync server for id `first_id + k` (GSCEN_PEER_ID) and
publishing its own address (GSCEN_PUBLISH_HOST). The run's token comes from the spec's token file
(readable by its owner only) into the peers' environment, never onto a command line. The guard
writes into `OUTPUT_DIR/.gscen/nodes/<rank>/`; this task writes `status.json` there about once a
second (the processes' reports, each with the peer id it runs as) and a last time with
`"done": true` when the guard has stopped.

With a node-local folder (`NodeSpec.node_dir`, DAS: /local/$USER), the peers (their OUTPUT_DIR) and
the guard work in `<node_dir>/gscen-<job>-<rank>/` instead; when the guard has stopped, its peer
folders are copied into OUTPUT_DIR and its own files into the node folder above (what Gumby's rsync
did), the local folder is removed, and only then is the status marked done.

Process faults: the spec's faults that name this node's peers are carried out by this node's guard
(`process_faults.drive_faults`, as the local run does; guarded command k is peer first_id + k, and
a restart's new command stands for its peer from then on). The faults are due at the run's start
instant + their times; the node reads that instant from `.gscen/slurm/start.json`, which the
submitting side writes when the sync server has sent the start signal (looked for every 0.1 s until
then). What was done goes into `status.json` (`faults`), each time it is written. A peer paused and
never resumed is resumed, as in a local run, once every process of the whole run still running is
paused: the submitting side, which reads every node's status, then writes `.gscen/slurm/release.json`,
which this node looks for (every 0.25 s) once its own faults are done.

SIGTERM or SIGINT (scancel, srun interrupted) stop the guard: its processes get TERM, then KILL after
the grace period, and are reaped before the last status is written. Exit status: 0 when the guard ran
(failed peers are in the status, for the submitting side to report), 1 when this task could not run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from scenario_lang.files import write_atomically

from ..guard import Guard, GuardConfig, GuardError, GuardResult, ProcessReport
from ..process_faults import PlannedFault, drive_faults
from ..summary import FaultRecord
from .slurm_files import (
    STATUS_NAME,
    NodeSpec,
    fault_to_json,
    first_id,
    node_peer_ids,
    node_share,
    report_to_json,
)

_STATUS_PERIOD = 1.0
_START_POLL = 0.1  # seconds between looks for the start instant's file


def _write_status(
    folder: Path,
    rank: int,
    first: int,
    reports: tuple[ProcessReport, ...],
    result: GuardResult | None,
    error: str | None,
    faults: Sequence[FaultRecord] = (),
) -> None:
    peers = node_peer_ids(reports, first)
    status: dict[str, object] = {
        "rank": rank,
        "host": socket.gethostname(),
        "node": os.environ.get("SLURMD_NODENAME", ""),
        "pid": os.getpid(),
        "time": time.time(),
        "done": result is not None or error is not None,
        # each with the peer it runs as: the submitting side matches processes to peers by it
        "processes": [dict(report_to_json(r), peer=peers[r.index]) for r in reports],
        "faults": [fault_to_json(r) for r in faults],
    }
    if result is not None:
        status.update(
            reason=result.reason.value,
            samples=result.samples,
            late_ticks=result.late_ticks,
            error=result.error,
        )
    if error is not None:
        status.update(reason="error", error=error)
    with contextlib.suppress(OSError):  # a full disk: the submitting side reports the node as not done
        write_atomically(folder / STATUS_NAME, json.dumps(status), durable=result is not None)


def node_guard_config(
    spec: NodeSpec, rank: int, environ: dict[str, str], local: Path | None = None
) -> GuardConfig:
    """The guard this node runs: its share of the peers, each with its id and the run's token; in
    `local` (a node-local folder) when given."""
    count = node_share(spec.instances, spec.nodes, rank)
    first = first_id(spec.instances, spec.nodes, rank)
    env = dict(environ)
    if spec.token_file is not None:
        env["GSCEN_SYNC_TOKEN"] = Path(spec.token_file).read_text(encoding="ascii").strip()
    env["GSCEN_PUBLISH_HOST"] = "1"
    folder = spec.node_folder(rank)
    if local is not None:
        folder = local
        env["OUTPUT_DIR"] = str(local)
    return GuardConfig(
        # One command for all, each with its id in its environment: gscen's peers then fork from
        # the node guard's fork server, as they do locally.
        commands=(spec.command,) * count,
        command_env=tuple({"GSCEN_PEER_ID": str(first + k)} for k in range(count)),
        peer_python=spec.peer_python,
        timeout=spec.timeout,
        interval=spec.interval,
        grace=spec.grace,
        output_dir=folder,
        resource_dir=folder,
        network=spec.network,
        cwd=Path(spec.cwd) if spec.cwd is not None else None,
        env=env,
        first_number=first - 1,
    )


def node_faults(spec: NodeSpec, rank: int) -> list[PlannedFault]:
    """The spec's faults that name peers of node `rank`, narrowed to those peers."""
    first = first_id(spec.instances, spec.nodes, rank)
    mine = range(first, first + node_share(spec.instances, spec.nodes, rank))
    out = []
    for fault in spec.faults:
        peers = tuple(p for p in fault.peers if p in mine)
        if peers:
            out.append(PlannedFault(fault.time, fault.action, peers, fault.source))
    return out


async def wait_start_instant(path: Path) -> float:
    """The run's start instant, once the submitting side has written it (polled: the file is on
    the shared file system, which has no change notification across hosts)."""
    while True:
        try:
            return float(json.loads(path.read_text(encoding="utf-8"))["start"])
        except (OSError, ValueError, KeyError, TypeError):
            await asyncio.sleep(_START_POLL)


async def carry_out_faults(
    spec: NodeSpec, rank: int, guard: Guard, faults: Sequence[PlannedFault], records: list[FaultRecord]
) -> None:
    """This node's faults at the start instant + their times, recorded in `records`."""
    first = first_id(spec.instances, spec.nodes, rank)
    # Command k is peer first + k (its GSCEN_PEER_ID); a restart's new command is added by drive_faults.
    peer_of_process = node_peer_ids(guard.reports(), first)
    start = await wait_start_instant(spec.start_path)
    # Paused peers go on when the submitting side says every process of the run still running is
    # paused (it reads every node's status; this node sees only its own processes).
    released = spec.release_path.exists
    await drive_faults(faults, start, guard, peer_of_process, lambda: None, records, released)


def copy_back(local: Path, spec: NodeSpec, rank: int) -> None:
    """A node-local folder's results to where a shared-folder run would have written them."""
    output, folder = Path(spec.output_dir), spec.node_folder(rank)
    for entry in local.iterdir():
        if entry.is_dir():
            shutil.copytree(entry, output / entry.name, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, folder / entry.name)
    shutil.rmtree(local)


async def run_node(spec: NodeSpec, rank: int) -> int:
    """Run this node's guard to its end (or to a signal); write the status; the exit status."""
    folder = spec.node_folder(rank)
    folder.mkdir(parents=True, exist_ok=True)
    first = first_id(spec.instances, spec.nodes, rank)
    local = None
    if spec.node_dir is not None:
        local = Path(spec.node_dir) / f"gscen-{os.environ.get('SLURM_JOB_ID', os.getpid())}-{rank}"
    try:
        if local is not None:
            local.mkdir(parents=True, exist_ok=True)
        config = node_guard_config(spec, rank, dict(os.environ), local)
    except OSError as exc:
        _write_status(folder, rank, first, (), None, f"cannot prepare this node: {exc}")
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    guard = Guard(config)
    try:
        await guard.start()
    except GuardError as exc:
        result = await guard.aclose()
        _write_status(folder, rank, first, result.processes, None, str(exc))
        return 1
    done = asyncio.ensure_future(guard.wait_done())
    stopper = asyncio.ensure_future(stop.wait())
    records: list[FaultRecord] = []
    faults = node_faults(spec, rank)
    driver = asyncio.ensure_future(carry_out_faults(spec, rank, guard, faults, records)) if faults else None
    try:
        while not done.done() and not stopper.done():
            await asyncio.wait({done, stopper}, timeout=_STATUS_PERIOD, return_when=asyncio.FIRST_COMPLETED)
            if driver is not None and driver.done() and not driver.cancelled() and driver.exception():
                # a fault the guard could not act on is recorded by drive_faults; this is a bug
                print(f"gscen slurm node: process faults stopped: {driver.exception()}", file=sys.stderr)
                driver = None
            _write_status(folder, rank, first, guard.reports(), None, None, records)
    finally:
        stopper.cancel()
        if driver is not None and not driver.done():
            driver.cancel()  # faults not yet due are not carried out (and not recorded), as locally
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await driver
        result = await guard.aclose()
        if local is not None:
            # not done until copied back
            _write_status(folder, rank, first, result.processes, None, None, records)
            try:
                await asyncio.to_thread(copy_back, local, spec, rank)
            except OSError as exc:
                _write_status(
                    folder, rank, first, result.processes, None, f"cannot copy {local} back: {exc}", records
                )
                return 1
        if done.done() and not done.cancelled() and done.exception() is not None:
            _write_status(folder, rank, first, result.processes, None, str(done.exception()), records)
        else:
            done.cancel()
            _write_status(folder, rank, first, result.processes, result, None, records)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m scenario_lang.runtime.launch.slurm_node NODE_SPEC", file=sys.stderr)
        return 2
    try:
        spec = NodeSpec.from_json(Path(argv[1]).read_text(encoding="utf-8"))
        rank = int(os.environ.get("SLURM_NODEID", os.environ.get("SLURM_PROCID", "")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"gscen slurm node: cannot read {argv[1]} or SLURM_NODEID: {exc}", file=sys.stderr)
        return 1
    nodes = int(os.environ.get("SLURM_NNODES", spec.nodes))
    if nodes != spec.nodes or not 0 <= rank < nodes:
        print(f"gscen slurm node: rank {rank} of {nodes} nodes; the job wants {spec.nodes}", file=sys.stderr)
        return 1
    return asyncio.run(run_node(spec, rank))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
