"""Gumby's command names in `.conf` values -> what gscen runs instead.

Existing experiment files name Gumby's programs in their `*_cmd` values: `process_guard.py` (the guard),
`launch_scenario.py` (one peer), `experiment_server.py` (the sync server) and
`graph_process_guard_data.sh` (the resource plots). This module recognises them, so those files run
unchanged under gscen's own implementations:

* `classify(argv)` names the Gumby program a command line starts with (`GumbyProgram`), if any;
* `parse_process_guard(argv)` reads a `process_guard.py` command line with the flags of `gscen guard`
  (which are Gumby's: `-c` repeatable, `-n`, `-f`, `-t`, `-m`, `-o`, `-i`, `--network`);
* `rewrite_shell_text(text, python)` replaces the Gumby names inside a shell command (a `-c` string of
  the guard) by the gscen command that does the same;
* `write_shims(folder, python)` writes small executables named like Gumby's programs, to put on PATH,
  so that scripts of the experiment that call them (a `post_process_*.sh` that ends with
  `graph_process_guard_data.sh`) reach gscen too;
  the shims run `python -m scenario_lang.runtime.gumby_shims NAME ARGS...` (`SHIM_MODULE`).

Nothing here starts a process; execute.py does.
"""

from __future__ import annotations

import enum
import os
import re
import shlex
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PEER_MODULE",
    "SHIM_MODULE",
    "GuardInvocation",
    "GumbyCommandError",
    "GumbyProgram",
    "classify",
    "gscen_argv",
    "is_peer_command",
    "parse_process_guard",
    "peer_shell_command",
    "rewrite_shell_text",
    "write_shims",
]


class GumbyProgram(enum.Enum):
    """A Gumby program that gscen implements; the value is its file name."""

    PROCESS_GUARD = "process_guard.py"
    LAUNCH_SCENARIO = "launch_scenario.py"
    EXPERIMENT_SERVER = "experiment_server.py"
    GRAPH_PROCESS_GUARD_DATA = "graph_process_guard_data.sh"


BY_NAME = {p.value: p for p in GumbyProgram}
SHIM_MODULE = "scenario_lang.runtime.gumby_shims"  # what the shims run: `python -m SHIM_MODULE NAME ARGS...`
_PYTHON = re.compile(r"^python(\d+(\.\d+)*)?$")


class GumbyCommandError(ValueError):
    """A Gumby command line gscen cannot read (for example an unknown `process_guard.py` flag)."""


def gscen_argv(python: str) -> tuple[str, ...]:
    """How to start the `gscen` command line of this installation (the same interpreter)."""
    return (python, "-m", "scenario_lang.cli")


PEER_MODULE = "scenario_lang.runtime.peer_entry"  # `python -m PEER_MODULE`: one peer, loading no click


def peer_shell_command(python: str) -> str:
    """The shell command that runs one peer, as `gscen peer` without flags would (it reads everything
    from the environment) but without loading the command line's libraries."""
    return "exec " + " ".join(shlex.quote(a) for a in (python, "-m", PEER_MODULE))


def is_peer_command(text: str) -> bool:
    """Whether a guarded command runs a gscen peer (`gscen peer`, or the peer's own entry point)."""
    return PEER_MODULE in text or ("scenario_lang.cli" in text and " peer" in text)


def classify(argv: Sequence[str]) -> tuple[GumbyProgram | None, tuple[str, ...]]:
    """The Gumby program `argv` runs and its arguments; `(None, argv)` for any other command.

    The program is recognised by its base name, with or without a folder (`gumby/process_guard.py`)
    and with or without an interpreter in front (`python3 process_guard.py`, `bash x.sh`).
    """
    args = tuple(argv)
    if len(args) >= 2 and (_PYTHON.match(os.path.basename(args[0])) or args[0] in ("sh", "bash")):
        program = BY_NAME.get(os.path.basename(args[1]))
        if program is not None:
            return program, args[2:]
    if args:
        program = BY_NAME.get(os.path.basename(args[0]))
        if program is not None:
            return program, args[1:]
    return None, args


