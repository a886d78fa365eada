"""Progress of a running experiment: what the pipeline reports as it goes, and how it is measured.

`RunObserver` is what the pipeline calls (step started / finished, a note, a `RunSnapshot`); progress.py
renders it. `EventCounter` counts the scenario calls the peers logged so far, reading only what each
`events.csv` gained since the last look; `take_snapshot` puts one `RunSnapshot` together from the run,
the sync server, the launched peers and the counter. Reading is tolerant: a file that cannot be read
counts as empty.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .statistics import iter_peer_dirs

if TYPE_CHECKING:
    from .launch import LaunchedPeers
    from .prepare import PreparedRun
    from .steps import Step
    from .sync import SyncServer

__all__ = ["EventCounter", "NullObserver", "RunObserver", "RunSnapshot", "take_snapshot"]


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """The state of the run for progress displays.

    `connected`: peers that joined the sync server; `started`: the start instant passed (go sent);
    `clock`: seconds since the start instant (None before); `alive`: guarded processes still running;
    `events_fired` / `events_failed`: so far, over every peer; `planned`: events in the plan;
    `placement`: where the launcher has the peers, if it says (a SLURM job pending, or running on
    which nodes).
    """

    step: str
    instances: int | None
    connected: int = 0
    started: bool = False
    clock: float | None = None
    alive: int = 0
    processes: int = 0
    events_fired: int = 0
    events_failed: int = 0
    planned: int | None = None
    experiment_time: float | None = None
    placement: str | None = None


class RunObserver(Protocol):
    """What the pipeline reports as it goes (progress.py renders it)."""

    def step_started(self, step: Step) -> None: ...
    def step_finished(self, step: Step, status: str, detail: str | None) -> None: ...
    def update(self, snapshot: RunSnapshot) -> None: ...
    def note(self, text: str) -> None: ...


class NullObserver:
    """Reports nothing (a run without a display)."""

    def step_started(self, step: Step) -> None:
        pass

    def step_finished(self, step: Step, status: str, detail: str | None) -> None:
        pass

    def update(self, snapshot: RunSnapshot) -> None:
        pass

    def note(self, text: str) -> None:
        pass


@dataclass
class EventCounter:
    """Scenario calls done and failed so far, over every peer's events.csv (reading only what was
    appended since the last look; a row is one finished call)."""

    output_dir: Path
    _offsets: dict[Path, tuple[int, int, int]] = field(default_factory=dict)

    def count(self) -> tuple[int, int]:
        fired = failed = 0
        for peer in iter_peer_dirs(self.output_dir):
            path = peer.path / "events.csv"
            offset, n_fired, n_failed = self._offsets.get(path, (0, 0, 0))
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                chunk = b""
            complete = chunk.rfind(b"\n") + 1
            rows = chunk[:complete].decode("utf-8", "replace").splitlines()
            for row in csv.reader(rows):
                # planned,actual,lateness,duration,callback,target,source,status,error (header skipped)
                if len(row) < 8 or row[0] == "planned" or not row[6]:
                    continue
                n_fired += 1
                if row[7] == "failed":
                    n_failed += 1
            self._offsets[path] = (offset + complete, n_fired, n_failed)
            fired += n_fired
            failed += n_failed
        return fired, failed


def take_snapshot(
    run: PreparedRun,
    step: Step,
    start_instant: float | None,
    events: EventCounter,
    server: SyncServer | None,
    peers: LaunchedPeers | None,
) -> RunSnapshot:
    """The run as it stands: peers connected, clock since the start instant, processes alive, calls."""
    fired = failed = 0
    if step.runs_peers:
        fired, failed = events.count()
    clock = None if start_instant is None else time.time() - start_instant
    return RunSnapshot(
        step=step.key,
        instances=run.instances,
        connected=server.joined if server is not None else 0,
        started=start_instant is not None and (clock or 0.0) >= 0,
        clock=clock,
        alive=peers.running if peers is not None else 0,
        processes=len(step.guard.commands) if step.guard is not None else 1,
        events_fired=fired,
        events_failed=failed,
        planned=len(run.plan.events) if run.plan is not None else None,
        experiment_time=run.config.experiment_time,
        placement=getattr(peers, "placement", None),
    )
