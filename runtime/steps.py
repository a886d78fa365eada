"""`.conf` `*_cmd` values -> pipeline steps: what each command line is and how it will run.

`expand_command(text, environment, one_word)` expands `$VAR`, `${VAR}` and a leading `~` (gscen's own
variables to exactly one word each); `command_step` turns one expanded value into a `Step` (a process run
directly or through `/bin/sh -c`, gscen's guard for `process_guard.py`, `gscen peer` for `launch_scenario.py`,
gscen's plots for `graph_process_guard_data.sh`, a shim for the other Gumby programs); `peers_step` is the
guard step that starts `instances` x `gscen peer` when the `.conf` names a scenario and no command. Raises
ValueError (or `GumbyCommandError`) for a value that cannot be read; nothing here starts a process.
"""

from __future__ import annotations

import enum
import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scenario_lang.conf import ExperimentConfig
from scenario_lang.variables import VARIABLE

from .guard import GuardConfig
from .gumby_commands import (
    PEER_MODULE,
    SHIM_MODULE,
    GumbyProgram,
    classify,
    gscen_argv,
    is_peer_command,
    mentions_gumby_program,
    parse_process_guard,
    peer_shell_command,
    rewrite_shell_text,
)
from .run_end import STOP_GRACE

__all__ = ["Step", "StepKind", "StepLaunch", "command_step", "expand_command", "peers_step"]

_SHELL_OPERATORS = frozenset({"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1", "&>", "|&"})
# What expansion looks at, in order: an escape, a quote, a variable (the one `$NAME` pattern).
_SCAN = re.compile(r"\\.|['\"]|" + VARIABLE.pattern, re.S | re.ASCII)
_TILDE = re.compile(r"(?:(?<=^)|(?<=[\s=:]))~(?=/|\s|$)")


class StepKind(enum.Enum):
    """How a step runs."""

    COMMAND = "command"  # a process, waited for
    GUARD = "guard"  # gscen's process guard, in-process
    SYNC_SERVER = "sync-server"  # gscen's sync server, in-process, in the background
    BACKGROUND = "background"  # a process in the background (another experiment_server_cmd)
    PLOTS = "plots"  # gscen's plots of the output folder (Gumby's graph_process_guard_data.sh)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the pipeline, from one `.conf` key.

    `written` is the value as in the file, `expanded` after `$VAR`/`~` expansion. A COMMAND or
    BACKGROUND step runs `argv` directly, or `shell` through `/bin/sh -c`. A GUARD step runs `guard`;
    `runs_peers` says its commands are gscen peers. `gumby` names the Gumby program recognised.
    """

    key: str
    written: str
    expanded: str
    kind: StepKind
    argv: tuple[str, ...] = ()
    shell: str | None = None
    guard: GuardConfig | None = None
    runs_peers: bool = False
    gumby: GumbyProgram | None = None
    deadline_after_start: float | None = None  # the guard's timeout, counted from the start signal

    def with_deadline_after_start(self) -> Step:
        """This guard step with its timeout counted from the start signal instead of from spawning
        (peers that sync with gscen's server in-process: the time before the start is the sync's)."""
        if self.guard is None or not self.guard.timeout:
            return self
        timeout = self.guard.timeout
        return replace(self, guard=replace(self.guard, timeout=None), deadline_after_start=timeout)

    def describe(self) -> str:
        """One line for `--dry-run` and logs."""
        if self.kind is StepKind.GUARD and self.guard is not None:
            g = self.guard
            commands = _count_commands(g.commands)
            parts = [f"process guard (gscen): {commands}"]
            if self.deadline_after_start is not None:
                parts.append(f"timeout {self.deadline_after_start:g} s after the start signal")
            else:
                parts.append(f"timeout {g.timeout:g} s" if g.timeout else "no timeout")
            parts.append(f"sampling every {g.interval:g} s")
            if g.output_dir is not None:
                parts.append(f"output in {g.output_dir}")
            if g.resource_dir is not None:
                parts.append(f"resource log in {g.resource_dir}")
            return ", ".join(parts)
        if self.kind is StepKind.SYNC_SERVER:
            return "sync server (gscen, in-process)"
        if self.kind is StepKind.PLOTS:
            return "plots of the output folder (gscen)"
        what = _shown(self.shell if self.shell is not None else shlex.join(self.argv))
        how = "through /bin/sh" if self.shell is not None else "executed"
        background = ", in the background" if self.kind is StepKind.BACKGROUND else ""
        return f"{what} ({how}{background})"


_GSCEN_INVOCATION = re.compile(r"(?:exec )?\S*python[\d.]* -m scenario_lang\.cli")
_PEER_INVOCATION = re.compile(r"(?:exec )?\S*python[\d.]* -m " + re.escape(PEER_MODULE))
_SHIM_INVOCATION = re.compile(r"\S*python[\d.]* -m " + re.escape(SHIM_MODULE) + r" (\S+)")


@dataclass(frozen=True, slots=True)
class StepLaunch:
    """How steps start gscen itself: `python` runs `gscen peer` and the shims; `grace` is the guard's
    seconds between TERM and KILL; `sync_timeout` each sync phase, seconds (the peers' guard allows it)."""

    python: str
    grace: float
    sync_timeout: float


def _shown(command: str) -> str:
    """A command as the user thinks of it: `gscen peer`, not the interpreter's path."""
    command = _PEER_INVOCATION.sub("gscen peer", command)
    return _SHIM_INVOCATION.sub(r"gscen's \1", _GSCEN_INVOCATION.sub("gscen", command))


def _count_commands(commands: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for command in map(_shown, commands):
        counts[command] = counts.get(command, 0) + 1
    return "; ".join(f"{n} x `{c}`" if n > 1 else f"`{c}`" for c, n in counts.items())


def expand_command(text: str, environment: Mapping[str, str], one_word: Collection[str] = frozenset()) -> str:
    """`$NAME`, `${NAME}` and a `~` starting a word expanded against `environment` (unknown names stay).

    A name in `one_word` (the variables gscen defines: OUTPUT_DIR, EXPERIMENT_DIR...) expands to
    exactly one word wherever it stands, bare or inside quotes: its value is inserted shell-quoted
    (closing and reopening the quotes it stands in), so a path with spaces stays one argument, both
    for the split into words (shlex) and for `/bin/sh -c`. Other names (the `.conf` keys, the
    environment) are inserted as they are and split afterwards, as Gumby did.
    """
    home = environment.get("HOME")
    if home:
        text = _TILDE.sub(lambda _m: home, text)
    out: list[str] = []
    quote: str | None = None  # the quote we are inside: ' or " (None: outside)
    pos = 0
    while True:
        match = _SCAN.search(text, pos)
        if match is None:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos : match.start()])
        token = match.group(0)
        pos = match.end()
        if token.startswith("\\"):
            if quote == "'":  # no escapes inside single quotes: the backslash alone, then go on
                out.append("\\")
                pos = match.start() + 1
            else:
                out.append(token)
        elif token in ("'", '"'):
            quote = None if quote == token else (token if quote is None else quote)
            out.append(token)
        else:
            reference = match.group(1)
            name = reference[1:-1] if reference.startswith("{") else reference
            value = environment.get(name)
            if value is None:
                out.append(token)
            elif name in one_word and value and shlex.quote(value) != value:
                quoted = shlex.quote(value)
                out.append(quoted if quote is None else f"{quote}{quoted}{quote}")
            else:
                out.append(value)


