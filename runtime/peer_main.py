"""A peer without a command line: Gumby's environment variables -> `PeerConfig` -> `run_peer` -> exit code.

This is what `gscen run` starts for each of its own peers (from the fork server, launch/fork_server.py):
everything a peer needs is in its environment, so no command-line library is imported into it. `gscen
peer` (peer_command.py) reads the same variables, with flags above them; both set up logging through
`configure_peer_logging`.

Variables (empty counts as unset, as for `gscen peer`): GSCEN_PLAN_FILE, else SCENARIO_FILE with
INSTANCES_TO_RUN; SYNC_HOST (127.0.0.1); SYNC_PORT (required); GSCEN_SYNC_TOKEN; OUTPUT_DIR (output);
EXPERIMENT_DIR (default: the scenario's folder); EXPERIMENT_TIME (seconds, 0: no limit);
FAIL_ON_CALLBACK_ERROR (true); GSCEN_EXIT_WHEN_DONE (false); GSCEN_EVENTS_LOG (all | problems);
GUMBY_LOG_LEVEL (INFO). A value that cannot be used raises `PeerUsageError` (`run_from_environment`
prints it and returns 2, as `gscen peer` exits on a usage error).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path

from .lifetime import die_with_guard
from .peer import PeerConfig, PeerIdFilter, configure_logging, run_peer

__all__ = ["PeerUsageError", "config_from_environment", "configure_peer_logging", "run_from_environment"]

_TRUE_WORDS = frozenset({"1", "true", "yes", "on", "t", "y"})
EVENTS_LOG_CHOICES = ("all", "problems")


class PeerUsageError(ValueError):
    """A variable (or flag) the peer cannot use; the message names it."""


def env_bool(value: str | None, default: bool) -> bool:
    """Gumby's truthy words; unset or blank gives `default`."""
    if value is None or not value.strip():
        return default
    return value.strip().lower() in _TRUE_WORDS


def _number(environ: Mapping[str, str], name: str, kind: type[int] | type[float], low: float) -> float | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise PeerUsageError(f"{name}={text!r} is not a {kind.__name__}") from None
    if value < low:
        raise PeerUsageError(f"{name}={text!r} is below {low:g}")
    return value


def config_from_environment(environ: Mapping[str, str]) -> PeerConfig:
    """The peer's configuration from its environment (see the module docstring)."""

    def path(name: str) -> Path | None:
        value = environ.get(name, "")
        return Path(value) if value else None

    plan, scenario = path("GSCEN_PLAN_FILE"), path("SCENARIO_FILE")
    if plan is None and scenario is None:
        raise PeerUsageError("give --plan (GSCEN_PLAN_FILE) or --scenario (SCENARIO_FILE)")
    port = _number(environ, "SYNC_PORT", int, 1)
    if port is None or port > 65535:
        raise PeerUsageError("SYNC_PORT must be a port number (1 to 65535)")
    instances = _number(environ, "INSTANCES_TO_RUN", int, 1)
    experiment_time = _number(environ, "EXPERIMENT_TIME", float, 0)
    events_log = environ.get("GSCEN_EVENTS_LOG", "") or "all"
    if events_log not in EVENTS_LOG_CHOICES:
        raise PeerUsageError(f"GSCEN_EVENTS_LOG={events_log!r} is not one of {', '.join(EVENTS_LOG_CHOICES)}")
    experiment_dir = path("EXPERIMENT_DIR")
    if experiment_dir is None and scenario is not None:
        experiment_dir = scenario.resolve().parent
    return PeerConfig(
        sync_host=environ.get("SYNC_HOST", "") or "127.0.0.1",
        sync_port=int(port),
        output_dir=path("OUTPUT_DIR") or Path("output"),
        plan=plan,
        scenario=scenario,
        instances=None if instances is None else int(instances),
        token=environ.get("GSCEN_SYNC_TOKEN") or None,
        experiment_dir=experiment_dir.resolve() if experiment_dir is not None else None,
        experiment_time=experiment_time or None,
        fail_on_callback_error=env_bool(environ.get("FAIL_ON_CALLBACK_ERROR"), True),
        exit_when_done=env_bool(environ.get("GSCEN_EXIT_WHEN_DONE"), False),
        events_log=events_log,
    )


def configure_peer_logging(level: str, experiment_dir: Path | None) -> PeerIdFilter:
    """Log to stderr at `level`, then EXPERIMENT_DIR/logger.conf if there is one (Gumby's
    launch_scenario.py honours it). Raises PeerUsageError for an unknown level or an unusable file."""
    try:
        log_filter = configure_logging(level)
    except ValueError:
        raise PeerUsageError(f"unknown log level {level!r}") from None
    logger_conf = experiment_dir / "logger.conf" if experiment_dir is not None else None
    if logger_conf is not None and logger_conf.is_file():
        import logging.config

        try:
            logging.config.fileConfig(logger_conf, disable_existing_loggers=False)
        except Exception as exc:
            raise PeerUsageError(f"{logger_conf}: not a usable logging configuration: {exc}") from None
    return log_filter


def run_from_environment(environ: Mapping[str, str]) -> int:
    """Run one peer configured by `environ`; its exit code (2 on a usage error, printed to stderr)."""
    die_with_guard(environ)
    try:
        config = config_from_environment(environ)
        log_filter = configure_peer_logging(
            environ.get("GUMBY_LOG_LEVEL", "") or "INFO", config.experiment_dir
        )
    except PeerUsageError as exc:
        sys.stderr.write(f"gscen peer: error: {exc}\n")
        return 2
    outcome = run_peer(config, log_filter)
    logging.shutdown()
    return outcome.exit_code
