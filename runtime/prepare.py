"""`gscen run`'s first stage: an experiment file (`.conf`) -> a `Preparation`, nothing started yet.

`prepare_run(RunOptions)` loads the `.conf` (SC6xx diagnostics), checks the scenario with
`instances_to_run` peers, compiles the plan once, picks the output folder (a fresh one is made here,
empty, by one atomic mkdir, so that runs started together never share it; a dry run only names it),
builds the environment and turns each `*_cmd` value into a `Step` (steps.py). When anything is wrong,
`Preparation.run` is None and `diagnostics` / `refusal` say why; otherwise `Preparation.run` is the
`PreparedRun` that execute.py runs. `dry_run_lines` is what `--dry-run` prints of it. The run's
environment, output folder and command expansion are described in run.py's docstring.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from scenario_lang.conf import ExperimentConfig, load_experiment_config
from scenario_lang.diagnostics import Diagnostic, diag, has_errors, sort_unique
from scenario_lang.nodes import Span

from .gumby_api import SITE as GUMBY_API_SITE
from .gumby_commands import GumbyCommandError, GumbyProgram, classify, rewrite_shell_text
from .launch import Launcher
from .launch.settings import LauncherSettings, launcher_settings
from .run_end import PlannedEnds, planned_ends
from .seeds import SEED_VARIABLE, pick_seed
from .steps import Step, StepKind, StepLaunch, command_step, expand_command, peers_step
from .sync import SyncServerConfig, new_token
from .udp_ports import PORT_BASE_VARIABLE, free_udp_port_base

if TYPE_CHECKING:
    from scenario_lang.plan import Plan

__all__ = [
    "LOG_FOLDER",
    "PLAN_FILE_NAME",
    "SHIM_FOLDER",
    "SUMMARY_FILE_NAME",
    "Preparation",
    "PreparedRun",
    "RunOptions",
    "dry_run_lines",
    "prepare_run",
]

logger = logging.getLogger(__name__)

# The output folder's layout.
PLAN_FILE_NAME = "plan.gscenplan"
SUMMARY_FILE_NAME = "summary.json"
LOG_FOLDER = "logs"
SHIM_FOLDER = ".gscen/bin"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What `gscen run` was asked to do.

    `output`: the output folder (else a fresh one); `instances`: overrides `instances_to_run`;
    `force`: accept a non-empty `output`; `no_token`: admit peers without the run's token (Gumby
    clients), as `sync_require_token = False` does; `plots`: write the PNG plots; `environ`: the base
    environment; `python`: the interpreter that runs `gscen peer` and the shims; `sync_timeout`: each
    phase of the sync (connect, ready, go), seconds; `grace`: seconds between TERM and KILL;
    `dry_run`: only decide (a fresh output folder is named, not made); `check_memory`: refuse a run
    whose local peers cannot fit in the available memory (`PEER_MEMORY_MIB` each).
    `launcher`: where the peers run (None: as `launcher_name` or the `.conf` says, see
    launch/settings.py); `launcher_name`: "local" or "slurm" (`--launcher`).
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
    dry_run: bool = False
    check_memory: bool = True
    launcher_name: str | None = None
    seed: int | None = None  # overrides the .conf's `seed`; neither: one is picked and recorded


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
    ends: PlannedEnds | None = None  # each peer's planned end (with a plan)
    notes: tuple[str, ...] = ()  # what the user should know before it runs (ignored keys, skipped steps)
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


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, 0))
        except OSError:
            s.bind(("", 0))
        return int(s.getsockname()[1])


def _fresh_folder(base: Path, reserve: bool, made: list[Path]) -> Path:
    """`<base>/<YYYYmmdd-HHMMSS>`, else `-2`, `-3`... With `reserve`, the folder is made here by one
    atomic mkdir, so runs started in the same second each get their own (an existence check then a
    later mkdir lets two of them pick the same name); the folders made are appended to `made`.
    Raises OSError when the folder cannot be made."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if reserve:
        missing = [p for p in (base, *base.parents) if not p.exists()]
        base.mkdir(parents=True, exist_ok=True)
        made.extend(missing)
    n = 1
    while True:
        candidate = base / (stamp if n == 1 else f"{stamp}-{n}")
        n += 1
        if not reserve:
            if not candidate.exists():
                return candidate
            continue
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        made.insert(0, candidate)
        return candidate