@dataclass(frozen=True, slots=True)
class GuardInvocation:
    """A `process_guard.py` command line, read with `gscen guard`'s flags.

    `commands` are the `-c` strings as written (a single `-c` repeated `-n` times, a repeated `-c`
    once each, then the lines of `-f`); `repeated_c` counts the `-c` flags, for SC608.
    """

    commands: tuple[str, ...]
    repeated_c: int
    instances: int
    timeout: float | None
    interval: float
    monitor_dir: Path | None
    output_dir: Path | None
    network: bool


def parse_process_guard(args: Sequence[str], cwd: Path) -> GuardInvocation:
    """Read the arguments of `process_guard.py` (after the program name).

    Relative folders and `-f` files are taken relative to `cwd` (the commands' working folder).
    Raises GumbyCommandError for flags the guard does not have, or a `-f` file that cannot be read.
    """
    import click

    from .guard import commands_from_options
    from .guard_command import guard_command

    try:
        ctx = guard_command.make_context("process_guard.py", list(args), resilient_parsing=False)
    except click.ClickException as exc:
        raise GumbyCommandError(f"process_guard.py: {exc.format_message()}") from None
    params = ctx.params
    command_file = params.get("command_file")
    if command_file is not None and not Path(command_file).is_absolute():
        command_file = cwd / command_file
    try:
        commands = commands_from_options(params["commands"], params["instances"], command_file)
    except (OSError, ValueError) as exc:
        raise GumbyCommandError(f"process_guard.py: {exc}") from None
    if not commands:
        raise GumbyCommandError("process_guard.py: no command to run: give -c CMD or -f FILE")

    def folder(value: Path | None) -> Path | None:
        if value is None:
            return None
        return value if value.is_absolute() else cwd / value

    return GuardInvocation(
        commands=commands,
        repeated_c=len(params["commands"]),
        instances=int(params["instances"]),
        timeout=float(params["timeout"]) or None,
        interval=float(params["interval"]),
        monitor_dir=folder(params.get("resource_dir")),
        output_dir=folder(params.get("output_dir")),
        network=bool(params["network"]),
    )


# A Gumby name standing as a word of a shell command, possibly with a folder and an interpreter in front.
_WORD_START = r"(?:(?<=^)|(?<=[\s;&|()]))"
_WORD_END = r"(?=$|[\s;&|()])"


def _name_pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        _WORD_START
        + r"(?:python\d*(?:\.\d+)*\s+|(?:ba)?sh\s+)?(?:[^\s;&|()'\"]*/)?"
        + re.escape(name)
        + _WORD_END
    )


_INNER = {program: _name_pattern(program.value) for program in GumbyProgram}


def rewrite_shell_text(text: str, python: str) -> str:
    """`text` with each Gumby program name replaced by the gscen command that does the same.

    `launch_scenario.py` becomes `gscen peer`; a `-c` that is only that name becomes an `exec`, so the
    guarded process is the peer itself. The other names go through the shims' entry point (`SHIM_MODULE`).
    """
    gscen = " ".join(shlex.quote(a) for a in gscen_argv(python))
    if _INNER[GumbyProgram.LAUNCH_SCENARIO].fullmatch(text.strip()):
        return peer_shell_command(python)
    out = _INNER[GumbyProgram.LAUNCH_SCENARIO].sub(lambda _m: f"{gscen} peer", text)
    shim = " ".join(shlex.quote(a) for a in (python, "-m", SHIM_MODULE))
    for program in (
        GumbyProgram.PROCESS_GUARD,
        GumbyProgram.EXPERIMENT_SERVER,
        GumbyProgram.GRAPH_PROCESS_GUARD_DATA,
    ):
        out = _INNER[program].sub(f"{shim} {program.value}".replace("\\", "\\\\"), out)
    return out


def mentions_gumby_program(text: str) -> bool:
    """Whether a shell command names one of Gumby's programs as a word."""
    return any(pattern.search(text) for pattern in _INNER.values())


def write_shims(folder: Path, python: str) -> Path:
    """Write one executable per Gumby program into `folder` (created); return the folder.

    Each runs `python -m scenario_lang.runtime.gumby_shims <name> "$@"`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for program in GumbyProgram:
        path = folder / program.value
        quoted = " ".join(shlex.quote(a) for a in (python, "-m", SHIM_MODULE, program.value))
        path.write_text(f'#!/bin/sh\nexec {quoted} "$@"\n', encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder
