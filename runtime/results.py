"""`gscen run`'s results stage: what a run left in its output folder -> `summary.json` (and the plots).

`write_results(run, state, status, message, observer)` merges the peers' annotations, draws the plots
(unless interrupted or turned off), reads every peer's folder and the guard's reports into a
`RunSummary` (summary.py) and writes it as `summary.json`. It is best effort: a plot that fails is a
note, and outputs that cannot be written fail the run with one message naming the cause (a full disk
is named once), never an exception.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scenario_lang.plan import Plan
from scenario_lang.signatures import PROCESS_BUILTINS

from .guard import ProcessReport
from .held_events import HeldSpans, held_spans_by_peer
from .ipv8_statistics import run_message_totals
from .observer import RunObserver
from .output_files import WriteFailure
from .plots import FaultBand, peer_events_of, plot_output_folder
from .prepare import SUMMARY_FILE_NAME, PreparedRun
from .process_faults import fault_windows
from .resource_log import log_pid
from .run_end import STOP_GRACE
from .run_state import RunState
from .statistics import iter_peer_dirs
from .summary import (
    FaultRecord,
    PeerEvent,
    PeerSummary,
    ProcessSummary,
    RunError,
    RunSummary,
    StepSummary,
    lateness_stats,
    merge_annotations,
    peer_errors,
    read_peer_events,
    read_peer_result,
    write_summary,
)

if TYPE_CHECKING:
    from scenario_lang.plan import PlannedEvent

__all__ = ["end_failure", "run_plots", "session_labels", "write_results"]

logger = logging.getLogger(__name__)

_MIB = 2**20
_UNFIRED_SHOWN = 10  # unfired events named per peer (summary.json and the errors); the rest are counted
_DISK_FULL = "the output folder's disk is full"


def run_plots(run: PreparedRun, state: RunState) -> list[Path]:
    """The run's plots (PNG), peers labelled by their ids; the annotations merged first."""
    try:
        merge_annotations(run.output_dir)
    except OSError as exc:
        state.cannot_write(run.output_dir / "annotations.csv", exc)
    labels = (
        session_labels(state.guard_result.processes, state.peer_of_process)
        if state.guard_result is not None
        else {}
    )
    return plot_output_folder(
        run.output_dir,
        labels,
        state.start_instant,
        peer_events_of(run.output_dir) if run.plan else None,
        fault_bands(run.plan, state.faults),
    )


def session_labels(reports: Sequence[ProcessReport], peer_of_process: Mapping[int, int]) -> dict[int, str]:
    """The resource log's session ids (a command's session is its shell's pid, written as
    `log_pid(node, pid)`: two SLURM nodes' pids never meet) -> `peer <id>`, or `#<index>` for a
    command that is no peer. A log pid two reports share (a pid reused within a run) gets no label
    rather than another process's."""
    keys = [log_pid(r.node, r.pid) for r in reports]
    shared = {key for key, n in Counter(keys).items() if n > 1}
    labels = {}
    for key, report in zip(keys, reports, strict=True):
        if key in shared:
            continue
        peer = peer_of_process.get(report.index)
        labels[key] = f"peer {peer}" if peer is not None else f"#{report.index:05d}"
    return labels


def fault_bands(plan: Plan | None, faults: Sequence[FaultRecord]) -> list[FaultBand]:
    """Where a partition (the plan's `partition` until `heal`), a crash or a pause held."""
    bands: list[FaultBand] = []
    if plan is not None:
        since: tuple[float, str] | None = None
        for event in plan.events:
            if event.time is None or event.callback not in ("partition", "heal"):
                continue
            if since is not None:
                bands.append(FaultBand("partition", since[0], event.time, since[1]))
                since = None
            if event.callback == "partition":
                since = (event.time, " | ".join(str(g) for g in event.args))
        if since is not None:
            bands.append(FaultBand("partition", since[0], math.inf, since[1]))
    for peer, spans in fault_windows(faults, math.inf).items():
        bands.extend(FaultBand(kind, a, b, f"peer {peer}") for kind, a, b in spans)
    return bands


