"""`gscen run`'s second stage: a `PreparedRun` -> a `RunOutcome`, the experiment run and its results kept.

`execute_run(run, observer, interrupt)` creates the output folder, writes the plan file, the shims and
`latest`, runs the steps in Gumby's order (local_setup_cmd; the sync server in-process or the
configured server in the background; local_instance_cmd, the peers under a launcher's guard;
post_process_cmd) and always ends with the results stage (results.py). Each command runs in its own
process group with its output in `OUTPUT_DIR/logs/<key>.out` / `.err`; every exit path stops what is
left (TERM, grace, KILL, reap). A failing step raises `StepFailure` inside; the run's outcome says
failed, interrupted or ok, and `execute_run` itself raises only OSError when the output folder cannot be
created (nothing has started then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .guard import GuardError, ProcessReport
from .gumby_commands import write_shims
from .launch import Launcher, PeerLaunch, RemoteFaults
from .launch.local import LocalLauncher
from .observer import EventCounter, NullObserver, RunObserver, take_snapshot
from .prepare import LOG_FOLDER, SHIM_FOLDER, SUMMARY_FILE_NAME, PreparedRun
from .process_faults import drive_faults, process_faults
from .procfs import all_stats, read_cwd
from .results import run_plots, write_results
from .run_state import RunState, StepFailure
from .steps import Step, StepKind
from .summary import RunSummary, StepSummary
from .sync import SyncError, SyncServer

__all__ = ["RunOutcome", "execute_run"]

logger = logging.getLogger(__name__)

_TICK = 0.25  # seconds between progress snapshots and peer-folder probes


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """The end of a run: `status` ok, failed or interrupted; the summary (also in summary.json);
    `failure_log`/`failure_tail`: the log of the step that failed and its last lines, if any."""

    status: str
    message: str | None
    summary: RunSummary
    summary_path: Path | None
    failure_log: Path | None = None
    failure_tail: tuple[str, ...] = ()


def _materialize(run: PreparedRun) -> None:
    """Create the output folder, the plan file, the shims and `latest`."""
    if run.fresh_output:
        run.output_dir.parent.mkdir(parents=True, exist_ok=True)
        # prepare_run made (reserved) it, unless it only named it (a dry run): then make it now, atomically.
        run.output_dir.mkdir(exist_ok=not run.options.dry_run)
    else:
        run.output_dir.mkdir(parents=True, exist_ok=True)
    (run.output_dir / LOG_FOLDER).mkdir(exist_ok=True)
    write_shims(run.output_dir / SHIM_FOLDER, run.options.python)
    if run.plan is not None and run.plan_path is not None:
        from scenario_lang.parse import bulk_allocation
        from scenario_lang.plan import write_plan_file

        # Writing builds many acyclic objects for a large plan: without the collector paused, each
        # burst would scan the whole plan again. A failure names the file and leaves no temporary.
        with bulk_allocation():
            write_plan_file(run.plan, run.plan_path)
    if run.fresh_output:
        latest = run.output_dir.parent / "latest"
        tmp = latest.with_name(f".latest-{os.getpid()}")
        try:
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(run.output_dir.name)
            tmp.replace(latest)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


async def execute_run(
    run: PreparedRun,
    observer: RunObserver | None = None,
    interrupt: asyncio.Event | None = None,
    interrupt_signal: Callable[[], int | None] | None = None,
) -> RunOutcome:
    """Run the prepared experiment; see the module docstring. Never raises for a failed run.

    `interrupt_signal` names the signal that set `interrupt` (for the summary's exit code, 128 + it;
    SIGINT when unknown). Raises OSError only when the output folder cannot be created (nothing has
    started then).
    """
    obs: RunObserver = observer or NullObserver()
    state = RunState(started_at=time.time(), events=EventCounter(run.output_dir))
    _materialize(run)
    pipeline = asyncio.create_task(_pipeline(run, state, obs), name="gscen-run")
    stop = interrupt or asyncio.Event()
    stopper = asyncio.create_task(stop.wait(), name="gscen-run-interrupt")
    status, message = "ok", None
    try:
        await asyncio.wait({pipeline, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not pipeline.done():
            pipeline.cancel()
            obs.note("interrupted: stopping every process")
        try:
            await pipeline
        except asyncio.CancelledError:
            status, message = "interrupted", "the run was interrupted; the results so far are kept"
            current = asyncio.current_task()
            if current is not None and current.cancelling() and not stop.is_set():
                raise
        except StepFailure as exc:
            status, message = "failed", str(exc)
            state.failure = exc
        except Exception as exc:  # a bug or an I/O failure: still stop cleanly and keep the results
            logger.exception("the run failed unexpectedly")
            status, message = "failed", f"internal error: {exc}"
            state.failure = StepFailure("gscen", message)
    if status == "interrupted":
        state.interrupt_signal = (interrupt_signal() if interrupt_signal else None) or signal.SIGINT
    summary = await asyncio.to_thread(write_results, run, state, status, message, obs)
    log = state.failure.log if state.failure is not None else None
    return RunOutcome(
        summary.status,
        summary.message,
        summary,
        run.output_dir / SUMMARY_FILE_NAME,
        log,
        tuple(_tail(log, 10)),
    )


async def _pipeline(run: PreparedRun, state: RunState, obs: RunObserver) -> None:
    for step in run.steps:
        if step.key == "local_setup_cmd":
            await _run_step(run, step, state, obs, None)
    async with contextlib.AsyncExitStack() as stack:
        server: SyncServer | None = None
        server_step = next((s for s in run.steps if s.key == "experiment_server_cmd"), None)
        if server_step is not None:
            obs.step_started(server_step)
            began = time.monotonic()
            if server_step.kind is StepKind.SYNC_SERVER and run.sync is not None:
                server = SyncServer(run.sync)
                try:
                    await server.start()
                except SyncError as exc:
                    raise _record(
                        state, obs, server_step, StepFailure(server_step.key, str(exc)), began
                    ) from None
                stack.push_async_callback(server.aclose)
                host, port = server.address
                obs.step_finished(
                    server_step, "listening", f"{host}:{port}, waiting for {run.sync.instances} peers"
                )
            else:
                process = await _spawn(run, server_step)
                stack.push_async_callback(_terminate, process, run.options.grace)
                state.server_process = process
                obs.step_finished(server_step, "started", f"pid {process.pid}")
            state.steps.append(
                StepSummary(server_step.key, server_step.expanded, "ok", None, time.monotonic() - began)
            )
        for step in run.steps:
            if step.key == "local_instance_cmd":
                await _run_step(run, step, state, obs, server)
    for step in run.steps:
        if step.key == "post_process_cmd":
            await _run_step(run, step, state, obs, None)


def _record(state: RunState, obs: RunObserver, step: Step, failure: StepFailure, began: float) -> StepFailure:
    log = str(failure.log) if failure.log else None
    state.steps.append(
        StepSummary(
            step.key, step.expanded, "failed", failure.exit_code, time.monotonic() - began, log, str(failure)
        )
    )
    obs.step_finished(step, "failed", str(failure))
    return failure


async def _run_step(
    run: PreparedRun, step: Step, state: RunState, obs: RunObserver, server: SyncServer | None
) -> None:
    obs.step_started(step)
    began = time.monotonic()
    try:
        if step.kind is StepKind.GUARD:
            detail = await _run_guard(run, step, state, obs, server)
            log = None
            code: int | None = 0
        elif step.kind is StepKind.PLOTS:
            state.plots = await asyncio.to_thread(run_plots, run, state)
            state.plots_done = True
            detail = f"{len(state.plots)} plots"
            log, code = None, None
        else:
            code, log = await _run_command(run, step, server, state, obs)
            detail = None
            for line in _tail(log, 20):
                obs.note(f"{step.key}: {line}")
    except StepFailure as failure:
        raise _record(state, obs, step, failure, began) from None
    except asyncio.CancelledError:
        state.steps.append(
            StepSummary(step.key, step.expanded, "interrupted", None, time.monotonic() - began)
        )
        obs.step_finished(step, "interrupted", None)
        raise
    state.steps.append(
        StepSummary(
            step.key, step.expanded, "ok", code, time.monotonic() - began, str(log) if log else None, detail
        )
    )
    obs.step_finished(step, "ok", detail)


def _tail(path: Path | None, count: int) -> list[str]:
    """The last `count` lines of a (small) log file, for showing a command's output."""
    if path is None:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    return [line for line in lines[-count:] if line.strip()]


