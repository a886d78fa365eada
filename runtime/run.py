"""The `gscen run` pipeline: an experiment file (`.conf`) -> a checked, running experiment -> its results.

Two stages, so that nothing starts before everything is known to be right:

* `prepare_run(RunOptions)` -> `Preparation`: loads the `.conf` (SC6xx diagnostics), checks the
  scenario with `instances_to_run` peers, compiles the plan once, picks the output folder, builds the
  environment and turns each `*_cmd` value into a `Step`. It writes nothing; `--dry-run` stops here.
  When anything is wrong, `Preparation.run` is None and `diagnostics` / `refusal` say why.
* `execute_run(PreparedRun, observer, interrupt)` -> `RunOutcome`: creates the output folder, writes
  the plan file into it, then runs the steps in Gumby's order and always ends with the results:

      local_setup_cmd       run, wait; a non-zero exit fails the run
      sync server           in-process (`experiment_server.py`, or a scenario without a server command),
                            or the configured `experiment_server_cmd` in the background
      local_instance_cmd    `instances_to_run` x `gscen peer` under the guard when the .conf names a
                            scenario and no command; else the command (`process_guard.py ...` runs
                            gscen's guard in-process, `launch_scenario.py` is `gscen peer`)
      post_process_cmd      run, wait (`graph_process_guard_data.sh` is gscen's plots)
      results               merged annotations.csv, plots (PNG), summary.json, whatever happened

Environment of every command and peer (as Gumby's run_in_env): the caller's environment, every `.conf`
key upper-cased (`ExperimentConfig.environment`), then the runner's variables: OUTPUT_DIR (this run's
folder), EXPERIMENT_DIR (the `.conf`'s folder), SCENARIO_FILE (absolute), PROJECT_DIR, SYNC_HOST,
SYNC_PORT, INSTANCES_TO_RUN, LOCAL_RUN, GSCEN_PLAN_FILE, GSCEN_SYNC_TOKEN (unless tokens are off), PATH
(EXPERIMENT_DIR, then the folder of Gumby-named shims, then the caller's PATH) and PYTHONPATH
(EXPERIMENT_DIR first). `$VAR`, `${VAR}` and a leading `~` are expanded in each command before it is
split into words (shlex); a command with shell operators (`|`, `&&`, `;`, `>`...) runs through
`/bin/sh -c`, any other is executed directly. Commands run in the experiment's workspace
(`workspace_dir`, by default the `.conf`'s folder), each in its own process group, with stdout and
stderr in `OUTPUT_DIR/logs/<key>.out` / `.err`.

Output folder: `--output DIR` is used as given, and refused when it is not empty unless `force`;
otherwise every run gets a fresh `<output_dir>/<YYYYmmdd-HHMMSS>` below the experiment's folder, and
`<output_dir>/latest` points at it. Nothing is ever deleted.

Failures: a failing step stops the pipeline with a `StepFailure` naming the step, the exit status and
the log to read; the sync server failing (a peer that disconnects, a timeout) or a peer process that
exits before the start fails the run at once instead of waiting. On `interrupt` (SIGINT/SIGTERM in the
command) every process is stopped (TERM, grace, KILL, reaped), and the results written so far are kept.
A full disk (or any output that cannot be written) fails the run without stopping it early: each
failed write is one line naming the file (`cannot write <path>: no space left on device`), files are
written whole or not at all (no `.tmp` or truncated file is left; what was written before is kept),
the guard stops its resource log and goes on supervising, and the run's message names the cause once:
`the output folder's disk is full: <the first failed write>`.

Launchers: peers start through a `Launcher` (`LocalLauncher`: the process guard on this machine); a
SLURM launcher implements the same protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import enum
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from scenario_lang.conf import ExperimentConfig, load_experiment_config
from scenario_lang.diagnostics import Diagnostic, diag, has_errors, sort_unique

from .guard import Guard, GuardConfig, GuardError, GuardResult, ProcessReport
from .gumby_commands import (
    GumbyCommandError,
    GumbyProgram,
    classify,
    gscen_argv,
    mentions_gumby_program,
    parse_process_guard,
    peer_shell_command,
    rewrite_shell_text,
    write_shims,
)
from .output_files import WriteFailure, write_failure
from .seeds import SEED_VARIABLE, pick_seed
from .summary import (
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
from .sync import SyncError, SyncServer, SyncServerConfig, new_token

if TYPE_CHECKING:
    from scenario_lang.plan import Plan

__all__ = [
    "LaunchedPeers",
    "Launcher",
    "LocalLauncher",
    "PeerLaunch",
    "Preparation",
    "PreparedRun",
    "RunObserver",
    "RunOptions",
    "RunOutcome",
    "RunSnapshot",
    "Step",
    "StepFailure",
    "StepKind",
    "execute_run",
    "expand_command",
    "plot_output_folder",
    "prepare_run",
]

logger = logging.getLogger(__name__)

PLAN_FILE_NAME = "plan.gscenplan"
SUMMARY_FILE_NAME = "summary.json"
LOG_FOLDER = "logs"
SHIM_FOLDER = ".gscen/bin"
_MIB = 2**20
_TICK = 0.25  # seconds between progress snapshots and peer-folder probes
_SHELL_OPERATORS = frozenset({"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1", "&>", "|&"})
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_TILDE = re.compile(r"(?:(?<=^)|(?<=[\s=:]))~(?=/|\s|$)")


# --------------------------------------------------------------------------------------------- options
@dataclass(frozen=True, slots=True)
class RunOptions:
    """What `gscen run` was asked to do.

    `output`: the output folder (else a fresh one); `instances`: overrides `instances_to_run`;
    `force`: accept a non-empty `output`; `no_token`: admit peers without the run's token (Gumby
    clients), as `sync_require_token = False` does; `plots`: write the PNG plots; `environ`: the base
    environment; `python`: the interpreter that runs `gscen peer` and the shims; `sync_timeout`: each
    phase of the sync (connect, ready, go), seconds; `grace`: seconds between TERM and KILL.
    """

    conf: Path
    output: Path | None = None
    instances: int | None = None
    force: bool = False
    no_token: bool = False
    plots: bool = True
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    python: str = sys.executable
    sync_timeout: float = 60.0
    grace: float = 2.0
    launcher: Launcher | None = None
    seed: int | None = None  # overrides the .conf's `seed`; neither: one is picked and recorded


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

    def describe(self) -> str:
        """One line for `--dry-run` and logs."""
        if self.kind is StepKind.GUARD and self.guard is not None:
            g = self.guard
            commands = _count_commands(g.commands)
            parts = [f"process guard (gscen): {commands}"]
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
_SHIM_INVOCATION = re.compile(r"\S*python[\d.]* -m scenario_lang\.runtime\.gumby_commands (\S+)")


def _shown(command: str) -> str:
    """A command as the user thinks of it: `gscen peer`, not the interpreter's path."""
    return _SHIM_INVOCATION.sub(r"gscen's \1", _GSCEN_INVOCATION.sub("gscen", command))


