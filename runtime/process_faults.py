"""The scenario's process faults -> the process guard's actions at their instants, and their record.

Takes the plan's `crash`, `pause`, `resume` and `restart` events (`process_faults(plan)`), the run's
start instant, which guarded process is which peer (`RunState.peer_of_process`, learned from the
peers' folders), and the launched peers' handle; `drive_faults` sleeps until each fault's instant
and asks the guard (`Guard.fault`) to act on every peer the event names: SIGKILL, SIGSTOP, SIGCONT,
or a fresh process started with `GSCEN_REJOIN_ID=<id>` (it rejoins the sync server under its id,
runs its `@!` events, then the events planned after its restart instant). Every action is recorded
as a `FaultRecord` (planned and actual seconds after the start, the peer, what was done), which the
summary lists: a fault the scenario asked for is not a failure of the run.

A peer paused and never resumed would hold the run until the guard's timeout: once every process still
running is paused, they are resumed (recorded, with the reason), so they stop as planned. On SLURM a
node sees only its own processes: the submitting side, which reads every node's status, says when
(`released`, a look for its file), and each node then resumes its paused ones.

A launcher whose guards run elsewhere (SLURM) is not driven from here: each node runs `drive_faults`
on its own guard and peers (launch/slurm_node.py). A handle with neither (no `fault` method) cannot
carry them out: each is recorded as `not carried out` with the reason, once per event. A peer whose
process is not known (it exited, or never got its id) is recorded the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from scenario_lang.plan import Plan
from scenario_lang.signatures import PROCESS_BUILTINS

from .peer import REJOIN_VARIABLE
from .summary import FaultRecord

log = logging.getLogger(__name__)

_PAUSE_POLL = 0.25  # seconds between looks for a run held only by paused peers


@dataclass(frozen=True, slots=True)
class PlannedFault:
    """One process-fault event of the plan: when, what, on which peers, from which line."""

    time: float
    action: str
    peers: tuple[int, ...]
    source: str


def process_faults(plan: Plan) -> list[PlannedFault]:
    """The plan's process faults in time order (timed events only: the checker refuses `@!` ones)."""
    out = []
    for event in plan.events:
        if event.callback in PROCESS_BUILTINS and event.time is not None:
            peers = tuple(event.peers.peers(plan.instances))
            out.append(PlannedFault(event.time, event.callback, peers, f"{event.path}:{event.line}"))
    return out


def fault_windows(records: Sequence[FaultRecord], end: float) -> dict[int, list[tuple[str, float, float]]]:
    """Per peer, the spans a fault held: (`crashed` or `paused`, from, to) in seconds after the start;
    a crash lasts until the peer's restart, a pause until its resume, else until `end`."""
    out: dict[int, list[tuple[str, float, float]]] = {}
    open_since: dict[tuple[int, str], float] = {}
    for r in sorted((r for r in records if r.actual is not None), key=lambda r: r.actual or 0.0):
        at = r.actual
        assert at is not None
        if r.action in ("crash", "pause"):
            kind = "crashed" if r.action == "crash" else "paused"
            open_since.setdefault((r.peer, kind), at)
        elif r.action in ("restart", "resume"):
            kinds = ("crashed", "paused") if r.action == "restart" else ("paused",)
            for kind in kinds:
                since = open_since.pop((r.peer, kind), None)
                if since is not None:
                    out.setdefault(r.peer, []).append((kind, since, at))
    for (peer, kind), since in open_since.items():
        out.setdefault(peer, []).append((kind, since, max(since, end)))
    return out


async def drive_faults(
    faults: Sequence[PlannedFault],
    start_instant: float,
    guard: Any,
    peer_of_process: MutableMapping[int, int],
    refresh: Callable[[], None],
    records: list[FaultRecord],
    released: Callable[[], bool] | None = None,
) -> None:
    """Carry out `faults` at `start_instant` + their time (wall clock), appending to `records`.

    `guard` is the launched peers' handle (`Guard.fault`, `Guard.reports`); `refresh` updates
    `peer_of_process` (a blocking probe of the peers' folders, run in a thread). Cancelled at the end
    of the run like any task; faults not yet due are then not carried out (and not recorded).
    `released`: when given (a SLURM node), whether every process of the whole run still running is
    paused, so that this guard's paused ones may go on; None: this guard's processes are the run's.
    """
    act = getattr(guard, "fault", None)
    for fault in faults:
        delay = start_instant + fault.time - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        at = time.time() - start_instant

        def record(peer: int, outcome: str, when: float | None, fault: PlannedFault = fault) -> None:
            records.append(FaultRecord(peer, fault.action, fault.time, when, fault.source, outcome))

        if act is None:
            for peer in fault.peers:
                record(peer, "not carried out: this launcher cannot act on peer processes", None)
            continue
        await asyncio.to_thread(refresh)
        index_of = _latest_command_of_peer(guard.reports(), peer_of_process)
        for peer in fault.peers:
            index = index_of.get(peer)
            if index is None:
                record(peer, "not carried out: no running process of this peer is known", None)
                continue
            env = {REJOIN_VARIABLE: str(peer)} if fault.action == "restart" else None
            try:
                now_index = act(index, fault.action, env)
            except Exception as exc:  # a guard error: recorded, the run goes on
                log.warning("%s on peer %d failed: %s", fault.action, peer, exc)
                record(peer, f"failed: {exc}", round(at, 6))
                continue
            if now_index != index:  # a restart: the new process stands for the peer from now on
                peer_of_process[now_index] = peer
            log.info(
                "%s: peer %d at %.3f s (planned %.3f s, %s)", fault.action, peer, at, fault.time, fault.source
            )
            record(peer, "done", round(at, 6))
    if act is not None:
        await _let_paused_peers_finish(start_instant, guard, peer_of_process, records, released)


async def _let_paused_peers_finish(
    start_instant: float,
    guard: Any,
    peer_of_process: Mapping[int, int],
    records: list[FaultRecord],
    released: Callable[[], bool] | None,
) -> None:
    """A peer paused until the end would hold the run until the guard's timeout: once every process
    still running is paused (the others are done), let them go on, so they stop as planned."""
    while True:
        await asyncio.sleep(_PAUSE_POLL)
        running = [r for r in guard.reports() if r.returncode is None]
        if released is not None:
            if not await asyncio.to_thread(released):
                continue
            running = [r for r in running if r.fault == "pause"]  # the run's word: these may go on
        elif not running or not all(r.fault == "pause" for r in running):
            continue
        at = round(time.time() - start_instant, 6)
        for report in running:
            guard.fault(report.index, "resume")
            peer = peer_of_process.get(report.index, -1)
            log.info("peer %d is the last one running and paused: resumed so it can stop", peer)
            records.append(FaultRecord(peer, "resume", at, at, "", "done: the others had ended"))
        return


def _latest_command_of_peer(reports: Sequence[Any], peer_of_process: Mapping[int, int]) -> dict[int, int]:
    """Peer -> the index of its most recent guarded command (a restart adds a newer one)."""
    out: dict[int, int] = {}
    for report in reports:
        peer = peer_of_process.get(report.index)
        if peer is not None and (peer not in out or report.index > out[peer]):
            out[peer] = report.index
    return out
