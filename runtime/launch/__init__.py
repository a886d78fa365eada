"""Where peers run: the `Launcher` protocol the pipeline starts peers through, and what it hands over.

`Launcher.open(PeerLaunch)` -> `LaunchedPeers`, a not-yet-started handle the pipeline starts, watches
and closes (`start`, `wait_done`, `aclose`, `reports`, `running`, and `set_deadline` to move the
timeout to an instant counted from the start signal). `launch.local.LocalLauncher` runs the
peers on this machine under gscen's process guard; other launchers (SLURM) implement the same protocol,
so the pipeline, the summary and the plots do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..guard import GuardConfig, GuardResult, ProcessReport

__all__ = ["LaunchedPeers", "Launcher", "PeerLaunch"]


@dataclass(frozen=True, slots=True)
class PeerLaunch:
    """What a launcher needs to start peers: the commands and where their outputs go."""

    config: GuardConfig


class LaunchedPeers(Protocol):
    """Started peer processes, as the pipeline watches them (`guard.Guard` is one)."""

    async def start(self) -> None: ...
    async def wait_done(self) -> GuardResult: ...
    async def aclose(self) -> GuardResult: ...
    def reports(self) -> tuple[ProcessReport, ...]: ...
    def set_deadline(self, at: float | None) -> None: ...
    @property
    def running(self) -> int: ...


class Launcher(Protocol):
    """Where peers run: `open` returns their not-yet-started handle.

    `LocalLauncher` runs them on this machine under the process guard. A SLURM launcher would submit
    the same commands (`PeerLaunch.config.commands`) as job steps and report them through the same
    handle, so the pipeline, the summary and the plots do not change.
    """

    name: str

    def open(self, launch: PeerLaunch) -> LaunchedPeers: ...