def _count_commands(commands: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for command in map(_shown, commands):
        counts[command] = counts.get(command, 0) + 1
    return "; ".join(f"{n} x `{c}`" if n > 1 else f"`{c}`" for c, n in counts.items())


@dataclass(frozen=True)
class PreparedRun:
    """A run that is ready to execute: everything decided, nothing written yet."""

    options: RunOptions
    config: ExperimentConfig
    diagnostics: tuple[Diagnostic, ...]
    plan: Plan | None
    scenario: Path | None
    instances: int | None
    output_dir: Path
    fresh_output: bool
    plan_path: Path | None
    cwd: Path
    environment: Mapping[str, str]
    token: str | None
    sync: SyncServerConfig | None
    steps: tuple[Step, ...]
    seed: int = 0  # every random choice of the run derives from it (`seeds`)

    def step(self, key: str) -> Step | None:
        return next((s for s in self.steps if s.key == key), None)

    @property
    def peers_step(self) -> Step | None:
        return next((s for s in self.steps if s.runs_peers), None)


@dataclass(frozen=True)
class Preparation:
    """`prepare_run`'s answer: a run, or None with the diagnostics and/or refusal saying why.

    `lines` holds the source lines of the files the diagnostics point into, for rendering.
    """

    run: PreparedRun | None
    diagnostics: tuple[Diagnostic, ...]
    lines: Mapping[str, Sequence[str]]
    refusal: str | None = None


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


# --------------------------------------------------------------------------------------------- observer
@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """The state of the run for progress displays.

    `connected`: peers that joined the sync server; `started`: the start instant passed (go sent);
    `clock`: seconds since the start instant (None before); `alive`: guarded processes still running;
    `events_fired` / `events_failed`: so far, over every peer; `planned`: events in the plan.
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


class RunObserver(Protocol):
    """What the pipeline reports as it goes (progress.py renders it)."""

    def step_started(self, step: Step) -> None: ...
    def step_finished(self, step: Step, status: str, detail: str | None) -> None: ...
    def update(self, snapshot: RunSnapshot) -> None: ...
    def note(self, text: str) -> None: ...


class _NullObserver:
    def step_started(self, step: Step) -> None:
        pass

    def step_finished(self, step: Step, status: str, detail: str | None) -> None:
        pass

    def update(self, snapshot: RunSnapshot) -> None:
        pass

    def note(self, text: str) -> None:
        pass


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


# --------------------------------------------------------------------------------------------- launcher
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


class LocalLauncher:
    """Peers on this machine, under gscen's process guard."""

    name = "local"

    def open(self, launch: PeerLaunch) -> LaunchedPeers:
        return Guard(launch.config)


# --------------------------------------------------------------------------------------------- prepare
def expand_command(text: str, environment: Mapping[str, str]) -> str:
    """`$NAME`, `${NAME}` and a `~` starting a word expanded against `environment` (unknown names stay)."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return environment.get(name, match.group(0))

    out = _VAR.sub(variable, text)
    home = environment.get("HOME")
    if home:
        out = _TILDE.sub(lambda _m: home, out)
    return out


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, 0))
        except OSError:
            s.bind(("", 0))
        return int(s.getsockname()[1])


def _fresh_folder(base: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = base / stamp
    n = 2
    while candidate.exists():
        candidate = base / f"{stamp}-{n}"
        n += 1
    return candidate


def _is_empty_folder(path: Path) -> bool:
    try:
        return not any(path.iterdir())
    except NotADirectoryError:
        return False


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _found(program: str, environment: Mapping[str, str], cwd: Path) -> bool:
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else cwd / program
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program, path=environment.get("PATH")) is not None


def prepare_run(options: RunOptions) -> Preparation:
    """Check everything and decide the run; write nothing. See the module docstring."""
    conf_path = Path(options.conf)
    load = load_experiment_config(conf_path, options.environ)
    diagnostics = list(load.diagnostics)
    lines: dict[str, Sequence[str]] = {}
    for d in diagnostics:
        lines.setdefault(d.span.path, _read_lines(Path(d.span.path)))
    config = load.config
    if config is None or load.has_errors:
        return Preparation(None, tuple(sort_unique(diagnostics)), lines, "the experiment file has errors")

    def refuse(reason: str) -> Preparation:
        return Preparation(None, tuple(sort_unique(diagnostics)), lines, reason)

    instances = options.instances or config.instances_to_run
    scenario = config.scenario_path
    if scenario is not None and instances is None:
        return refuse(f"{conf_path}: instances_to_run is not set: give it in the file or with --instances")

    # The output folder.
    if options.output is not None:
        output_dir = Path(options.output).absolute()
        fresh = False
        if output_dir.exists() and not output_dir.is_dir():
            return refuse(f"the output folder {output_dir} is a file")
        if output_dir.is_dir() and not _is_empty_folder(output_dir) and not options.force:
            return refuse(f"the output folder {output_dir} is not empty: choose another one, or add --force")
    else:
        base = config.experiment_dir / expand_command(config.output_dir, options.environ)
        output_dir = _fresh_folder(base.absolute())
        fresh = True

    # The sync server's address and token.
    host = config.sync_host or "127.0.0.1"
    port = config.sync_port or _free_port(host)
    require_token = config.sync_require_token and not options.no_token
    token = new_token() if require_token else None

    cwd = config.workspace_path.absolute()
    shims = output_dir / SHIM_FOLDER
    base_path = options.environ.get("PATH", os.defpath)
    python_path = options.environ.get("PYTHONPATH")
    run_variables: dict[str, str] = {
        "OUTPUT_DIR": str(output_dir),
        "EXPERIMENT_DIR": str(config.experiment_dir),
        "PROJECT_DIR": str(cwd),
        "SCENARIO_FILE": str(scenario) if scenario is not None else "",
        "SYNC_HOST": host,
        "SYNC_PORT": str(port),
        "LOCAL_RUN": "True",
        "PATH": os.pathsep.join((str(config.experiment_dir), str(shims), base_path)),
        "PYTHONPATH": os.pathsep.join(p for p in (str(config.experiment_dir), python_path) if p),
    }
    if instances is not None:
        run_variables["INSTANCES_TO_RUN"] = str(instances)
    plan_path = output_dir / PLAN_FILE_NAME if scenario is not None else None
    if plan_path is not None:
        run_variables["GSCEN_PLAN_FILE"] = str(plan_path)
    if token is not None:
        run_variables["GSCEN_SYNC_TOKEN"] = token
    seed = next((s for s in (options.seed, config.seed) if s is not None), None)
    if seed is None:
        seed = pick_seed()
    run_variables[SEED_VARIABLE] = str(seed)
    base_env = {k: v for k, v in options.environ.items() if k != "GSCEN_SYNC_TOKEN"}
    environment = config.environment(base_env, run_variables)

    # The scenario: checked with `instances` peers, compiled once.
    plan = None
    if scenario is not None:
        from scenario_lang.plan import compile_plan
        from scenario_lang.project import CheckOptions, analyze

        check_variables = {k: v for k, v in run_variables.items() if k not in ("PATH", "PYTHONPATH")}
        analysis = analyze(
            str(scenario),
            CheckOptions(
                conf=str(config.path),
                instances=instances,
                environment=base_env,
                run_variables=check_variables,
                find_conf=False,
                cwd=str(cwd),
            ),
        )
        for path, source in analysis.program.lines.items():
            lines[path] = source
        diagnostics.extend(analysis.diagnostics)
        if has_errors(analysis.diagnostics):
            return refuse(f"the scenario {scenario} has errors")
        plan = compile_plan(analysis.program, instances, allow_errors=True)

    # The steps.
    steps: list[Step] = []
    problems: list[str] = []

    def add(key: str, default_kind: StepKind = StepKind.COMMAND) -> Step | None:
        entry = config.get(key)
        written = getattr(config, key) or ""
        if not written.strip():
            return None
        expanded = expand_command(written, environment)
        try:
            step = _command_step(key, written, expanded, environment, cwd, options, default_kind)
        except (GumbyCommandError, ValueError) as exc:
            problems.append(f"{config.path}: {key}: {exc}")
            return None
        if step.gumby is GumbyProgram.PROCESS_GUARD and entry is not None and entry.value_span is not None:
            argv = shlex.split(expanded)
            count = sum(1 for a in argv if a in ("-c", "--command") or a.startswith("--command="))
            if count > 1:
                diagnostics.append(
                    diag(
                        "SC608",
                        f"`-c` is given {count} times: each command runs once and `-n` is ignored "
                        "(the process guard's meaning before 2020)",
                        entry.value_span,
                        notes=("Gumby's guard since 2020 keeps only the last `-c`",),
                        suggestion="give one `-c` and `-n N` to start N copies",
                    )
                )
        steps.append(step)
        return step

    add("local_setup_cmd")
    server_written = (config.experiment_server_cmd or "").strip()
    server_entry = config.get("experiment_server_cmd")
    server_explicit = server_entry is not None and server_entry.source.value != "default"
    sync: SyncServerConfig | None = None
    wants_server = scenario is not None or (server_explicit and bool(server_written))
    if wants_server:
        program, _ = classify(shlex.split(server_written)) if server_written else (None, ())
        if not server_written or program is GumbyProgram.EXPERIMENT_SERVER:
            # Gumby's experiment_server.py waits for sync_subscribers_amount peers, else instances_to_run.
            subscribers = _int_key(config, "sync_subscribers_amount")
            server_instances = instances if scenario is not None else (subscribers or instances)
            if server_instances is None:
                return refuse(
                    f"{config.path}: the sync server needs instances_to_run (or sync_subscribers_amount)"
                )
            sync = SyncServerConfig(
                instances=server_instances,
                host=host,
                port=port,
                start_delay=config.sync_experiment_start_delay,
                token=token,
                require_token=require_token,
                connect_timeout=options.sync_timeout,
                ready_timeout=options.sync_timeout,
                go_timeout=options.sync_timeout,
            )
            steps.append(
                Step(
                    "experiment_server_cmd",
                    server_written,
                    server_written,
                    StepKind.SYNC_SERVER,
                    gumby=GumbyProgram.EXPERIMENT_SERVER,
                )
            )
        else:
            add("experiment_server_cmd", StepKind.BACKGROUND)
    instance_step = add("local_instance_cmd")
    if instance_step is None and scenario is not None and instances is not None:
        steps.append(_peers_step(instances, config, output_dir, cwd, environment, options))
    add("post_process_cmd")

    for step in steps:
        direct = step.kind in (StepKind.COMMAND, StepKind.BACKGROUND) and step.shell is None
        if direct and step.argv and not _found(step.argv[0], environment, cwd):
            problems.append(
                f"{config.path}: {step.key}: `{step.argv[0]}` is not found "
                f"(looked in {cwd}, {config.experiment_dir} and PATH)"
            )
    if problems:
        return refuse("\n".join(problems))
    if sync is not None and sync.require_token and not any(s.runs_peers for s in steps):
        logger.warning(
            "%s: the sync server requires the run's token, and no gscen peer is started: clients must "
            "present GSCEN_SYNC_TOKEN, or set sync_require_token = False (or --no-token) for Gumby clients",
            config.path,
        )

    run = PreparedRun(
        options=options,
        config=config,
        diagnostics=tuple(sort_unique(diagnostics)),
        plan=plan,
        scenario=scenario,
        instances=instances,
        output_dir=output_dir,
        fresh_output=fresh,
        plan_path=plan_path,
        cwd=cwd,
        environment=environment,
        token=token,
        sync=sync,
        steps=tuple(steps),
        seed=seed,
    )
    for d in run.diagnostics:
        lines.setdefault(d.span.path, _read_lines(Path(d.span.path)))
    return Preparation(run, run.diagnostics, lines)


def _int_key(config: ExperimentConfig, key: str) -> int | None:
    entry = config.get(key)
    if entry is None or not isinstance(entry.value, str):
        return None
    text = entry.value.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _peers_step(
    instances: int,
    config: ExperimentConfig,
    output_dir: Path,
    cwd: Path,
    environment: Mapping[str, str],
    options: RunOptions,
) -> Step:
    timeout = None
    if config.experiment_time is not None:
        # The peers stop themselves at experiment_time; the guard is the safety net behind them.
        timeout = config.experiment_time + config.sync_experiment_start_delay + options.sync_timeout + 10.0
    command = peer_shell_command(options.python)
    guard = GuardConfig(
        commands=(command,) * instances,
        timeout=timeout,
        interval=1.0,
        grace=options.grace,
        output_dir=output_dir,
        resource_dir=output_dir,
        cwd=cwd,
        env=environment,
    )
    text = f"{instances} x gscen peer"
    return Step("local_instance_cmd", "", text, StepKind.GUARD, guard=guard, runs_peers=True)


def _command_step(
    key: str,
    written: str,
    expanded: str,
    environment: Mapping[str, str],
    cwd: Path,
    options: RunOptions,
    kind: StepKind,
) -> Step:
    try:
        argv = shlex.split(expanded)
    except ValueError as exc:
        raise ValueError(f"cannot split `{expanded}` into words: {exc}") from None
    if not argv:
        raise ValueError("the command is empty")
    program, args = classify(argv)
    if any(a in _SHELL_OPERATORS for a in argv):
        shell = rewrite_shell_text(expanded, options.python) if mentions_gumby_program(expanded) else expanded
        return Step(key, written, expanded, kind, shell=shell)
    if program is GumbyProgram.PROCESS_GUARD and kind is StepKind.COMMAND:
        invocation = parse_process_guard(args, cwd)
        commands = tuple(rewrite_shell_text(c, options.python) for c in invocation.commands)
        runs_peers = any(c != o for c, o in zip(commands, invocation.commands, strict=True)) and any(
            "scenario_lang.cli" in c and " peer" in c for c in commands
        )
        guard = GuardConfig(
            commands=commands,
            timeout=invocation.timeout,
            interval=invocation.interval,
            grace=options.grace,
            output_dir=invocation.output_dir,
            resource_dir=invocation.monitor_dir,
            network=invocation.network,
            cwd=cwd,
            env=environment,
        )
        return Step(key, written, expanded, StepKind.GUARD, guard=guard, runs_peers=runs_peers, gumby=program)
    if program is GumbyProgram.LAUNCH_SCENARIO:
        return Step(
            key, written, expanded, kind, argv=(*gscen_argv(options.python), "peer", *args), gumby=program
        )
    if program is GumbyProgram.GRAPH_PROCESS_GUARD_DATA:
        return Step(key, written, expanded, StepKind.PLOTS, gumby=program)
    if program is not None:
        shim = (options.python, "-m", "scenario_lang.runtime.gumby_commands", program.value)
        return Step(key, written, expanded, kind, argv=(*shim, *args), gumby=program)
    return Step(key, written, expanded, kind, argv=tuple(argv))


# --------------------------------------------------------------------------------------------- execute
@dataclass
class _State:
    """What the pipeline learns while running (read by the results stage)."""

    started_at: float
    steps: list[StepSummary] = field(default_factory=list)
    guard_result: GuardResult | None = None
    guard_runs_peers: bool = False
    start_instant: float | None = None
    peer_of_pid: dict[int, int] = field(default_factory=dict)  # guarded shell pid -> peer id
    plots_done: bool = False
    plots: list[Path] = field(default_factory=list)
    failure: StepFailure | None = None
    event_offsets: dict[Path, tuple[int, int, int]] = field(default_factory=dict)
    server_process: asyncio.subprocess.Process | None = None  # another experiment_server_cmd
    write_failures: list[WriteFailure] = field(default_factory=list)  # outputs that could not be written

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


def _materialize(run: PreparedRun) -> None:
    """Create the output folder, the plan file, the shims and `latest`."""
    if run.fresh_output:
        run.output_dir.parent.mkdir(parents=True, exist_ok=True)
        run.output_dir.mkdir()
    else:
        run.output_dir.mkdir(parents=True, exist_ok=True)
    (run.output_dir / LOG_FOLDER).mkdir(exist_ok=True)
    write_shims(run.output_dir / SHIM_FOLDER, run.options.python)
    if run.plan is not None and run.plan_path is not None:
        from scenario_lang.plan import write_plan_file

        write_plan_file(run.plan, run.plan_path)  # a failure names the file and leaves no temporary
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
    run: PreparedRun, observer: RunObserver | None = None, interrupt: asyncio.Event | None = None
) -> RunOutcome:
    """Run the prepared experiment; see the module docstring. Never raises for a failed run.

    Raises OSError only when the output folder cannot be created (nothing has started then).
    """
    obs: RunObserver = observer or _NullObserver()
    state = _State(started_at=time.time())
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
    summary = await asyncio.to_thread(_results, run, state, status, message, obs)
    log = state.failure.log if state.failure is not None else None
    return RunOutcome(
        summary.status,
        summary.message,
        summary,
        run.output_dir / SUMMARY_FILE_NAME,
        log,
        tuple(_tail(log, 10)),
    )


async def _pipeline(run: PreparedRun, state: _State, obs: RunObserver) -> None:
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


def _record(state: _State, obs: RunObserver, step: Step, failure: StepFailure, began: float) -> StepFailure:
    log = str(failure.log) if failure.log else None
    state.steps.append(
        StepSummary(
            step.key, step.expanded, "failed", failure.exit_code, time.monotonic() - began, log, str(failure)
        )
    )
    obs.step_finished(step, "failed", str(failure))
    return failure


async def _run_step(
    run: PreparedRun, step: Step, state: _State, obs: RunObserver, server: SyncServer | None
) -> None:
    obs.step_started(step)
    began = time.monotonic()
    try:
        if step.kind is StepKind.GUARD:
            detail = await _run_guard(run, step, state, obs, server)
            log = None
            code: int | None = 0
        elif step.kind is StepKind.PLOTS:
            state.plots = await asyncio.to_thread(_plots, run, state)
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
    run: PreparedRun, step: Step, server: SyncServer | None, state: _State, obs: RunObserver
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
                obs.update(_snapshot(run, state, step, server, None))
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
    run: PreparedRun, step: Step, state: _State, obs: RunObserver, server: SyncServer | None
) -> str:
    assert step.guard is not None
    state.guard_runs_peers = step.runs_peers
    launcher: Launcher = run.options.launcher or LocalLauncher()
    guard = launcher.open(PeerLaunch(step.guard))
    try:
        await guard.start()
    except GuardError as exc:
        await guard.aclose()
        raise StepFailure(step.key, str(exc)) from None
    done = asyncio.ensure_future(guard.wait_done())
    go = asyncio.ensure_future(server.wait_go()) if server is not None else None
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
            state.check_server(run)
            reports = guard.reports()
            if step.runs_peers:
                await asyncio.to_thread(_probe_peers, run, state, reports)
                if state.start_instant is None and server is not None:
                    _check_early_exit(step, reports)
            obs.update(await asyncio.to_thread(_snapshot, run, state, step, server, guard))
        try:
            done.result()
        except GuardError as exc:
            raise StepFailure(step.key, str(exc)) from None
    finally:
        for future in (done, go):
            if future is not None and not future.done():
                future.cancel()
        result = await guard.aclose()
        state.guard_result = result
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


def _who(state: _State, report: ProcessReport) -> str:
    peer = state.peer_of_pid.get(report.pid)
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


def _probe_peers(run: PreparedRun, state: _State, reports: Sequence[ProcessReport]) -> None:
    """Learn which guarded process is which peer: a peer works in OUTPUT_DIR/<id>/ once it has its id."""
    import psutil

    for report in reports:
        if report.pid in state.peer_of_pid or report.returncode is not None:
            continue
        try:
            process = psutil.Process(report.pid)
            candidates = [process, *process.children(recursive=True)]
        except psutil.Error:
            continue
        for candidate in candidates:
            try:
                folder = Path(candidate.cwd())
            except psutil.Error:
                continue
            if folder.parent == run.output_dir and folder.name.isdigit():
                state.peer_of_pid[report.pid] = int(folder.name)
                break


def _count_events(run: PreparedRun, state: _State) -> tuple[int, int]:
    """Scenario calls done and failed so far, over every peer's events.csv (reading only what was
    appended since the last look; a row is one finished call)."""
    from .statistics import iter_peer_dirs

    fired = failed = 0
    for peer in iter_peer_dirs(run.output_dir):
        path = peer.path / "events.csv"
        offset, n_fired, n_failed = state.event_offsets.get(path, (0, 0, 0))
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
        state.event_offsets[path] = (offset + complete, n_fired, n_failed)
        fired += n_fired
        failed += n_failed
    return fired, failed


def _snapshot(
    run: PreparedRun, state: _State, step: Step, server: SyncServer | None, guard: LaunchedPeers | None
) -> RunSnapshot:
    fired = failed = 0
    if step.runs_peers:
        fired, failed = _count_events(run, state)
    clock = None if state.start_instant is None else time.time() - state.start_instant
    return RunSnapshot(
        step=step.key,
        instances=run.instances,
        connected=server.joined if server is not None else 0,
        started=state.start_instant is not None and (clock or 0.0) >= 0,
        clock=clock,
        alive=guard.running if guard is not None else 0,
        processes=len(step.guard.commands) if step.guard is not None else 1,
        events_fired=fired,
        events_failed=failed,
        planned=len(run.plan.events) if run.plan is not None else None,
        experiment_time=run.config.experiment_time,
    )


# --------------------------------------------------------------------------------------------- results
def _peer_events_for_plot(run: PreparedRun, state: _State) -> list[Any]:
    from .plots import FiredEvent, PeerEvents
    from .statistics import iter_peer_dirs

    out = []
    for peer in iter_peer_dirs(run.output_dir):
        events = read_peer_events(peer.path)
        if not events:
            continue
        fired = [
            FiredEvent(
                e.planned if e.planned is not None else (e.actual or 0.0), e.actual, e.callback, e.failed
            )
            for e in events
        ]
        out.append(PeerEvents(peer.peer_id, fired))
    return out


def plot_output_folder(
    output_dir: Path,
    labels: Mapping[int, str] | None = None,
    start: float | None = None,
    peer_events: Any = None,
) -> list[Path]:
    """Write the plots of an output folder (cpu.png, memory.png, and events.png when peers logged
    events); return the files written. Missing inputs mean fewer plots, never an error."""
    from .plots import plot_event_timeline, plot_resources, read_annotations
    from .resource_log import read_resource_log
    from .statistics import iter_peer_dirs

    written: list[Path] = []
    annotations: list[Any] = []
    merged = output_dir / "annotations.csv"
    try:
        annotations = read_annotations(merged) if merged.is_file() else []
    except OSError:
        annotations = []
    log_path = output_dir / "resource_usage.log"
    if log_path.is_file():
        log = read_resource_log(log_path)
        if log.processes:
            written.extend(
                plot_resources(
                    log,
                    output_dir,
                    by="session",
                    labels=dict(labels or {}),
                    annotations=annotations,
                    start=start,
                )
            )
    if peer_events is None:
        from .plots import FiredEvent, PeerEvents

        peer_events = []
        for peer in iter_peer_dirs(output_dir):
            events = read_peer_events(peer.path)
            if events:
                peer_events.append(
                    PeerEvents(
                        peer.peer_id,
                        [
                            FiredEvent(
                                e.planned if e.planned is not None else (e.actual or 0.0),
                                e.actual,
                                e.callback,
                                e.failed,
                            )
                            for e in events
                        ],
                    )
                )
    if peer_events:
        written.append(plot_event_timeline(peer_events, output_dir / "events.png", annotations=annotations))
    return written


def _plots(run: PreparedRun, state: _State) -> list[Path]:
    try:
        merge_annotations(run.output_dir)
    except OSError as exc:
        state.cannot_write(run.output_dir / "annotations.csv", exc)
    labels: dict[int, str] = {}
    if state.guard_result is not None:
        for report in state.guard_result.processes:
            peer = state.peer_of_pid.get(report.pid)
            labels[report.pid] = f"peer {peer}" if peer is not None else f"#{report.index:05d}"
    return plot_output_folder(
        run.output_dir, labels, state.start_instant, _peer_events_for_plot(run, state) if run.plan else None
    )


def _results(
    run: PreparedRun, state: _State, status: str, message: str | None, obs: RunObserver
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
    if status == "ok" and run.config.fail_on_callback_error:
        failed_events = sum(p.events_failed for p in peers)
        if failed_events:
            status = "failed"
            message = f"{failed_events} callback{'s' if failed_events != 1 else ''} failed"
    if status != "interrupted" and run.options.plots and not state.plots_done:
        try:
            state.plots = _plots(run, state)
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
        exit_code=0 if status == "ok" else 1,
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
        runner_cpu_seconds=_own_cpu_seconds(),
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


_DISK_FULL = "the output folder's disk is full"


def _write_failure_message(
    run: PreparedRun, state: _State, message: str | None, errors: list[RunError]
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


def _collect(
    run: PreparedRun, state: _State
) -> tuple[list[PeerSummary], list[ProcessSummary], list[RunError]]:
    from .statistics import iter_peer_dirs

    out = run.output_dir
    reports = state.guard_result.processes if state.guard_result is not None else ()
    peer_dirs = {d.peer_id: d.path for d in iter_peer_dirs(out) if d.path.parent == out}
    # result.json may name the peer's pid: complete the mapping with it.
    results = {peer: read_peer_result(path) for peer, path in peer_dirs.items()}
    by_pid = {r.pid: r for r in reports}
    for peer, result in results.items():
        pid = result.get("pid")
        if isinstance(pid, int) and pid in by_pid and pid not in state.peer_of_pid:
            state.peer_of_pid[pid] = peer
    report_of_peer = {peer: by_pid[pid] for pid, peer in state.peer_of_pid.items() if pid in by_pid}
    peers: list[PeerSummary] = []
    errors: list[RunError] = []
    if state.guard_runs_peers or run.plan is not None:
        ids = sorted(set(peer_dirs) | set(report_of_peer) | set(range(1, (run.instances or 0) + 1)))
        for peer in ids:
            folder = peer_dirs.get(peer)
            events: list[PeerEvent] = (read_peer_events(folder) or []) if folder else []
            result = results.get(peer, {})
            report = report_of_peer.get(peer)
            late = [
                (e.actual - e.planned) * 1000.0
                for e in events
                if e.actual is not None and e.planned is not None
            ]
            lateness = lateness_stats(late)
            reported = result.get("lateness_seconds")
            if isinstance(reported, dict) and any(isinstance(v, int | float) for v in reported.values()):
                lateness = {
                    k: (float(reported[k]) * 1000.0 if isinstance(reported.get(k), int | float) else None)
                    for k in ("p50", "p99", "max")
                }
            planned = result.get("events_planned")
            if not isinstance(planned, int):
                planned = sum(1 for _ in run.plan.for_peer(peer)) if run.plan is not None else None
            fired = result.get("events_fired")
            if not isinstance(fired, int):
                fired = len({(e.path, e.line, e.planned) for e in events if e.actual is not None})
            failed = result.get("events_failed")
            if not isinstance(failed, int):
                failed = len({(e.path, e.line, e.planned) for e in events if e.failed})
            exit_code = report.returncode if report is not None else result.get("exit_code")
            peak = None
            if isinstance(result.get("peak_rss_bytes"), int | float) and result["peak_rss_bytes"] > 0:
                peak = float(result["peak_rss_bytes"]) / _MIB
            elif report is not None and report.peak_rss_bytes:
                peak = report.peak_rss_bytes / _MIB
            cpu = result.get("cpu_seconds")
            if not isinstance(cpu, int | float):
                cpu = report.cpu_seconds if report is not None else None
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
        )
        for r in reports
        if r.pid not in state.peer_of_pid and not state.guard_runs_peers
    ]
    return peers, processes, errors


def dry_run_lines(run: PreparedRun) -> list[str]:
    """What `--dry-run` prints after the plan: the folder, the server, each step, the key variables."""
    out = [f"output folder: {run.output_dir}" + (" (new)" if run.fresh_output else "")]
    out.append(f"seed: {run.seed}")
    out.append(f"working folder: {run.cwd}")
    for step in run.steps:
        if step.kind is StepKind.SYNC_SERVER and run.sync is not None:
            token = "token required" if run.sync.require_token else "no token"
            out.append(
                f"{step.key}: sync server (gscen, in-process) on {run.sync.host}:{run.sync.port} "
                f"for {run.sync.instances} peers, start delay {run.sync.start_delay:g} s, {token}"
            )
        else:
            out.append(f"{step.key}: {step.describe()}")
    if run.options.plots:
        out.append("results: annotations.csv, cpu.png, memory.png, events.png, summary.json")
    for name in (
        "OUTPUT_DIR",
        "EXPERIMENT_DIR",
        "SCENARIO_FILE",
        "SYNC_HOST",
        "SYNC_PORT",
        "INSTANCES_TO_RUN",
    ):
        if name in run.environment:
            out.append(f"  {name}={run.environment[name]}")
    return out


def replace_options(run: PreparedRun, **changes: Any) -> PreparedRun:
    """A copy of `run` with other options (tests)."""
    return replace(run, options=replace(run.options, **changes))
