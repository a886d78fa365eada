"""The `gscen` command line: each command parses options, calls one library function, renders.

Commands load lazily (`LAZY_COMMANDS`), so `gscen check` never imports the runtime, pyipv8 or
matplotlib. Exit codes: 0 fine (or only warnings), 1 errors in the input or a failed run, 2 usage
errors and abnormal termination.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Any

import click

# name -> "module:attribute" of a click.Command, imported only when that command runs.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("scenario_lang.commands", "check_command"),
    "plan": ("scenario_lang.commands", "plan_command"),
    "fmt": ("scenario_lang.commands", "fmt_command"),
    "run": ("scenario_lang.runtime.run_command", "run_command"),
    "new": ("scenario_lang.runtime.skeleton", "new_command"),
    "peer": ("scenario_lang.runtime.peer_command", "peer_command"),
    "sync-server": ("scenario_lang.runtime.sync_command", "sync_server_command"),
    "guard": ("scenario_lang.runtime.guard_command", "guard_command"),
    "lsp": ("scenario_lang.lsp.server", "lsp_command"),
}

HELP = {
    "check": "Check scenario files and report every problem.",
    "plan": "Show the compiled, per-peer timeline of a scenario.",
    "fmt": "Format scenario files canonically.",
    "run": "Run an experiment (.conf) with synchronized peers.",
    "new": "Create a working experiment skeleton.",
    "peer": "Run one peer of an experiment (started by `gscen run`).",
    "sync-server": "Run the synchronization server alone.",
    "guard": "Run commands under the process guard (process_guard.py equivalent).",
    "lsp": "Start the language server (stdio, or --tcp HOST:PORT).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(LAZY_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return _unavailable(cmd_name)
            raise
        command = getattr(module, attr, None)
        if not isinstance(command, click.Command):
            return _unavailable(cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str) -> click.Command:
    @click.command(name=name, help=HELP.get(name, ""), context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: Any) -> None:
        raise click.UsageError(f"`gscen {name}` is not available in this build yet")

    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gscen")
def cli() -> None:
    """gscen: check, plan, format and run Gumby-compatible experiment scenarios."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `gscen` console script.

    Click's standalone mode turns Ctrl-C into `Aborted!` and exit 1; gscen exits 130 after SIGINT
    (128 + the signal, as a shell reports it), whatever the command was doing.
    """
    try:
        code = cli.main(args=argv, prog_name="gscen", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort) as exc:
        if isinstance(exc, click.exceptions.Abort) and not isinstance(exc.__context__, KeyboardInterrupt):
            sys.stderr.write("Aborted!\n")
            sys.exit(1)
        sys.stderr.write("\ngscen: interrupted\n")
        # Leave at once, with 130: the interpreter's own shutdown, after a KeyboardInterrupt, sometimes
        # ends the process with SIGINT itself (exit status -2 instead of 130; seen about one run in
        # three when the interrupt lands while a scenario is being checked). Whatever a command had
        # to write is written by now (summary.json, the output files); only the streams are left.
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
