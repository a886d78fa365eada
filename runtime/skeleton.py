"""`gscen new DIR`: a working experiment skeleton that `gscen run DIR/experiment.conf` runs as it is.

Takes a folder (created; refused when it exists and is not empty) and writes four files into it:

    experiment.conf      3 peers, 10 s, the scenario below, the post-processing script
    experiment.scenario  an annotation, one callback of the module, stop
    my_module.py         an ExperimentModule with one callback (`hello`)
    post_process.py      reads what every peer wrote, with the statistics helper

`write_skeleton` is the library function; `new_command` the click command.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

__all__ = ["SKELETON_FILES", "new_command", "write_skeleton"]

_CONF = """\
# An experiment for gscen (Gumby's .conf format). Run it with:
#     gscen run {folder}/experiment.conf
# Each run writes into output/<date-time>/ beside this file: one folder per peer, the process
# guard's logs, resource_usage.log, annotations.csv, plots (*.png) and summary.json.

experiment_name = {name}

# How many peers, and how long the experiment may last (seconds after the synchronized start).
instances_to_run = 3
experiment_time = 10

# What every peer does, and when.
scenario_file = experiment.scenario

# Runs after the peers, in this folder, with OUTPUT_DIR set to the run's output folder.
post_process_cmd = python3 post_process.py
"""

_SCENARIO = """\
# Each line: @H:M:S callback arguments [{{peers}}]. `gscen check experiment.scenario` explains mistakes.
&module my_module.MyModule

@0:1 annotate start
@0:2 hello world
@0:3 hello peer-one {{1}}
@0:5 stop
"""

_MODULE = '''\
"""The experiment's module: callbacks the scenario calls, and lifecycle hooks."""

from scenario_lang import ExperimentModule, experiment_callback


class MyModule(ExperimentModule):
    """Says hello: each call appends a line to hello.txt in the peer's folder (OUTPUT_DIR/<id>/)."""

    def on_id_received(self) -> None:
        # What this peer publishes to the others before the start (they see it in all_vars).
        self.vars["greeting"] = f"hello from {self.my_id}"

    @experiment_callback
    def hello(self, name: str) -> None:
        with open(self.output_dir / "hello.txt", "a", encoding="utf-8") as f:
            f.write(f"peer {self.my_id} says hello to {name}\\n")
'''

_POST_PROCESS = '''\
"""Post-processing: count the hellos every peer wrote into OUTPUT_DIR/hellos.txt."""

import os
from pathlib import Path

from scenario_lang.runtime.statistics import iter_peer_files


def main() -> None:
    output = Path(os.environ["OUTPUT_DIR"])
    lines = []
    for peer_id, path, _peer_dir in iter_peer_files(output, "hello.txt"):
        count = len(path.read_text(encoding="utf-8").splitlines())
        lines.append(f"{peer_id} {count}")
    (output / "hellos.txt").write_text("".join(f"{line}\\n" for line in lines), encoding="utf-8")
    print(f"{len(lines)} peers said hello")


if __name__ == "__main__":
    main()
'''

SKELETON_FILES = ("experiment.conf", "experiment.scenario", "my_module.py", "post_process.py")


def write_skeleton(folder: Path, name: str | None = None) -> list[Path]:
    """Write the skeleton into `folder` (created); return the files written.

    Raises FileExistsError when `folder` exists and is not empty, and OSError when it cannot write.
    """
    if folder.exists():
        if not folder.is_dir():
            raise FileExistsError(f"{folder} exists and is not a folder")
        if any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty")
    folder.mkdir(parents=True, exist_ok=True)
    experiment = name or folder.resolve().name or "experiment"
    texts = {
        "experiment.conf": _CONF.format(name=experiment, folder=folder),
        "experiment.scenario": _SCENARIO.format(),
        "my_module.py": _MODULE,
        "post_process.py": _POST_PROCESS,
    }
    written = []
    for file_name in SKELETON_FILES:
        path = folder / file_name
        path.write_text(texts[file_name], encoding="utf-8")
        written.append(path)
    return written


@click.command("new")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--name", help="The experiment's name (default: the folder's name).")
def new_command(folder: Path, name: str | None) -> None:
    """Create a working experiment skeleton in FOLDER (.conf, scenario, module, post-processing)."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        written = write_skeleton(folder, name)
    except OSError as exc:
        err.print(Text(f"gscen new: {exc}", style="bold red"))
        sys.exit(1)
    for path in written:
        err.print(Text(f"wrote {path}"))
    err.print(Text(f"run it with: gscen run {folder / 'experiment.conf'}", style="bold"))