def _remove_empty(folders: Sequence[Path]) -> None:
    """Take back the folders a refused preparation made (innermost first; only while empty)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


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
    """Check everything and decide the run. See the module docstring.

    Writes nothing, except the fresh output folder (empty) unless `options.dry_run`; a refused
    preparation removes it again.
    """
    made: list[Path] = []
    try:
        preparation = _prepare(options, made)
    except BaseException:
        _remove_empty(made)
        raise
    if preparation.run is None:
        _remove_empty(made)
    return preparation


def _prepare(options: RunOptions, made: list[Path]) -> Preparation:
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
        try:
            output_dir = _fresh_folder(base.absolute(), not options.dry_run, made)
        except OSError as exc:
            return refuse(f"cannot create the output folder in {base.absolute()}: {exc.strerror or exc}")
        fresh = True

    try:
        placement = launcher_settings(config, options.launcher_name)
    except ValueError as exc:
        return refuse(str(exc))
    slurm = placement.slurm if options.launcher is None else None

    # The sync server's address and token: under SLURM, an address the nodes reach.
    host = config.sync_host or ("127.0.0.1" if slurm is None else reachable_address())
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
        # gscen's own interpreter's folder after the experiment's and the shims: `python3` in a
        # post-processing script is the one gscen runs on (a venv's, pipx's), which has gscen.
        "PATH": os.pathsep.join(
            (str(config.experiment_dir), str(shims), os.path.dirname(options.python), base_path)
        ),
        # last: Gumby's module names for the run's Python programs, when nothing else provides them
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(config.experiment_dir), python_path, str(GUMBY_API_SITE)) if p
        ),
    }
    if instances is not None:
        run_variables["INSTANCES_TO_RUN"] = str(instances)
        # IPv8 peers bind base + id; a base picked free for this run (unless the caller set one).
        if PORT_BASE_VARIABLE not in options.environ:
            ipv8_base = free_udp_port_base(instances)
            if ipv8_base is not None:
                run_variables[PORT_BASE_VARIABLE] = str(ipv8_base)
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
    ends: PlannedEnds | None = None
    if scenario is not None:
        from scenario_lang.project import CheckOptions, analyze_and_plan

        check_variables = {k: v for k, v in run_variables.items() if k not in ("PATH", "PYTHONPATH")}
        # Checked and compiled in one pass; a large file in chunks by forked workers, so the
        # runner's memory grows linearly with it (the chunked analysis keeps only what rendering
        # its diagnostics needs: `complete` is False).
        analysis, plan = analyze_and_plan(
            str(scenario),
            CheckOptions(
                conf=str(config.path),
                instances=instances,
                environment=base_env,
                run_variables=check_variables,
                find_conf=False,
                cwd=str(cwd),
                parallel=True,
            ),
        )
        for path, source in analysis.program.lines.items():
            lines[path] = source
        diagnostics.extend(analysis.diagnostics)
        if has_errors(analysis.diagnostics) or plan is None:
            return refuse(f"the scenario {scenario} has errors")
        ends = planned_ends(plan, config.experiment_time or None)

    # The steps.
    steps: list[Step] = []
    problems: list[str] = []
    launch = StepLaunch(options.python, options.grace, options.sync_timeout)
    one_word = frozenset(run_variables)  # gscen's own variables: one word each, wherever they stand

    def add(key: str, default_kind: StepKind = StepKind.COMMAND) -> Step | None:
        entry = config.get(key)
        written = getattr(config, key) or ""
        if not written.strip():
            return None
        expanded = expand_command(written, environment, one_word)
        try:
            step = command_step(key, written, expanded, environment, cwd, launch, default_kind)
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

    if not placement.skip_setup:
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
                # Under SLURM the first peer comes once the job has left the queue.
                connect_timeout=options.sync_timeout + (slurm.pending_timeout if slurm is not None else 0),
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
    instance_step: Step | None
    if placement.das_instance_cmd:
        run_end = ends.run_end if ends is not None else None
        das_step = _das_peers_step(
            placement, instances, config, output_dir, cwd, environment, launch, run_end
        )
        if isinstance(das_step, str):
            return refuse(das_step)
        steps.append(das_step)
        instance_step = das_step
    else:
        instance_step = add("local_instance_cmd")
    if instance_step is None and scenario is not None and instances is not None:
        run_end = ends.run_end if ends is not None else None
        step = peers_step(instances, config, output_dir, cwd, environment, launch, run_end)
        if sync is None and step.guard is not None and step.guard.timeout:
            # Another server: the start signal is not seen here, so the guard counts from spawning.
            extra = config.sync_experiment_start_delay + 3 * options.sync_timeout
            step = replace(step, guard=replace(step.guard, timeout=step.guard.timeout + extra))
        steps.append(step)
    if slurm is not None:
        peers = next((s for s in steps if s.key == "local_instance_cmd"), None)
        if peers is None or peers.guard is None:
            problems.append(
                f"{config.path}: the slurm launcher starts the peers itself: local_instance_cmd must be "
                "empty (a scenario), process_guard.py or das_reserve_and_run.sh"
            )
        elif len(set(peers.guard.commands)) > 1:
            problems.append(
                f"{config.path}: local_instance_cmd: the slurm launcher runs one command on every node, "
                "and this process guard line gives several"
            )
        else:
            from .launch.slurm import SlurmLauncher

            options = replace(options, launcher=SlurmLauncher(slurm, options.python, token))
    add("post_process_cmd")
    local = options.launcher is None or getattr(options.launcher, "name", "") == "local"
    if sync is not None and local:
        # Peers that sync with gscen's server: their guard's timeout (`experiment_time`, a `-t`)
        # counts from the start signal, not from spawning (execute.py moves the deadline at go).
        # (A SLURM job's guards and time limit are fixed at submission.)
        steps = [s.with_deadline_after_start() if s.runs_peers else s for s in steps]
    if ends is not None and ends.endless and any(s.runs_peers for s in steps):
        guarded = [s for s in steps if s.runs_peers]
        timed = any(s.deadline_after_start or (s.guard is not None and s.guard.timeout) for s in guarded)
        if not timed and not _truthy(environment.get("GSCEN_EXIT_WHEN_DONE")):
            diagnostics.append(_endless_warning(config, ends, scenario))

    for step in steps:
        direct = step.kind in (StepKind.COMMAND, StepKind.BACKGROUND) and step.shell is None
        if direct and step.argv and not _found(step.argv[0], environment, cwd):
            problems.append(
                f"{config.path}: {step.key}: `{step.argv[0]}` is not found "
                f"(looked in {cwd}, {config.experiment_dir} and PATH)"
            )
    if problems:
        return refuse("\n".join(problems))
    if not steps:
        return refuse(
            f"{config.path}: nothing to run: it sets no scenario_file and no local_setup_cmd, "
            "local_instance_cmd, experiment_server_cmd or post_process_cmd"
        )
    if options.check_memory and local:
        too_big = _memory_refusal(sum(len(s.guard.commands) for s in steps if s.runs_peers and s.guard))
        if too_big is not None and not options.dry_run:
            return refuse(too_big)
        if too_big is not None:
            logger.warning("a run would be refused: %s", too_big)  # a dry run starts nothing
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
        ends=ends,
        notes=placement.notes,
        seed=seed,
    )
    for d in run.diagnostics:
        lines.setdefault(d.span.path, _read_lines(Path(d.span.path)))
    return Preparation(run, run.diagnostics, lines)


PEER_MEMORY_MIB = 6.0
"""Memory one local gscen peer takes at least, MiB, for the estimate before a run: the PSS (proportional
set size: pages shared with the fork server divided among the processes sharing them) of a peer with
one trivial module forked by the fork server, measured at 5.9 MiB a peer for 200 peers and 6.4 MiB for
1,000 (bench/peer_fleet.py; a fresh interpreter per peer took 13.7 MiB). A lower bound on purpose:
modules, IPv8 and a large plan only add to it, so a run refused by it cannot fit; `--ignore-memory`
starts it anyway."""


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, bytes (None where there is no /proc)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _memory_refusal(peers: int) -> str | None:
    """Why `peers` local peers cannot fit in this machine's available memory, or None if they may."""
    available = _available_memory()
    need = peers * PEER_MEMORY_MIB * 2**20
    if available is None or need <= available:
        return None
    return (
        f"{peers:,} peers need at least {_size(need)} of memory ({PEER_MEMORY_MIB:g} MiB each) "
        f"and this machine has {_size(available)} available: lower "
        "instances_to_run (or --instances), or add --ignore-memory to start anyway"
    )


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _endless_warning(config: ExperimentConfig, ends: PlannedEnds, scenario: Path | None) -> Diagnostic:
    """SC610: nothing but a signal would end these peers (no `stop`, no `experiment_time`)."""
    endless = ends.endless
    entry = config.get("scenario_file")
    span = entry.value_span if entry is not None and entry.value_span is not None else None
    if span is None:
        span = Span(str(config.path), 1, 1, 1, 1)
    shown = ", ".join(map(str, endless[:5])) + (f" and {len(endless) - 5} more" if len(endless) > 5 else "")
    plural = "s" if len(endless) > 1 else ""
    who = "any peer" if len(endless) == len(ends.ends) else f"peer{plural} {shown}"
    return diag(
        "SC610",
        f"nothing ends this run: the scenario has no `stop` for {who} and `experiment_time` is not set",
        span,
        notes=(f"{scenario} runs until it is interrupted",) if scenario is not None else (),
        suggestion="set `experiment_time = SECONDS` in the .conf, or add `@0:SECONDS stop` to the scenario",
    )