def write_results(
    run: PreparedRun, state: RunState, status: str, message: str | None, obs: RunObserver
) -> RunSummary:
    """Merge annotations, plot, summarise; best effort (a failure here is logged, not raised)."""
    out = run.output_dir
    try:
        merge_annotations(out)
    except OSError as exc:
        state.cannot_write(out / "annotations.csv", exc)
    peers, processes, errors = _collect(run, state)
    if state.failure is not None:
        errors.insert(0, RunError(str(state.failure)))
    if status == "ok":
        hung = end_failure(peers)
        if hung is not None:
            status, message = "failed", hung
    if status == "ok" and run.config.fail_on_callback_error:
        failed_events = sum(p.events_failed for p in peers)
        if failed_events:
            status = "failed"
            message = f"{failed_events} callback{'s' if failed_events != 1 else ''} failed"
    if status != "interrupted" and run.options.plots and not state.plots_done:
        try:
            state.plots = run_plots(run, state)
        except OSError as exc:
            state.cannot_write(Path(exc.filename) if exc.filename else out, exc)
        except Exception as exc:  # a plot must not hide the run's results
            logger.warning("cannot draw the plots: %s", exc)
            obs.note(f"plots not written: {exc}")
    # Steps that never ran.
    ran = {s.name for s in state.steps}
    steps = list(state.steps)
    for step in run.steps:
        if step.key not in ran:
            steps.append(StepSummary(step.key, step.expanded, "not-run"))
    if state.write_failures and status != "interrupted":
        status, message = "failed", _write_failure_message(run, state, message, errors)
    elif status == "failed" and _disk_is_full(out):
        message = f"{_DISK_FULL}: no space is left on the file system of {out}"
    summary = RunSummary(
        experiment=run.config.experiment_name,
        conf=str(run.config.path),
        scenario=str(run.scenario) if run.scenario else None,
        output_dir=str(out),
        status=status,
        exit_code=_exit_code(status, state),
        message=message,
        started_at=state.started_at,
        ended_at=time.time(),
        start_instant=state.start_instant,
        instances=run.instances,
        steps=tuple(steps),
        peers=tuple(peers),
        processes=tuple(processes),
        errors=tuple(errors),
        plots=tuple(str(p.relative_to(out)) if p.is_relative_to(out) else str(p) for p in state.plots),
        ipv8_messages=tuple(run_message_totals(out)),
        runner_cpu_seconds=_own_cpu_seconds(),
        faults=tuple(state.faults),
        seed=run.seed,
    )
    try:
        write_summary(summary, out / SUMMARY_FILE_NAME)
    except OSError as exc:
        failure = state.cannot_write(out / SUMMARY_FILE_NAME, exc)
        if summary.status != "interrupted" and not (summary.message or "").startswith(_DISK_FULL):
            message = f"{_DISK_FULL}: {failure}" if failure.disk_full else str(failure)
            summary = replace(summary, status="failed", exit_code=1, message=message)
    return summary


def _write_failure_message(
    run: PreparedRun, state: RunState, message: str | None, errors: list[RunError]
) -> str:
    """The run's message when outputs could not be written: a full disk is the cause, named once
    (the step that failed because of it stays in `errors`); the other failed writes join `errors`."""
    failures = state.write_failures
    full = next((f for f in failures if f.disk_full), None)
    if full is not None:
        quoted: WriteFailure | None = full
        text = f"{_DISK_FULL}: {full}"
    elif _disk_is_full(run.output_dir):
        quoted, text = None, f"{_DISK_FULL}: no space is left on the file system of {run.output_dir}"
    elif message is None:
        quoted, text = failures[0], str(failures[0])
    else:
        quoted, text = None, message
    errors.extend(RunError(str(f)) for f in failures if f is not quoted)
    return text


def _exit_code(status: str, state: RunState) -> int:
    """What `gscen run` exits with: 0 ok, 1 failed, 128 + the signal after an interrupt (130, 143)."""
    if status == "interrupted":
        return 128 + (state.interrupt_signal or signal.SIGINT)
    return 0 if status == "ok" else 1


