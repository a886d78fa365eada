"""The `gscen run` pipeline: an experiment file (`.conf`) -> a checked, running experiment -> its results.

Two stages, so that nothing starts before everything is known to be right:

* `prepare_run(RunOptions)` -> `Preparation`: loads the `.conf` (SC6xx diagnostics), checks the
  scenario with `instances_to_run` peers, compiles the plan once, picks the output folder, builds the
  environment and turns each `*_cmd` value into a `Step`. It writes nothing but the fresh output
  folder (empty; not with `dry_run`, and removed again when the run is refused); `--dry-run` stops here.
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
SYNC_PORT, INSTANCES_TO_RUN, LOCAL_RUN, GSCEN_PLAN_FILE, GSCEN_SYNC_TOKEN (unless tokens are off),
GSCEN_IPV8_PORT_BASE (a free UDP port base for IPv8 peers unless the caller set one; peer `id` binds
base + id), PATH (EXPERIMENT_DIR, then the folder of Gumby-named shims, then the folder of gscen's own
interpreter, then the caller's PATH) and PYTHONPATH (EXPERIMENT_DIR first; last, the folder whose
sitecustomize.py makes Gumby's module names importable, `gumby_api.SITE`). `$VAR`, `${VAR}` and a
leading `~` are expanded in each command before it is split into words (shlex), the runner's variables
to exactly one word each (docs/conf.md); a command with shell operators (`|`, `&&`, `;`, `>`...) runs
through `/bin/sh -c`, any other is executed directly. Commands run in the experiment's workspace
(`workspace_dir`, by default the `.conf`'s folder), each in its own process group, with stdout and
stderr in `OUTPUT_DIR/logs/<key>.out` / `.err`.

Output folder: `--output DIR` is used as given, and refused when it is not empty unless `force`;
otherwise every run gets a fresh `<output_dir>/<YYYYmmdd-HHMMSS>` below the experiment's folder (`-2`,
`-3`... when runs start in the same second: `prepare_run` makes it with one atomic mkdir, so runs started
together never share one), and `<output_dir>/latest` points at it. Nothing is ever deleted.

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

Where each part lives (this module only re-exports the public names):

    steps.py       `*_cmd` values -> `Step`s (`expand_command`, Gumby's programs recognised)
    prepare.py     `RunOptions` -> `prepare_run` -> `Preparation` / `PreparedRun`, `dry_run_lines`
    execute.py     `execute_run`: the pipeline, the commands, the guarded peers -> `RunOutcome`
    run_state.py   what the pipeline learns (`RunState`) and how a step fails (`StepFailure`)
    observer.py    progress: `RunObserver`, `RunSnapshot`, the events counted so far
    launch/        where peers run: the `Launcher` protocol; `launch/local.py` the guard on this machine
    results.py     the results stage: merged annotations, plots, `summary.json`
    plots.py       the PNG plots (`plot_output_folder`); summary.py the summary's values and table
"""

from __future__ import annotations

from .execute import RunOutcome, execute_run
from .launch import LaunchedPeers, Launcher, PeerLaunch
from .launch.local import LocalLauncher
from .observer import RunObserver, RunSnapshot
from .plots import plot_output_folder
from .prepare import Preparation, PreparedRun, RunOptions, dry_run_lines, prepare_run
from .run_state import StepFailure
from .steps import Step, StepKind, expand_command

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
    "dry_run_lines",
    "execute_run",
    "expand_command",
    "plot_output_folder",
    "prepare_run",
]
