"""Where peers run: the `Launcher` protocol the pipeline starts peers through, and what it hands over.

`Launcher.open(PeerLaunch)` -> `LaunchedPeers`, a not-yet-started handle the pipeline starts, watches
and closes (`start`, `wait_done`, `aclose`, `reports`, `running`, and `set_deadline` to move the
timeout to an instant counted from the start signal). `launch.local.LocalLauncher` runs the
peers on this machine under gscen's process guard; other launchers (SLURM) implement the same protocol,
so the pipeline, the summary and the plots do not change.

Process faults: the local guard carries them out itself (`Guard.fault`, driven by the pipeline). A
launcher whose guards run elsewhere (SLURM: one per node) gets the schedule in `PeerLaunch.faults`,
ships it to its guards, and implements `RemoteFaults`: the pipeline tells it the start instant, and
reads back what its guards did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..guard import GuardConfig, GuardResult, ProcessReport
from ..process_faults import PlannedFault
from ..summary import FaultRecord

__all__ = ["LaunchedPeers", "Launcher", "PeerLaunch", "RemoteFaults"]


@dataclass(frozen=True, slots=True)
class PeerLaunch:
    """What a launcher needs to start peers: the commands and where their outputs go, and the
    scenario's process faults (for a launcher whose guards run elsewhere, see `RemoteFaults`)."""

    config: GuardConfig
    faults: tuple[PlannedFault, ...] = ()


class LaunchedPeers(Protocol):
    """Started peer processes, as the pipeline watches them (`guard.Guard` is one)."""

    async def start(self) -> None: ...
    async def wait_done(self) -> GuardResult: ...
    async def aclose(self) -> GuardResult: ...
    def reports(self) -> tuple[ProcessReport, ...]: ...
    def set_deadline(self, at: float | None) -> None: ...
    @property
    def running(self) -> int: ...


@runtime_checkable
class RemoteFaults(Protocol):
    """Launched peers whose own guards carry out `PeerLaunch.faults` (the SLURM nodes' guards).

    `begin_faults(start_instant)`: the run's start signal went out at that wall-clock instant; the
    faults are due at that instant + their times. `fault_records()`: what the guards did, once the
    handle is closed (in the order they did it).
    """

    async def begin_faults(self, start_instant: float) -> None: ...
    def fault_records(self) -> Sequence[FaultRecord]: ...


class Launcher(Protocol):
    """Where peers run: `open` returns their not-yet-started handle.

    `LocalLauncher` runs them on this machine under the process guard. A SLURM launcher would submit
    the same commands (`PeerLaunch.config.commands`) as job steps and report them through the same
    handle, so the pipeline, the summary and the plots do not change.
    """

    name: str

    def open(self, launch: PeerLaunch) -> LaunchedPeers: ...
