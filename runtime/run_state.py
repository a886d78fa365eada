"""What a run learns while it executes, and how a step fails: shared by execute.py and results.py.

`RunState` is filled by the pipeline (steps done, the guard's result, the start instant, which
guarded process is which peer, outputs that could not be written) and read by the results stage.
`StepFailure` is the exception a failing step raises: which step, its exit status, the log to read.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .guard import GuardResult
from .observer import EventCounter
from .output_files import WriteFailure, write_failure
from .prepare import LOG_FOLDER
from .summary import FaultRecord, StepSummary

if TYPE_CHECKING:
    from .prepare import PreparedRun

__all__ = ["RunState", "StepFailure"]

logger = logging.getLogger(__name__)


class StepFailure(Exception):
    """A step failed: which one, how (exit status), where its log is."""

    def __init__(
        self, step: str, message: str, exit_code: int | None = None, log: Path | None = None
    ) -> None:
        self.step = step
        self.exit_code = exit_code
        self.log = log
        text = f"{step}: {message}"
        if log is not None:
            text += f" (see {log})"
        super().__init__(text)


@dataclass
class RunState:
    """What the pipeline learns while running (read by the results stage)."""

    started_at: float
    events: EventCounter  # the calls the peers logged so far, for progress snapshots
    steps: list[StepSummary] = field(default_factory=list)
    guard_result: GuardResult | None = None
    guard_runs_peers: bool = False
    start_instant: float | None = None
    # guarded process's run-wide number (ProcessReport.index) -> peer id; not keyed by pid, which two
    # SLURM nodes may share
    peer_of_process: dict[int, int] = field(default_factory=dict)
    plots_done: bool = False
    plots: list[Path] = field(default_factory=list)
    failure: StepFailure | None = None
    server_process: asyncio.subprocess.Process | None = None  # another experiment_server_cmd
    write_failures: list[WriteFailure] = field(default_factory=list)  # outputs that could not be written
    interrupt_signal: int | None = None  # the signal that interrupted the run (exit code 128 + it)
    faults: list[FaultRecord] = field(default_factory=list)  # the scenario's process faults, carried out

    def cannot_write(self, path: Path, exc: OSError) -> WriteFailure:
        """Note an output file that could not be written: one warning line (once per file), and the
        run fails."""
        failure = write_failure(path, exc)
        if any(f.path == failure.path for f in self.write_failures):
            return failure
        logger.warning("%s", failure)
        self.write_failures.append(failure)
        return failure

    def check_server(self, run: PreparedRun) -> None:
        """A background server that exited with an error fails the run (as in Gumby)."""
        process = self.server_process
        if process is not None and process.returncode is not None and process.returncode > 0:
            log = run.output_dir / LOG_FOLDER / "experiment_server_cmd.err"
            raise StepFailure(
                "experiment_server_cmd",
                f"the server exited with status {process.returncode}",
                process.returncode,
                log,
            )
