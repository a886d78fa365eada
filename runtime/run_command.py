"""`gscen run EXP.conf`: parse options, call the pipeline (`run.py`), render.

Diagnostics, progress and notes go to one stderr Console; the plan (`--dry-run`) and the end-of-run
table go to one stdout Console. Exit status: 0 when the run succeeded (warnings allowed), 1 when the
input has errors or the run failed, 2 on usage errors, 130 after SIGINT and 143 after SIGTERM (every
process is stopped first; results written so far are kept).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from scenario_lang.diagnostics import Diagnostic

from .terminal_log import log_to_terminal

__all__ = ["run_command"]

DRY_RUN_EVENTS = 200


def _consoles() -> tuple[Console, Console]:
    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


def _print_diagnostics(
    err: Console, diagnostics: Sequence[Diagnostic], lines: Mapping[str, Sequence[str]]
) -> None:
    from scenario_lang.commands import diagnostic_text

    for d in diagnostics:
        source = lines.get(d.span.path, ())
        line = source[d.span.line - 1] if 1 <= d.span.line <= len(source) else None
        err.print(diagnostic_text(d, line))
        err.print()


@click.command("run")
@click.argument("conf", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder (default: a fresh <output_dir>/<date-time> beside the .conf).",
)
@click.option(
    "--instances", "-n", type=click.IntRange(min=1), help="Number of peers (overrides instances_to_run)."
)
@click.option("--dry-run", is_flag=True, help="Check, print the plan and the commands, start nothing.")
@click.option("--force", is_flag=True, help="Accept a non-empty --output folder (nothing in it is deleted).")
@click.option("--no-token", is_flag=True, help="Admit peers without the run's token (Gumby clients).")
@click.option("--no-plots", is_flag=True, help="Do not draw the PNG plots.")
@click.option(
    "--ignore-memory",
    is_flag=True,
    help="Start even when the peers cannot fit in the available memory (6 MiB each, at least).",
)
@click.option(
    "--launcher",
    type=click.Choice(["local", "slurm"]),
    help="Where the peers run (default: the .conf's `launcher`, SLURM for Gumby's DAS settings, else local).",
)
@click.option(
    "--sync-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds each sync phase (connect, ready, go) may take before the run fails.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    help="The run's seed (overrides the .conf's `seed`); without one, a seed is picked and recorded.",
)
def run_command(
    conf: Path,
    output: Path | None,
    instances: int | None,
    dry_run: bool,
    force: bool,
    no_token: bool,
    no_plots: bool,
    ignore_memory: bool,
    sync_timeout: float,
    launcher: str | None,
    seed: int | None,
) -> None:
    """Run an experiment: check the .conf and its scenario, then setup, sync server, peers, post-processing.

    Every run writes into a fresh output folder unless --output is given; nothing is ever deleted.
    Commands run in the experiment's folder, with OUTPUT_DIR, EXPERIMENT_DIR, SCENARIO_FILE and every
    .conf key (upper-cased) in their environment, as in Gumby.
    """
    from .run import RunOptions, dry_run_lines, prepare_run

    out, err = _consoles()
    log_to_terminal(err, logging.WARNING)
    options = RunOptions(
        conf=conf,
        output=output,
        instances=instances,
        force=force,
        no_token=no_token,
        plots=not no_plots,
        sync_timeout=sync_timeout,
        dry_run=dry_run,
        check_memory=not ignore_memory,
        launcher_name=launcher,
        seed=seed,
    )
    preparation = prepare_run(options)
    _print_diagnostics(err, preparation.diagnostics, preparation.lines)
    run = preparation.run
    if run is None:
        err.print(Text(f"gscen run: not started: {preparation.refusal or 'errors above'}", style="bold red"))
        sys.exit(1)
    for note in run.notes:
        err.print(Text(f"note: {note}"))
    if dry_run:
        if run.plan is not None:
            from scenario_lang.plan_render import PlanView

            # The first events only: a dry run is about the commands; `gscen plan` lists them all
            # (rendering each of a million events would take minutes).
            out.print(PlanView(run.plan, limit=DRY_RUN_EVENTS))
        for line in dry_run_lines(run):
            out.print(Text(line))
        err.print(Text("dry run: nothing was started", style="bold"))
        return
    exit_code = _execute(run, out, err)
    sys.exit(exit_code)


def _execute(run: object, out: Console, err: Console) -> int:
    from .output_files import is_disk_full, write_failure
    from .progress import make_progress
    from .run import PreparedRun, execute_run
    from .summary import summary_table

    assert isinstance(run, PreparedRun)
    received: list[int] = []

    async def main() -> object:
        loop = asyncio.get_running_loop()
        interrupt = asyncio.Event()

        def on_signal(signum: int) -> None:
            received.append(signum)
            interrupt.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            with make_progress(err) as progress:
                return await execute_run(run, progress, interrupt, lambda: received[0] if received else None)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    err.print(Text(f"output folder: {run.output_dir}", style="bold"))
    err.print(Text(f"seed: {run.seed} (repeat with --seed {run.seed})"))
    try:
        outcome = asyncio.run(main())
    except OSError as exc:
        reason = str(write_failure(exc.filename, exc)) if exc.filename else str(exc)
        if is_disk_full(exc):
            reason = f"its disk is full: {reason}"
        err.print(Text(f"gscen run: cannot prepare the output folder: {reason}", style="bold red"))
        return 1
    from .run import RunOutcome

    assert isinstance(outcome, RunOutcome)
    out.print(summary_table(outcome.summary))
    style = "bold green" if outcome.status == "ok" else "bold red"
    text = Text(f"run {outcome.status}", style=style)
    if outcome.message:
        text.append(f": {outcome.message}")
    if outcome.failure_tail and outcome.failure_log is not None:
        err.print(Text(f"last lines of {outcome.failure_log}:", style="bold"))
        for line in outcome.failure_tail:
            err.print(Text(f"  {line}", style="dim"))
    err.print(text)
    err.print(Text(f"results: {run.output_dir}"))
    return outcome.summary.exit_code  # 0 ok, 1 failed, 130 / 143 after SIGINT / SIGTERM
