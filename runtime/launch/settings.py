"""Which launcher a run uses, from `--launcher` and the `.conf`: `launcher_settings(config, name)`.

Takes the experiment's `ExperimentConfig` and the `--launcher` name (None: the `.conf` decides);
returns `LauncherSettings`: "local" or "slurm", the `SlurmConfig` for the latter, the command each
peer runs on a node, and notes for the user. Raises ValueError with a message naming the key for a
value that cannot be used.

SLURM is chosen by `--launcher slurm`, `launcher = slurm`, or Gumby's DAS configuration:
`local_instance_cmd = das_reserve_and_run.sh` (or `das4_reserve_and_run.sh`), which gscen answers
itself instead of running Gumby's prun/preserve scripts. Keys (Gumby's DAS4-era names too):

    node_amount (das4_node_amount)       nodes to allocate (default 1)
    node_timeout (das4_node_timeout)     seconds each node's guard lets the peers run; the allocation
                                         lasts that + 120 s (Gumby's das_reserve_duration is not read)
    das_node_command (das4_node_command) what each peer runs (`launch_scenario.py`: `gscen peer`)
    slurm_partition, slurm_account       sbatch's --partition, --account
    slurm_extra_args                     more sbatch arguments (split as a shell does)
    slurm_pending_timeout                seconds the job may wait in the queue (default 60)
    slurm_node_dir                       a node-local folder to run in, copied back at the end

`local_setup_cmd = das_setup.sh` prepares a DAS head node's virtualenv; gscen runs from its own
installation, so there is nothing to prepare and the step is skipped with a note. `use_local_venv`
is ignored under SLURM too (noted): the nodes run gscen's interpreter.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from scenario_lang.conf import EntrySource, ExperimentConfig

from .slurm import SlurmConfig

__all__ = ["DAS_RESERVE_PROGRAMS", "DAS_SETUP_PROGRAMS", "LAUNCHERS", "LauncherSettings", "launcher_settings"]

LAUNCHERS = ("local", "slurm")
DAS_RESERVE_PROGRAMS = frozenset({"das_reserve_and_run.sh", "das4_reserve_and_run.sh"})
DAS_SETUP_PROGRAMS = frozenset({"das_setup.sh", "das4_setup.sh"})


@dataclass(frozen=True, slots=True)
class LauncherSettings:
    """The launcher chosen: `name`, its `slurm` config (for "slurm"), `node_command` (the written
    das_node_command, None: `gscen peer`), `skip_setup` (local_setup_cmd is Gumby's das_setup.sh)
    and `notes` to show the user."""

    name: str
    slurm: SlurmConfig | None = None
    node_command: str | None = None
    das_instance_cmd: bool = False
    skip_setup: bool = False
    notes: tuple[str, ...] = ()


def _program(command: str | None) -> str | None:
    try:
        words = shlex.split(command or "")
    except ValueError:
        return None
    if len(words) >= 2 and words[0] in ("sh", "bash"):
        words = words[1:]
    return os.path.basename(words[0]) if words else None


def _value(config: ExperimentConfig, *keys: str) -> tuple[str, str] | None:
    for key in keys:
        entry = config.get(key)
        if entry is not None and isinstance(entry.value, str) and entry.value.strip():
            return key, entry.value.strip()
    return None


def _number(config: ExperimentConfig, keys: tuple[str, ...], integer: bool) -> float | None:
    found = _value(config, *keys)
    if found is None:
        return None
    key, text = found
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number of seconds"
        raise ValueError(f"{config.path}: {key} = {text!r} is not {kind}") from None
    if not value > 0:
        raise ValueError(f"{config.path}: {key} must be positive, got {text}")
    return value


def launcher_settings(config: ExperimentConfig, name: str | None) -> LauncherSettings:
    """See the module docstring."""
    notes: list[str] = []
    instance_program = _program(config.local_instance_cmd)
    das = instance_program in DAS_RESERVE_PROGRAMS
    if name is None:
        written = _value(config, "launcher")
        name = written[1].lower() if written is not None else ("slurm" if das else "local")
        if name not in LAUNCHERS:
            raise ValueError(f"{config.path}: launcher = {name!r}: expected one of {', '.join(LAUNCHERS)}")
    skip_setup = _program(config.local_setup_cmd) in DAS_SETUP_PROGRAMS
    if skip_setup:
        notes.append(
            f"local_setup_cmd `{config.local_setup_cmd}`: nothing to prepare here (Gumby's script builds a "
            "virtualenv on a DAS head node; gscen runs from its own installation)"
        )
    if name == "local":
        if das:
            raise ValueError(
                f"{config.path}: local_instance_cmd = {config.local_instance_cmd}: a DAS reservation needs "
                "the slurm launcher (drop --launcher local)"
            )
        return LauncherSettings("local", skip_setup=skip_setup, notes=tuple(notes))
    venv_entry = config.get("use_local_venv")
    if config.use_local_venv and venv_entry is not None and venv_entry.source is not EntrySource.DEFAULT:
        notes.append("use_local_venv is ignored: the nodes run gscen's own Python")
    nodes = _number(config, ("node_amount", "das4_node_amount"), integer=True)
    timeout = _number(config, ("node_timeout", "das4_node_timeout"), integer=False)
    pending = _number(config, ("slurm_pending_timeout",), integer=False)
    extra = _value(config, "slurm_extra_args")
    try:
        extra_args = tuple(shlex.split(extra[1])) if extra is not None else ()
    except ValueError as exc:
        raise ValueError(f"{config.path}: slurm_extra_args: {exc}") from None
    node_dir = _value(config, "slurm_node_dir")
    partition = _value(config, "slurm_partition")
    account = _value(config, "slurm_account")
    command = _value(config, "das_node_command", "das4_node_command")
    if das and command is None:
        raise ValueError(f"{config.path}: das_node_command is not set: what should each peer run?")
    slurm = SlurmConfig(
        node_amount=int(nodes or 1),
        node_timeout=timeout,
        partition=partition[1] if partition else None,
        account=account[1] if account else None,
        extra_args=extra_args,
        pending_timeout=pending or 60.0,
        job_name=f"gscen-{config.experiment_name}" if config.experiment_name else "gscen",
        node_dir=os.path.expandvars(os.path.expanduser(node_dir[1])) if node_dir else None,
    )
    return LauncherSettings(
        "slurm",
        slurm,
        command[1] if command else None,
        das_instance_cmd=das,
        skip_setup=skip_setup,
        notes=tuple(notes),
    )