def peers_step(
    instances: int,
    config: ExperimentConfig,
    output_dir: Path,
    cwd: Path,
    environment: Mapping[str, str],
    launch: StepLaunch,
    run_end: float | None,
    command: str | None = None,
) -> Step:
    """The guard step that starts `instances` x `gscen peer` (a scenario and no `local_instance_cmd`),
    or `instances` x `command` (a shell command, Gumby's das_node_command).

    `run_end`: the last peer's planned end (run_end.py), seconds after the start signal; the guard
    stops gscen peers `STOP_GRACE` seconds later (prepare.py moves the count to the start signal).
    Another command gets the old allowance from spawning: experiment_time + start delay + sync + 10 s.
    """
    runs_peers = command is None or is_peer_command(command)
    timeout = None
    if runs_peers and run_end is not None:
        # The peers stop themselves at their end; the guard is the safety net behind them.
        timeout = run_end + STOP_GRACE
    elif not runs_peers and config.experiment_time is not None:
        timeout = config.experiment_time + config.sync_experiment_start_delay + launch.sync_timeout + 10.0
    if command is None:
        command = peer_shell_command(launch.python)
    guard = GuardConfig(
        commands=(command,) * instances,
        timeout=timeout,
        interval=1.0,
        grace=launch.grace,
        output_dir=output_dir,
        resource_dir=output_dir,
        cwd=cwd,
        env=environment,
        peer_python=launch.python,
    )
    text = f"{instances} x gscen peer"
    return Step("local_instance_cmd", "", text, StepKind.GUARD, guard=guard, runs_peers=runs_peers)


def command_step(
    key: str,
    written: str,
    expanded: str,
    environment: Mapping[str, str],
    cwd: Path,
    launch: StepLaunch,
    kind: StepKind,
) -> Step:
    """The step for one `.conf` key's expanded value (see the module docstring)."""
    try:
        argv = shlex.split(expanded)
    except ValueError as exc:
        raise ValueError(f"cannot split `{expanded}` into words: {exc}") from None
    if not argv:
        raise ValueError("the command is empty")
    program, args = classify(argv)
    if any(a in _SHELL_OPERATORS for a in argv):
        shell = rewrite_shell_text(expanded, launch.python) if mentions_gumby_program(expanded) else expanded
        return Step(key, written, expanded, kind, shell=shell)
    if program is GumbyProgram.PROCESS_GUARD and kind is StepKind.COMMAND:
        invocation = parse_process_guard(args, cwd)
        commands = tuple(rewrite_shell_text(c, launch.python) for c in invocation.commands)
        runs_peers = any(c != o for c, o in zip(commands, invocation.commands, strict=True)) and any(
            is_peer_command(c) for c in commands
        )
        guard = GuardConfig(
            commands=commands,
            timeout=invocation.timeout,
            interval=invocation.interval,
            grace=launch.grace,
            output_dir=invocation.output_dir,
            resource_dir=invocation.monitor_dir,
            network=invocation.network,
            cwd=cwd,
            env=environment,
            peer_python=launch.python,
        )
        return Step(key, written, expanded, StepKind.GUARD, guard=guard, runs_peers=runs_peers, gumby=program)
    if program is GumbyProgram.LAUNCH_SCENARIO:
        return Step(
            key, written, expanded, kind, argv=(*gscen_argv(launch.python), "peer", *args), gumby=program
        )
    if program is GumbyProgram.GRAPH_PROCESS_GUARD_DATA:
        return Step(key, written, expanded, StepKind.PLOTS, gumby=program)
    if program is not None:
        shim = (launch.python, "-m", SHIM_MODULE, program.value)
        return Step(key, written, expanded, kind, argv=(*shim, *args), gumby=program)
    return Step(key, written, expanded, kind, argv=tuple(argv))