def _disk_is_full(folder: Path) -> bool:
    """No block is left for us on the folder's file system (root may use the reserved ones)."""
    try:
        fs = os.statvfs(folder)
    except OSError:
        return False
    return (fs.f_bfree if os.geteuid() == 0 else fs.f_bavail) == 0


def _own_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 3)


def _rel(path: Path | None, base: Path) -> str | None:
    if path is None:
        return None
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def end_failure(peers: Sequence[PeerSummary]) -> str | None:
    """The run's message when peers hung, died or overran their `stop` (run_end.py), else None."""
    unfired = [p for p in peers if p.events_unfired]
    late = [p for p in peers if p.ended_late and not p.events_unfired]
    parts = []
    if unfired:
        total = sum(p.events_unfired for p in unfired)
        who = _peer_list(unfired, lambda p: f"{p.events_unfired}")
        parts.append(f"{total} event{'s' if total != 1 else ''} planned before the end did not run: {who}")
    if late:
        who = _peer_list(late, None)
        parts.append(
            f"{who} did not exit within {STOP_GRACE:g} s of {'its' if len(late) == 1 else 'their'} `stop`"
        )
    return "; ".join(parts) or None


def _peer_list(peers: Sequence[PeerSummary], count: Callable[[PeerSummary], str] | None) -> str:
    shown = [f"peer {p.peer}" + (f" ({count(p)})" if count else "") for p in peers[:5]]
    more = f" and {len(peers) - 5} more" if len(peers) > 5 else ""
    return ", ".join(shown) + more


def _judge_end(
    run: PreparedRun,
    state: RunState,
    peer: int,
    result: Mapping[str, Any],
    events: Sequence[PeerEvent],
    report: ProcessReport | None,
) -> tuple[int | None, list[PlannedEvent], str | None]:
    """Did the peer run every event owed before its end, and exit in time after its `stop`?

    Returns (events owed, those that did not run, a message when it overran its `stop`). Judged only
    for gscen peers of a run that started; a peer that wrote result.json is taken at its count, one
    that did not (killed, crashed) at the rows of its events log.
    """
    ends = run.ends
    if ends is None or not state.guard_runs_peers or state.start_instant is None:
        return None, [], None
    owed = ends.owed_count(peer)
    fired = result.get("events_fired")
    missing: list[PlannedEvent] = []
    if not isinstance(fired, int) or fired < owed:
        # Events of a loop share line, time and callback: count them, do not just look them up. (An
        # event with several targets logs a row per target: counted more than once, which errs on
        # the side of not failing.)
        done = Counter((e.line, _key_time(e.planned), e.callback) for e in events if e.actual is not None)
        for event in ends.owed_events(peer):
            key = (event.line, _key_time(event.time), event.callback)
            if done[key] > 0:
                done[key] -= 1
            else:
                missing.append(event)
        if isinstance(fired, int):
            # A problems-only events log lists no ok rows: trust the peer's count over the rows, and
            # name the last owed events (a peer fires in plan order, so it missed the tail).
            short = max(0, owed - fired)
            missing = missing[len(missing) - short :] if short else []
    end = ends.ends.get(peer)
    late = None
    if not missing and end is not None and peer in ends.by_stop and report is not None:
        deadline = state.start_instant + end + STOP_GRACE
        # Stopped by the guard before its `stop` (a node timeout, a shorter `-t`) is not late.
        gone = report.ended_at
        if (gone is not None and gone > deadline) or (gone is None and report.stopped_by_guard):
            late = f"did not exit within {STOP_GRACE:g} s of its `stop` at {end:g} s (stopped by the guard)"
    return owed, missing, late


def _key_time(t: float | None) -> float | None:
    return None if t is None or t < 0 else round(t, 6)


def _describe(event: PlannedEvent) -> str:
    at = "@!" if event.time is None else f"@{event.time:g} s"
    return f"{Path(event.path).name}:{event.line} `{event.callback}` {at}"


