"""The peer process's entry point and settings: flags and Gumby's environment variables -> `PeerConfig`.

`python -m scenario_lang.runtime.peer_entry` is what `gscen run` starts for each peer (everything comes
from the environment it sets). It imports the standard library and the peer only: no click, rich or
parser, so each of thousands of peers starts fast. `gscen peer` (peer_command.py) reads the same
settings from its flags, falling back to the same variables through `peer_settings`, so both read one
table (`SETTINGS`); the variables are listed in peer.py's docstring.

A value that cannot be read raises `PeerSettingError` naming the flag and the variable; `main` prints
it as one line and exits 2, as a usage error (1 for a logger.conf that cannot be used). Logging starts
here too (`start_logging`): the peer's line format, or EXPERIMENT_DIR/logger.conf (a logging INI
file), which Gumby's launch_scenario.py honoured.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .gumby_commands import PEER_MODULE
from .lifetime import die_with_guard
from .peer import REJOIN_VARIABLE, PeerConfig, PeerIdFilter, configure_logging, run_peer
from .seeds import SEED_VARIABLE

__all__ = [
    "SETTINGS",
    "LoggingConfigError",
    "PeerSettingError",
    "main",
    "peer_settings",
    "start_logging",
]

_TRUE_WORDS = frozenset({"1", "true", "yes", "on", "t", "y"})


class PeerSettingError(ValueError):
    """A setting that cannot be used: `flag` names it (and `variable`, when one can give it)."""

    def __init__(self, flag: str, variable: str | None, message: str) -> None:
        self.flag = flag
        self.variable = variable
        where = f"{flag} ({variable})" if variable else flag
        super().__init__(f"{where}: {message}")
        self.message = message
        self.where = where


class LoggingConfigError(Exception):
    """EXPERIMENT_DIR/logger.conf is not a usable logging configuration (the peer exits 1)."""


def _int(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise ValueError(f"{value} is not in {low}..{high}" if high else f"{value} is below {low}")
        return value

    return parse


def _float(low: float, *, above: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if value < low or (above and value == low):
            raise ValueError(f"{value:g} must be {'above' if above else 'at least'} {low:g}")
        return value

    return parse


def _choice(*words: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in words:
            raise ValueError(f"{text!r} is not one of {', '.join(words)}")
        return text

    return parse


def _bool(text: str) -> bool:
    return text.strip().lower() in _TRUE_WORDS


@dataclass(frozen=True, slots=True)
class Setting:
    """One peer setting: its flag, the environment variable that gives it otherwise, its reader."""

    flag: str
    variable: str | None
    parse: Callable[[str], Any]
    default: Any = None


# name (a PeerConfig field, or log_level) -> how it is given. The order is `gscen peer --help`'s.
SETTINGS: Mapping[str, Setting] = {
    "plan": Setting("--plan", "GSCEN_PLAN_FILE", Path),
    "scenario": Setting("--scenario", "SCENARIO_FILE", Path),
    "instances": Setting("--instances", "INSTANCES_TO_RUN", _int(1)),
    "sync_host": Setting("--sync-host", "SYNC_HOST", str, "127.0.0.1"),
    "sync_port": Setting("--sync-port", "SYNC_PORT", _int(1, 65535)),
    "token": Setting("--token", "GSCEN_SYNC_TOKEN", str),
    "output_dir": Setting("--output-dir", "OUTPUT_DIR", Path, Path("output")),
    "experiment_dir": Setting("--experiment-dir", "EXPERIMENT_DIR", Path),
    "experiment_time": Setting("--experiment-time", "EXPERIMENT_TIME", _float(0.0)),
    "fail_on_callback_error": Setting("--fail-on-callback-error", "FAIL_ON_CALLBACK_ERROR", _bool, True),
    "exit_when_done": Setting("--exit-when-done", "GSCEN_EXIT_WHEN_DONE", _bool, False),
    "events_log": Setting("--events-log", "GSCEN_EVENTS_LOG", _choice("all", "problems"), "all"),
    "connect_timeout": Setting("--connect-timeout", None, _float(0.0, above=True), 30.0),
    "sync_timeout": Setting("--sync-timeout", None, _float(0.0, above=True), 300.0),
    "requested_id": Setting("--peer-id", "GSCEN_PEER_ID", _int(1)),
    "publish_host": Setting("--publish-host", "GSCEN_PUBLISH_HOST", _bool, False),
    "log_level": Setting("--log-level", "GUMBY_LOG_LEVEL", str, "INFO"),
    "seed": Setting("--seed", SEED_VARIABLE, _int(0)),
    "rejoin": Setting("--rejoin", REJOIN_VARIABLE, _int(1)),
}


def peer_settings(given: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[PeerConfig, str]:
    """The peer's config and log level: each setting from `given` (flags already read; None when not
    given), else its environment variable (empty counts as unset), else its default.

    Raises PeerSettingError for a variable that cannot be read, or when neither a plan nor a scenario
    nor a sync port is given.
    """
    values: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        value = given.get(name)
        if value is None and setting.variable is not None:
            text = environ.get(setting.variable, "").strip()
            if text:
                try:
                    value = setting.parse(text)
                except ValueError as exc:
                    raise PeerSettingError(setting.flag, setting.variable, str(exc)) from None
        values[name] = setting.default if value is None else value
    if values["plan"] is None and values["scenario"] is None:
        raise PeerSettingError("--plan", "GSCEN_PLAN_FILE", "give a plan file, or --scenario (SCENARIO_FILE)")
    if values["sync_port"] is None:
        raise PeerSettingError("--sync-port", "SYNC_PORT", "the sync server's port is required")
    experiment_dir: Path | None = values["experiment_dir"]
    if experiment_dir is None and values["scenario"] is not None:
        experiment_dir = Path(values["scenario"]).resolve().parent
    config = PeerConfig(
        sync_host=values["sync_host"],
        sync_port=values["sync_port"],
        output_dir=Path(values["output_dir"]),
        plan=values["plan"],
        scenario=values["scenario"],
        instances=values["instances"],
        token=values["token"] or None,
        experiment_dir=experiment_dir.resolve() if experiment_dir is not None else None,
        experiment_time=values["experiment_time"] or None,
        fail_on_callback_error=values["fail_on_callback_error"],
        exit_when_done=values["exit_when_done"],
        events_log=values["events_log"],
        connect_timeout=values["connect_timeout"],
        sync_timeout=values["sync_timeout"],
        requested_id=values["requested_id"],
        publish_host=values["publish_host"],
        seed=values["seed"],
        rejoin=values["rejoin"],
    )
    return config, str(values["log_level"])


def start_logging(level: str, experiment_dir: Path | None) -> PeerIdFilter:
    """Log as a peer does (see peer.py); EXPERIMENT_DIR/logger.conf, when there is one, configures it
    instead. Raises PeerSettingError for an unknown level, LoggingConfigError for a logger.conf that
    cannot be used."""
    try:
        log_filter = configure_logging(level)
    except ValueError:
        raise PeerSettingError("--log-level", "GUMBY_LOG_LEVEL", f"unknown log level {level!r}") from None
    logger_conf = experiment_dir / "logger.conf" if experiment_dir is not None else None
    if logger_conf is not None and logger_conf.is_file():
        import logging.config

        try:
            logging.config.fileConfig(logger_conf, disable_existing_loggers=False)
        except Exception as exc:
            raise LoggingConfigError(f"{logger_conf}: not a usable logging configuration: {exc}") from None
    return log_filter


def main(argv: Sequence[str] | None = None) -> None:
    """Run one peer from the environment (`python -m scenario_lang.runtime.peer_entry`); exit its code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args:
        sys.stderr.write(
            f"usage: python -m {PEER_MODULE} (settings from the environment; flags: gscen peer)\n"
        )
        sys.exit(2)
    die_with_guard(os.environ)
    try:
        config, level = peer_settings({}, os.environ)
        log_filter = start_logging(level, config.experiment_dir)
    except PeerSettingError as exc:
        sys.stderr.write(f"gscen peer: error: {exc}\n")
        sys.exit(2)
    except LoggingConfigError as exc:
        sys.stderr.write(f"gscen peer: error: {exc}\n")
        sys.exit(1)
    sys.exit(run_peer(config, log_filter).exit_code)


if __name__ == "__main__":
    main()