def reachable_address() -> str:
    """This host's address as other machines know it (its name resolved), else 127.0.0.1."""
    try:
        address = socket.gethostbyname(socket.getfqdn())
    except OSError:
        return "127.0.0.1"
    return address or "127.0.0.1"


def _das_peers_step(
    placement: LauncherSettings,
    instances: int | None,
    config: ExperimentConfig,
    output_dir: Path,
    cwd: Path,
    environment: Mapping[str, str],
    launch: StepLaunch,
    run_end: float | None,
) -> Step | str:
    """Gumby's `das_reserve_and_run.sh`: `instances_to_run` x das_node_command over the nodes."""
    if instances is None:
        return f"{config.path}: instances_to_run is not set: das_reserve_and_run.sh spreads it over the nodes"
    written = placement.node_command or "launch_scenario.py"
    expanded = expand_command(written, environment)
    try:
        program, _ = classify(shlex.split(expanded))
    except ValueError as exc:
        return f"{config.path}: das_node_command: {exc}"
    command = None if program is GumbyProgram.LAUNCH_SCENARIO else rewrite_shell_text(expanded, launch.python)
    step = peers_step(instances, config, output_dir, cwd, environment, launch, run_end, command)
    return replace(step, written=config.local_instance_cmd, expanded=f"{instances} x {expanded} (slurm)")


def _int_key(config: ExperimentConfig, key: str) -> int | None:
    entry = config.get(key)
    if entry is None or not isinstance(entry.value, str):
        return None
    text = entry.value.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


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
        describe = getattr(run.options.launcher, "describe", None)
        if step.runs_peers and step.guard is not None and describe is not None:
            out.extend(describe(step.guard))
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