def _unfired_message(
    run: PreparedRun,
    peer: int,
    owed: int | None,
    unfired: Sequence[PlannedEvent],
    report: ProcessReport | None,
) -> str:
    end = run.ends.ends.get(peer) if run.ends is not None else None
    before = f"before its end ({end:g} s)" if end is not None else "for it"
    if report is not None and report.stopped_by_guard:
        how = "it hung and was stopped by the guard"
    elif report is not None and report.returncode not in (0, None):
        how = f"it exited with status {report.returncode}"
    else:
        how = "it ended early"
    shown = ", ".join(_describe(e) for e in unfired[:_UNFIRED_SHOWN])
    more = f" and {len(unfired) - _UNFIRED_SHOWN} more" if len(unfired) > _UNFIRED_SHOWN else ""
    return f"{len(unfired)} of {owed} events planned {before} did not run ({how}): {shown}{more}"


def _collect(
    run: PreparedRun, state: RunState
) -> tuple[list[PeerSummary], list[ProcessSummary], list[RunError]]:
    out = run.output_dir
    reports = state.guard_result.processes if state.guard_result is not None else ()
    peer_dirs = {d.peer_id: d.path for d in iter_peer_dirs(out) if d.path.parent == out}
    results = {peer: read_peer_result(path) for peer, path in peer_dirs.items()}
    for process in reports:
        if process.peer is not None:  # the launcher knows it (a SLURM node's guard)
            state.peer_of_process[process.index] = process.peer
    # result.json may name the peer's pid: complete the mapping with it, for a process of this host
    # (no launcher's word on it) and only when no other such process has that pid.
    unknown: dict[int, list[ProcessReport]] = {}
    for process in reports:
        if process.peer is None and process.index not in state.peer_of_process:
            unknown.setdefault(process.pid, []).append(process)
    for peer, result in results.items():
        pid = result.get("pid")
        if isinstance(pid, int) and len(unknown.get(pid, ())) == 1:
            state.peer_of_process[unknown[pid][0].index] = peer
    # a peer's latest process (a restart's) stands for it
    report_of_peer = {
        state.peer_of_process[r.index]: r
        for r in sorted(reports, key=lambda r: r.index)
        if r.index in state.peer_of_process
    }
    peers: list[PeerSummary] = []
    errors: list[RunError] = []
    windows = fault_windows(state.faults, math.inf)
    held_by_peer = held_spans_by_peer(run.plan) if run.plan is not None else {}
    if state.guard_runs_peers or run.plan is not None:
        ids = sorted(set(peer_dirs) | set(report_of_peer) | set(range(1, (run.instances or 0) + 1)))
        for peer in ids:
            folder = peer_dirs.get(peer)
            events: list[PeerEvent] = (read_peer_events(folder) or []) if folder else []
            result = results.get(peer, {})
            report = report_of_peer.get(peer)
            # Events a scenario pause held ran late on purpose: out of the lateness, counted apart.
            spans = held_by_peer.get(peer, HeldSpans())
            late = [
                (e.actual - e.planned) * 1000.0
                for e in events
                if e.actual is not None and e.planned is not None and not (e.held or spans.holds(e.planned))
            ]
            lateness = lateness_stats(late)
            reported = result.get("lateness_seconds")
            if isinstance(reported, dict) and any(isinstance(v, int | float) for v in reported.values()):
                lateness = {
                    k: (float(reported[k]) * 1000.0 if isinstance(reported.get(k), int | float) else None)
                    for k in ("p50", "p99", "max")
                }
            planned = result.get("events_planned")
            fired = result.get("events_fired")
            failed = result.get("events_failed")
            faults = tuple(f.action for f in state.faults if f.peer == peer and f.outcome == "done")
            prevented = 0
            if faults:
                # Several processes wrote this peer's events.csv (a restart), or none finished its
                # result.json (a crash): count from the rows and the plan. Events planned while it
                # was crashed are prevented, not unfired.
                planned = fired = failed = None
                crashed = [(a, b) for kind, a, b in windows.get(peer, ()) if kind == "crashed"]
                if run.plan is not None:
                    # the process faults themselves are the guard's events, not the peer's
                    times = [e.time for e in run.plan.for_peer(peer) if e.callback not in PROCESS_BUILTINS]
                    prevented = sum(1 for t in times if t is not None and any(a < t <= b for a, b in crashed))
                    planned = len(times) - prevented
            if not isinstance(planned, int):
                planned = sum(1 for _ in run.plan.for_peer(peer)) if run.plan is not None else None
            if not isinstance(fired, int):
                if faults:  # a restarted peer ran its `@!` events again: each event once
                    fired = len({(e.path, e.line, e.planned) for e in events if e.actual is not None})
                else:  # one row per call (a loop's events share path, line and time: rows, not a set)
                    fired = sum(1 for e in events if e.actual is not None)
            if not isinstance(failed, int):
                failed = len({(e.path, e.line, e.planned) for e in events if e.failed})
            held = result.get("events_held")
            if faults or not isinstance(held, int):  # several processes, or none that finished
                held = len(
                    {
                        (e.path, e.line, e.planned)
                        for e in events
                        if e.actual is not None and (e.held or spans.holds(e.planned))
                    }
                )
            network = result.get("network")
            delayed = network.get("delayed") if isinstance(network, dict) else None
            dropped = network.get("dropped") if isinstance(network, dict) else None
            exit_code = report.returncode if report is not None else result.get("exit_code")
            peak = None
            if isinstance(result.get("peak_rss_bytes"), int | float) and result["peak_rss_bytes"] > 0:
                peak = float(result["peak_rss_bytes"]) / _MIB
            elif report is not None and report.peak_rss_bytes:
                peak = report.peak_rss_bytes / _MIB
            pss = None
            if report is not None and report.peak_pss_bytes:
                pss = report.peak_pss_bytes / _MIB
            elif isinstance(result.get("pss_bytes"), int | float) and result["pss_bytes"] > 0:
                pss = float(result["pss_bytes"]) / _MIB
            cpu = result.get("cpu_seconds")
            if not isinstance(cpu, int | float):
                cpu = report.cpu_seconds if report is not None else None
            owed: int | None = None
            unfired: list[PlannedEvent] = []
            ended_late: str | None = None
            if not faults:  # a peer the scenario crashed or paused misses events on purpose
                owed, unfired, ended_late = _judge_end(run, state, peer, result, events, report)
            if unfired:
                errors.append(RunError(_unfired_message(run, peer, owed, unfired, report), peer))
            elif ended_late is not None:
                errors.append(RunError(ended_late, peer))
            peers.append(
                PeerSummary(
                    peer=peer,
                    exit_code=exit_code if isinstance(exit_code, int) else None,
                    stopped_by_guard=report.stopped_by_guard if report is not None else False,
                    events_planned=planned,
                    events_fired=fired,
                    events_failed=failed,
                    lateness_ms=lateness,
                    peak_rss_mib=peak,
                    cpu_seconds=float(cpu) if cpu is not None else None,
                    stdout=_rel(report.stdout_path, out) if report is not None else None,
                    stderr=_rel(report.stderr_path, out) if report is not None else None,
                    events_owed=owed,
                    events_unfired=len(unfired),
                    unfired=tuple(_describe(e) for e in unfired[:_UNFIRED_SHOWN]),
                    ended_late=ended_late is not None,
                    faults=faults,
                    events_prevented=prevented,
                    events_held=held,
                    packets_delayed=delayed if isinstance(delayed, int) else None,
                    packets_dropped=dropped if isinstance(dropped, int) else None,
                    peak_pss_mib=pss,
                )
            )
            errors.extend(peer_errors(peer, events, result))
    processes = [
        ProcessSummary(
            index=r.index,
            command=r.command,
            exit_code=r.returncode,
            stopped_by_guard=r.stopped_by_guard,
            peak_rss_mib=r.peak_rss_bytes / _MIB,
            cpu_seconds=r.cpu_seconds,
            stdout=_rel(r.stdout_path, out),
            stderr=_rel(r.stderr_path, out),
            peak_pss_mib=r.peak_pss_bytes / _MIB if r.peak_pss_bytes else None,
        )
        for r in reports
        if r.index not in state.peer_of_process and not state.guard_runs_peers
    ]
    return peers, processes, errors
