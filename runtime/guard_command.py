"""`gscen guard` (Gumby's `process_guard.py`): command-line flags -> `GuardConfig` -> `run_guard`, a table.

Parses Gumby's flags (`-c` repeatable, `-n`, `-f`, `-t`, `-m`, `-o`, `-i`, `--network`, `-T`), runs the
guard (guard.py) until it is done or SIGINT/SIGTERM arrives, prints one row per command and exits with
the guard's code (130 after SIGINT). Usage errors exit 2 with a message, never a traceback.
`gumby_commands.parse_process_guard` reads `process_guard.py` command lines in `.conf` files with this
same command.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Literal

import click
from rich.console import Console

from .guard import GuardConfig, GuardError, GuardResult, commands_from_options, run_guard
from .terminal_log import log_to_terminal

__all__ = ["guard_command"]

logger = logging.getLogger(__name__)


async def _run_until_signal(config: GuardConfig) -> tuple[GuardResult, int | None]:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if not received:
            logger.warning("received %s: stopping", signal.Signals(signum).name)
        received.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        result = await run_guard(config, stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return result, (received[0] if received else None)


def _build_command() -> click.Command:
    @click.command(
        name="guard",
        help=(
            "Run commands under the process guard (Gumby's process_guard.py): each in its own process "
            "group, output to OUTPUT/%05d.out and .err, resources sampled to resource_usage.log.\n\n"
            "A single -c runs -n copies; a repeated -c runs each command once (the pre-2020 meaning) and "
            "-n is then ignored. Exit status: 0 when no command exited non-zero, 5 when one did. "
            "Processes stopped by the guard (timeout, SIGTERM) do not count, so a timeout exits 0 "
            "(3 with -T). SIGINT stops everything and exits 130."
        ),
    )
    @click.option("-c", "--command", "commands", multiple=True, metavar="CMD", help="A command (repeatable).")
    @click.option(
        "-n",
        "--instances",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Copies of a single -c command.",
    )
    @click.option(
        "-f",
        "--file",
        "command_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="More commands, one per line (blank and # lines skipped).",
    )
    @click.option(
        "-t",
        "--timeout",
        type=click.FloatRange(min=0),
        default=0,
        show_default=True,
        help="Stop everything after this many seconds (0: no timeout).",
    )
    @click.option(
        "-m",
        "--monitor-dir",
        "resource_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Write resource_usage.log (and network_usage.log) here.",
    )
    @click.option(
        "-o",
        "--output-dir",
        "output_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Write each command's stdout/stderr to DIR/%05d.out and .err.",
    )
    @click.option(
        "-i",
        "--interval",
        type=click.FloatRange(min=0, min_open=True),
        default=1.0,
        show_default=True,
        help="Sampling and checking interval in seconds.",
    )
    @click.option("--network", is_flag=True, help="Also sample /proc/net/dev into network_usage.log.")
    @click.option(
        "--grace",
        type=click.FloatRange(min=0),
        default=2.0,
        show_default=True,
        help="Seconds between SIGTERM and SIGKILL when stopping.",
    )
    @click.option("-T", "--fail-on-timeout", is_flag=True, help="Exit 3 on a timeout (Gumby before 2020-10).")
    def guard_command(
        commands: tuple[str, ...],
        instances: int,
        command_file: Path | None,
        timeout: float,
        resource_dir: Path | None,
        output_dir: Path | None,
        interval: float,
        network: bool,
        grace: float,
        fail_on_timeout: bool,
    ) -> None:
        log_to_terminal(Console(stderr=True), logging.INFO, show_time=True)
        try:
            all_commands = commands_from_options(commands, instances, command_file)
        except OSError as exc:
            raise click.UsageError(f"cannot read {command_file}: {exc.strerror or exc}") from exc
        if not all_commands:
            raise click.UsageError("no command to run: give -c CMD or -f FILE")
        if output_dir is not None and os.environ.get("DEBUG"):
            logger.info("DEBUG is set: output is not redirected (as Gumby)")
            output_dir = None
        if network and resource_dir is None:
            logger.warning("--network without -m: no network log is written")
        config = GuardConfig(
            commands=all_commands,
            timeout=timeout or None,
            interval=interval,
            grace=grace,
            output_dir=output_dir,
            resource_dir=resource_dir,
            network=network,
            fail_on_timeout=fail_on_timeout,
        )
        try:
            result, signum = asyncio.run(_run_until_signal(config))
        except GuardError as exc:
            raise click.ClickException(str(exc)) from exc
        _render(result)
        ctx = click.get_current_context()
        ctx.exit(130 if signum == signal.SIGINT else result.exit_code)

    return guard_command


def _render(result: GuardResult) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"process guard: {result.reason.value}"), title_justify="left")
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("#", "right"),
        ("pid", "right"),
        ("exit", "right"),
        ("CPU s", "right"),
        ("peak RSS MiB", "right"),
        ("peak PSS MiB", "right"),
        ("command", "left"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for p in result.processes:
        status = "?" if p.returncode is None else str(p.returncode)
        if p.stopped_by_guard:
            status += " (stopped)"
        style = "red" if p.failed else ""
        table.add_row(
            f"{p.index:05d}",
            str(p.pid),
            Text(status, style=style),
            f"{p.cpu_seconds:.2f}",
            f"{p.peak_rss_bytes / 2**20:.1f}",
            f"{p.peak_pss_bytes / 2**20:.1f}" if p.peak_pss_bytes else "-",
            Text(p.command),
        )
    console = Console()
    console.print(table)
    console.print(Text(f"exit status {result.exit_code}: {len(result.failed)} command(s) failed"))


guard_command = _build_command()
