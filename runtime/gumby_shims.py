"""The shims' entry point: `python -m scenario_lang.runtime.gumby_shims NAME ARGS...` runs gscen's
implementation of Gumby's program NAME.

`gscen run` puts small executables named like Gumby's programs on PATH (`gumby_commands.write_shims`);
each runs this module: `process_guard.py` -> `gscen guard`, `launch_scenario.py` -> `gscen peer`,
`experiment_server.py` -> `gscen sync-server` (its settings from Gumby's environment variables),
`graph_process_guard_data.sh` -> the plots of OUTPUT_DIR. An unknown NAME exits 2 with a usage line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .gumby_commands import BY_NAME, SHIM_MODULE, GumbyProgram

__all__ = ["main"]


def _sync_server_args(environ: Mapping[str, str], args: Sequence[str]) -> list[str]:
    """`gscen sync-server` arguments from Gumby's environment (experiment_server.py takes no flags)."""
    out = list(args)
    instances = environ.get("SYNC_SUBSCRIBERS_AMOUNT") or environ.get("INSTANCES_TO_RUN")
    if instances and "--instances" not in out and "-n" not in out:
        out += ["--instances", instances]
    if environ.get("SYNC_PORT") and "--port" not in out:
        out += ["--port", environ["SYNC_PORT"]]
    if environ.get("SYNC_HOST_BIND") and "--host" not in out:
        out += ["--host", environ["SYNC_HOST_BIND"]]
    delay = environ.get("SYNC_EXPERIMENT_START_DELAY")
    if delay and "--start-delay" not in out:
        out += ["--start-delay", delay]
    if environ.get("SYNC_REQUIRE_TOKEN", "True").lower() in ("false", "no", "off", "0"):
        out.append("--no-token")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the shims: `NAME ARGS...` runs gscen's implementation of Gumby's NAME."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in BY_NAME:
        names = ", ".join(sorted(BY_NAME))
        sys.stderr.write(f"usage: python -m {SHIM_MODULE} NAME [ARGS...] (NAME: {names})\n")
        sys.exit(2)
    program, rest = BY_NAME[args[0]], args[1:]
    if program is GumbyProgram.PROCESS_GUARD:
        from .guard_command import guard_command

        guard_command.main(args=rest, prog_name=program.value)
    elif program is GumbyProgram.LAUNCH_SCENARIO:
        from scenario_lang.cli import cli

        cli.main(args=["peer", *rest], prog_name="gscen")
    elif program is GumbyProgram.EXPERIMENT_SERVER:
        from .sync_command import sync_server_command

        sync_server_command.main(args=_sync_server_args(os.environ, rest), prog_name=program.value)
    else:
        from .plots import plot_output_folder

        output = os.environ.get("OUTPUT_DIR")
        if not output:
            sys.stderr.write("graph_process_guard_data.sh: OUTPUT_DIR is not set\n")
            sys.exit(1)
        written = plot_output_folder(Path(output))
        for path in written:
            sys.stdout.write(f"wrote {path}\n")


if __name__ == "__main__":
    main()