async def _spawn(run: PreparedRun, step: Step) -> asyncio.subprocess.Process:
    logs = run.output_dir / LOG_FOLDER
    out_path, err_path = logs / f"{step.key}.out", logs / f"{step.key}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        try:
            if step.shell is not None:
                return await asyncio.create_subprocess_exec(
                    "/bin/sh",
                    "-c",
                    step.shell,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd=run.cwd,
                    env=dict(run.environment),
                    start_new_session=True,
                )
            return await asyncio.create_subprocess_exec(
                *step.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=run.cwd,
                env=dict(run.environment),
                start_new_session=True,
            )
        except OSError as exc:
            raise StepFailure(step.key, f"cannot start `{step.expanded}`: {exc.strerror or exc}") from None


async def _terminate(process: asyncio.subprocess.Process, grace: float) -> None:
    """TERM the process group, wait up to `grace`, KILL, wait (reaps even when cancelled)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.shield(asyncio.wait_for(process.wait(), grace))
    # Whatever is left of the group (the leader may be gone while its children live on).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.returncode is None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(process.wait())


async def _run_command(
    run: PreparedRun, step: Step, server: SyncServer | None, state: RunState, obs: RunObserver
) -> tuple[int, Path]:
    process = await _spawn(run, step)
    err_log = run.output_dir / LOG_FOLDER / f"{step.key}.err"
    waiter = asyncio.ensure_future(process.wait())
    go = asyncio.ensure_future(server.wait_go()) if server is not None else None
    try:
        pending: set[asyncio.Future[Any]] = {waiter} | ({go} if go is not None else set())
        while not waiter.done():
            done, pending = await asyncio.wait(pending, timeout=_TICK, return_when=asyncio.FIRST_COMPLETED)
            if go is not None and go in done:
                problem = go.exception()
                if problem is not None:
                    raise StepFailure(step.key, f"sync failed: {problem}", None, err_log)
                state.start_instant = go.result()
            if step.key == "local_instance_cmd":
                state.check_server(run)
            if server is not None:
                obs.update(take_snapshot(run, step, state.start_instant, state.events, server, None))
        code = waiter.result()
    finally:
        for future in (waiter, go):
            if future is not None and not future.done():
                future.cancel()
        await _terminate(process, run.options.grace)
    if code != 0:
        how = f"exit status {code}" if code > 0 else f"killed by signal {-code}"
        raise StepFailure(step.key, f"`{step.expanded}` failed with {how}", code, err_log)
    return code, run.output_dir / LOG_FOLDER / f"{step.key}.out"


async def _run_guard(
    run: PreparedRun, step: Step, state: RunState, obs: RunObserver, server: SyncServer | None
) -> str:
    assert step.guard is not None
    state.guard_runs_peers = step.runs_peers
    launcher: Launcher = run.options.launcher or LocalLauncher()
    faults = process_faults(run.plan) if run.plan is not None and step.runs_peers else []
    guard = launcher.open(PeerLaunch(step.guard, tuple(faults)))
    try:
        await guard.start()
    except GuardError as exc:
        await guard.aclose()
        raise StepFailure(step.key, str(exc)) from None
    done = asyncio.ensure_future(guard.wait_done())
    go = asyncio.ensure_future(server.wait_go()) if server is not None else None
    driver: asyncio.Future[None] | None = None
    try:
        pending: set[asyncio.Future[Any]] = {done} | ({go} if go is not None else set())
        while not done.done():
            finished, pending = await asyncio.wait(
                pending, timeout=_TICK, return_when=asyncio.FIRST_COMPLETED
            )
            if go is not None and go in finished:
                problem = go.exception()
                if problem is not None:
                    raise StepFailure(step.key, f"sync failed: {problem}")
                state.start_instant = go.result()
                obs.note("all peers got the start signal")
                if step.deadline_after_start is not None:
                    guard.set_deadline(state.start_instant + step.deadline_after_start)
                if faults and isinstance(guard, RemoteFaults):
                    # its own guards carry them out (SLURM nodes): they only need the instant
                    await guard.begin_faults(state.start_instant)
                elif faults:
                    driver = asyncio.ensure_future(
                        drive_faults(
                            faults,
                            state.start_instant,
                            guard,
                            state.peer_of_process,
                            lambda: _probe_peers(run, state, guard.reports()),
                            state.faults,
                        )
                    )
                    pending.add(driver)
            if driver is not None and driver in finished and driver.exception() is not None:
                raise StepFailure(step.key, f"process faults: {driver.exception()}")
            state.check_server(run)
            reports = guard.reports()
            if step.runs_peers:
                await asyncio.to_thread(_probe_peers, run, state, reports)
                if state.start_instant is None and server is not None:
                    _check_early_exit(step, reports)
            obs.update(
                await asyncio.to_thread(
                    take_snapshot, run, step, state.start_instant, state.events, server, guard
                )
            )
        try:
            done.result()
        except GuardError as exc:
            raise StepFailure(step.key, str(exc)) from None
    finally:
        for future in (done, go, driver):
            if future is not None and not future.done():
                future.cancel()
        result = await guard.aclose()
        state.guard_result = result
        if isinstance(guard, RemoteFaults):
            state.faults.extend(guard.fault_records())
        if result.log_failure is not None:
            state.write_failures.append(result.log_failure)  # the guard already warned
    if step.runs_peers:
        _probe_peers(run, state, result.processes)
    if result.failed:
        first = result.failed[0]
        who = _who(state, first)
        more = f" and {len(result.failed) - 1} more" if len(result.failed) > 1 else ""
        raise StepFailure(
            step.key, f"{who} exited with status {first.returncode}{more}", 5, first.stderr_path
        )
    detail = f"{len(result.processes)} processes, {result.reason.value}"
    if result.timed_out:
        obs.note(f"{step.key}: the guard's timeout passed; what was still running was stopped")
    return detail


def _who(state: RunState, report: ProcessReport) -> str:
    peer = state.peer_of_process.get(report.index)
    if peer is not None:
        return f"peer {peer} (process #{report.index:05d})"
    return f"process #{report.index:05d} (`{report.command}`)"


def _check_early_exit(step: Step, reports: Sequence[ProcessReport]) -> None:
    for report in reports:
        if report.returncode is not None:
            raise StepFailure(
                step.key,
                f"process #{report.index:05d} exited with status {report.returncode} "
                "before the experiment started",
                report.returncode,
                report.stderr_path,
            )


def _probe_peers(run: PreparedRun, state: RunState, reports: Sequence[ProcessReport]) -> None:
    """Learn which guarded process is which peer: the launcher's word when it has one (a SLURM node's
    guard knows; its processes are not on this host, and their pids are unique only on theirs), else
    where it works: a peer works in OUTPUT_DIR/<id>/ once it has its id.

    The process itself is looked at first (a forked peer, or a shell that exec'd the peer); only for
    the others are its descendants looked at, from one look through /proc for all of them (per
    process, that look cost 17 ms, and the probe runs for every peer without an id 4 times a second).
    """
    children: dict[int, list[int]] | None = None
    for report in reports:
        if report.peer is not None:
            state.peer_of_process[report.index] = report.peer
            continue
        if report.index in state.peer_of_process or report.returncode is not None:
            continue
        peer = _peer_folder(run, report.pid)
        if peer is None:
            if children is None:
                children = {}
                for stat in all_stats().values():
                    children.setdefault(stat.ppid, []).append(stat.pid)
            todo = list(children.get(report.pid, ()))
            while todo and peer is None:
                pid = todo.pop()
                peer = _peer_folder(run, pid)
                todo.extend(children.get(pid, ()))
        if peer is not None:
            state.peer_of_process[report.index] = peer


def _peer_folder(run: PreparedRun, pid: int) -> int | None:
    folder = read_cwd(pid)
    if folder is not None and folder.parent == run.output_dir and folder.name.isdigit():
        return int(folder.name)
    return None
