"""`gscen peer` (Gumby's `launch_scenario.py`): flags, else Gumby's environment variables -> `PeerConfig`
-> `run_peer`, and the peer's exit code.

The settings and their variables are one table, `peer_entry.SETTINGS` (listed in peer.py's
docstring); this command only reads the flags and hands them to `peer_entry.peer_settings`, which
falls back to the variables. `gscen run` starts its peers with `python -m scenario_lang.runtime.peer_entry`
instead, which loads no click. Usage errors (no plan and no scenario, no port, a value that cannot be
read, an unknown log level) exit 2 with a message; a broken EXPERIMENT_DIR/logger.conf exits 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .lifetime import die_with_guard
from .peer import run_peer
from .peer_entry import LoggingConfigError, PeerSettingError, peer_settings, start_logging

__all__ = ["peer_command"]


@click.command(name="peer")
@click.option(
    "--plan",
    "plan",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The compiled plan file [env GSCEN_PLAN_FILE].",
)
@click.option(
    "--scenario",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Without --plan: compile this scenario here [env SCENARIO_FILE].",
)
@click.option(
    "--instances",
    type=click.IntRange(min=1),
    help="Peers, when compiling the scenario [env INSTANCES_TO_RUN].",
)
@click.option("--sync-host", help="[env SYNC_HOST; default 127.0.0.1]")
@click.option("--sync-port", type=click.IntRange(1, 65535), help="Required [env SYNC_PORT].")
@click.option(
    "--token",
    help="The run's sync token; none for a server that admits Gumby clients [env GSCEN_SYNC_TOKEN].",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The peer writes into OUTPUT_DIR/<id>/ [env OUTPUT_DIR; default output].",
)
@click.option(
    "--experiment-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Put first on sys.path [env EXPERIMENT_DIR].",
)
@click.option(
    "--experiment-time",
    type=click.FloatRange(min=0),
    help="Stop this many seconds after the start; 0: no limit [env EXPERIMENT_TIME].",
)
@click.option(
    "--fail-on-callback-error/--continue-on-callback-error",
    default=None,
    help="Exit 1 if a callback failed (default; env FAIL_ON_CALLBACK_ERROR).",
)
@click.option(
    "--exit-when-done/--keep-running",
    default=None,
    help="End once the last event ran and no callback runs (default: keep running until stop "
    "or experiment time, as Gumby; env GSCEN_EXIT_WHEN_DONE).",
)
@click.option(
    "--events-log",
    type=click.Choice(["all", "problems"]),
    help="Rows in events.csv: every call, or only failed and cancelled ones "
    "[env GSCEN_EVENTS_LOG; default all].",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to keep trying to reach the sync server [default 30].",
)
@click.option(
    "--sync-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds each sync step (id, all vars, go) may take [default 300].",
)
@click.option(
    "--peer-id",
    "requested_id",
    type=click.IntRange(min=1),
    help="Ask the sync server for this id (a launcher placed this peer) [env GSCEN_PEER_ID].",
)
@click.option(
    "--publish-host/--no-publish-host",
    default=None,
    help="Publish this peer's own address to the others (peers on several machines) "
    "[env GSCEN_PUBLISH_HOST; default no].",
)
@click.option("--log-level", help="[env GUMBY_LOG_LEVEL; default INFO]")
@click.option(
    "--seed", type=click.IntRange(min=0), help="The run's seed [env GSCEN_SEED; none: one is picked]."
)
@click.option(
    "--rejoin",
    type=click.IntRange(min=1),
    help="Restarted peer N: take its place in the running experiment [env GSCEN_REJOIN_ID].",
)
def peer_command(**flags: object) -> None:
    """Run one peer of an experiment (started by `gscen run`; Gumby's launch_scenario.py)."""
    die_with_guard(os.environ)
    try:
        config, level = peer_settings(flags, os.environ)
        log_filter = start_logging(level, config.experiment_dir)
    except PeerSettingError as exc:
        raise click.BadParameter(exc.message, param_hint=exc.where) from None
    except LoggingConfigError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(run_peer(config, log_filter).exit_code)


if __name__ == "__main__":
    peer_command()
