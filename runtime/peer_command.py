"""`gscen peer` (Gumby's `launch_scenario.py`): flags or Gumby's environment variables -> `PeerConfig`
-> `run_peer`, and the peer's exit code.

The flags and their variables are listed in peer.py's docstring. Usage errors (no plan and no
scenario, an unknown log level, a broken EXPERIMENT_DIR/logger.conf) exit 2 with a message.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .peer import PeerConfig, configure_logging, run_peer

__all__ = ["peer_command"]

_TRUE_WORDS = frozenset({"1", "true", "yes", "on", "t", "y"})


def _env_bool(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in _TRUE_WORDS


@click.command(name="peer")
@click.option(
    "--plan",
    "plan",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GSCEN_PLAN_FILE",
    help="The compiled plan file [env GSCEN_PLAN_FILE].",
)
@click.option(
    "--scenario",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SCENARIO_FILE",
    help="Without --plan: compile this scenario here [env SCENARIO_FILE].",
)
@click.option(
    "--instances",
    type=click.IntRange(min=1),
    envvar="INSTANCES_TO_RUN",
    help="Peers, when compiling the scenario [env INSTANCES_TO_RUN].",
)
@click.option(
    "--sync-host", envvar="SYNC_HOST", default="127.0.0.1", show_default=True, help="[env SYNC_HOST]"
)
@click.option(
    "--sync-port", type=click.IntRange(1, 65535), envvar="SYNC_PORT", required=True, help="[env SYNC_PORT]"
)
@click.option(
    "--token",
    envvar="GSCEN_SYNC_TOKEN",
    default=None,
    help="The run's sync token; none for a server that admits Gumby clients [env GSCEN_SYNC_TOKEN].",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="OUTPUT_DIR",
    default="output",
    show_default=True,
    help="The peer writes into OUTPUT_DIR/<id>/ [env OUTPUT_DIR].",
)
@click.option(
    "--experiment-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="EXPERIMENT_DIR",
    help="Put first on sys.path [env EXPERIMENT_DIR].",
)
@click.option(
    "--experiment-time",
    type=click.FloatRange(min=0),
    envvar="EXPERIMENT_TIME",
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
    envvar="GSCEN_EVENTS_LOG",
    default="all",
    show_default=True,
    help="Rows in events.csv: every call, or only failed and cancelled ones [env GSCEN_EVENTS_LOG].",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to keep trying to reach the sync server.",
)
@click.option(
    "--sync-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds each sync step (id, all vars, go) may take.",
)
@click.option(
    "--peer-id",
    type=click.IntRange(min=1),
    envvar="GSCEN_PEER_ID",
    help="Ask the sync server for this id (a launcher placed this peer) [env GSCEN_PEER_ID].",
)
@click.option(
    "--publish-host/--no-publish-host",
    envvar="GSCEN_PUBLISH_HOST",
    default=False,
    help="Publish this peer's own address to the others (peers on several machines) "
    "[env GSCEN_PUBLISH_HOST].",
)
@click.option(
    "--log-level", envvar="GUMBY_LOG_LEVEL", default="INFO", show_default=True, help="[env GUMBY_LOG_LEVEL]"
)
def peer_command(
    plan: Path | None,
    scenario: Path | None,
    instances: int | None,
    sync_host: str,
    sync_port: int,
    token: str | None,
    output_dir: Path,
    experiment_dir: Path | None,
    experiment_time: float | None,
    fail_on_callback_error: bool | None,
    exit_when_done: bool | None,
    events_log: str,
    connect_timeout: float,
    sync_timeout: float,
    peer_id: int | None,
    publish_host: bool,
    log_level: str,
) -> None:
    """Run one peer of an experiment (started by `gscen run`; Gumby's launch_scenario.py)."""
    if fail_on_callback_error is None:
        fail_on_callback_error = _env_bool(os.environ.get("FAIL_ON_CALLBACK_ERROR"), True)
    if exit_when_done is None:
        exit_when_done = _env_bool(os.environ.get("GSCEN_EXIT_WHEN_DONE"), False)
    if plan is None and scenario is None:
        raise click.UsageError("give --plan (GSCEN_PLAN_FILE) or --scenario (SCENARIO_FILE)")
    if experiment_dir is None and scenario is not None:
        experiment_dir = scenario.resolve().parent
    try:
        log_filter = configure_logging(log_level)
    except ValueError:
        raise click.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level") from None
    logger_conf = experiment_dir / "logger.conf" if experiment_dir is not None else None
    if logger_conf is not None and logger_conf.is_file():
        # Gumby's launch_scenario.py honours EXPERIMENT_DIR/logger.conf (a logging INI file).
        import logging.config

        try:
            logging.config.fileConfig(logger_conf, disable_existing_loggers=False)
        except Exception as exc:
            raise click.ClickException(f"{logger_conf}: not a usable logging configuration: {exc}") from None
    config = PeerConfig(
        sync_host=sync_host,
        sync_port=sync_port,
        output_dir=output_dir,
        plan=plan,
        scenario=scenario,
        instances=instances,
        token=token or None,
        experiment_dir=experiment_dir.resolve() if experiment_dir is not None else None,
        experiment_time=experiment_time or None,
        fail_on_callback_error=fail_on_callback_error,
        exit_when_done=exit_when_done,
        events_log=events_log,
        connect_timeout=connect_timeout,
        sync_timeout=sync_timeout,
        requested_id=peer_id,
        publish_host=publish_host,
    )
    outcome = run_peer(config, log_filter)
    sys.exit(outcome.exit_code)


if __name__ == "__main__":
    peer_command()
