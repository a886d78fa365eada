"""Export to the environment, `__unique_port__`, and `GUMBY_*`/`GSCEN_*` overrides."""

from __future__ import annotations

import socket
from pathlib import Path

from scenario_lang.conf import EntrySource, ExperimentConfig, load_experiment_config

DATA = Path(__file__).parent / "data"


def config_of(name: str, environ: dict[str, str] | None = None) -> ExperimentConfig:
    result = load_experiment_config(DATA / name, environ or {})
    assert result.config is not None
    return result.config


# --- export ------------------------------------------------------------------------------------


def test_every_key_is_exported_upper_cased_with_gumby_defaults_after() -> None:
    exported = config_of("export.conf").exported_variables({})
    names = list(exported)
    assert names[:3] == ["EXPERIMENT_NAME", "LOCAL_INSTANCE_CMD", "INSTANCES_TO_RUN"]
    assert {"SINGLE", "TILDE_PATH", "HEAD_NODES"} <= set(names)  # unknown keys are kept
    assert names[-7:] == [
        "WORKSPACE_DIR",
        "OUTPUT_DIR",
        "EXPERIMENT_SERVER_CMD",
        "LOCAL_SETUP_CMD",
        "POST_PROCESS_CMD",
        "VIRTUALENV_DIR",
        "SCENARIO_FILE",
    ]
    assert exported["WORKSPACE_DIR"] == "./"
    assert exported["OUTPUT_DIR"] == "output"
    assert exported["EXPERIMENT_SERVER_CMD"] == "experiment_server.py"
    assert exported["SCENARIO_FILE"] == ""


def test_export_formats_lists_and_booleans_as_python_str() -> None:
    exported = config_of("export.conf").exported_variables({})
    assert exported["HEAD_NODES"] == "['a@b', 'c@d']"
    assert exported["SINGLE"] == "['x']"  # a trailing comma makes a one-element list
    assert exported["USE_LOCAL_VENV"] == "True"  # `yes`, a typed boolean
    assert exported["SYNC_EXPERIMENT_START_DELAY"] == "3"  # Gumby's int key, normalised
    assert exported["INSTANCES_TO_RUN"] == "07"  # not a Gumby spec key: exported as written


def test_export_expands_references_between_keys_in_any_order() -> None:
    exported = config_of("export.conf").exported_variables({"HOME": "/home/u"})
    # instances_to_run comes after local_instance_cmd in the file
    assert exported["LOCAL_INSTANCE_CMD"].startswith("run -n 07 -o output ")


def test_run_variables_win_over_keys_in_expansion_and_environment() -> None:
    config = config_of("export.conf")
    env = config.environment({"HOME": "/home/u", "PATH": "/bin"}, {"OUTPUT_DIR": "/abs/out"})
    assert env["LOCAL_INSTANCE_CMD"].startswith("run -n 07 -o /abs/out ")
    assert env["OUTPUT_DIR"] == "/abs/out"
    assert env["PATH"] == "/bin"


def test_unknown_variable_stays_literal() -> None:
    exported = config_of("export.conf").exported_variables({})
    assert "-x $UNDEFINED_THING" in exported["LOCAL_INSTANCE_CMD"]


def test_braced_variable_and_environment_lookup() -> None:
    exported = config_of("export.conf").exported_variables({"HOME": "/home/u"})
    assert exported["HOME_ALIAS"] == "/home/u"
    assert exported["LOCAL_INSTANCE_CMD"].endswith("-h /home/u")


def test_leading_tilde_expands_to_home_of_the_environment() -> None:
    exported = config_of("export.conf").exported_variables({"HOME": "/home/u"})
    assert exported["TILDE_PATH"] == "/home/u/data"
    assert exported["VIRTUALENV_DIR"] == "/home/u/venv"


def test_reference_cycle_stays_as_written() -> None:
    exported = config_of("export.conf").exported_variables({})
    assert exported["LOOP_A"] == "$LOOP_B"
    assert exported["LOOP_B"] == "$LOOP_A"


def test_keys_win_over_the_base_environment() -> None:
    env = config_of("minimal.conf").environment({"COMMUNITY_TYPE": "other", "KEEP": "1"})
    assert env["COMMUNITY_TYPE"] == "search"
    assert env["KEEP"] == "1"


def test_scenario_variables_are_the_upper_cased_keys() -> None:
    table = config_of("minimal.conf").scenario_variables()
    assert table["COMMUNITY_TYPE"] == "search"
    assert table["INSTANCES_TO_RUN"] == "3"
    assert "community_type" not in table


def test_scenario_variables_take_the_runners_values_where_given() -> None:
    table = config_of("export.conf").scenario_variables({}, {"OUTPUT_DIR": "/abs/out"})
    assert table["OUTPUT_DIR"] == "/abs/out"
    assert table["LOCAL_INSTANCE_CMD"].startswith("run -n 07 -o /abs/out ")
    assert "EXPERIMENT_DIR" not in table  # run variables that are not keys stay the checker's layer


# --- __unique_port__ -----------------------------------------------------------------------------


def test_unique_port_becomes_a_bindable_port() -> None:
    config = config_of("unique_port.conf")
    assert config.sync_port is not None
    assert config.ports["sync_port"] == config.sync_port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", config.sync_port))  # really free
    assert config.exported_variables({})["SYNC_PORT"] == str(config.sync_port)


def test_each_placeholder_gets_its_own_port() -> None:
    config = config_of("unique_port.conf")
    assert set(config.ports) == {"sync_port", "tracker_port"}
    assert config.ports["sync_port"] != config.ports["tracker_port"]


def test_placeholder_inside_a_longer_value_is_not_replaced() -> None:
    entry = config_of("unique_port.conf").get("mention")
    assert entry is not None and entry.value == "port __unique_port__ inside a longer value stays"


def test_loading_never_writes_the_file_back() -> None:
    path = DATA / "unique_port.conf"
    before = path.read_bytes()
    load_experiment_config(path, {"GUMBY_SYNC_HOST": "127.0.0.1"})
    assert path.read_bytes() == before


# --- overrides -----------------------------------------------------------------------------------


def test_gumby_variable_overrides_a_key() -> None:
    config = config_of("minimal.conf", {"GUMBY_INSTANCES_TO_RUN": "9"})
    assert config.instances_to_run == 9
    entry = config.get("instances_to_run")
    assert entry is not None
    assert entry.source is EntrySource.ENVIRONMENT
    assert entry.override_variable == "GUMBY_INSTANCES_TO_RUN"


def test_gscen_variable_wins_over_gumby_variable() -> None:
    environ = {"GUMBY_INSTANCES_TO_RUN": "9", "GSCEN_INSTANCES_TO_RUN": "4"}
    assert config_of("minimal.conf", environ).instances_to_run == 4


def test_override_adds_a_lower_cased_key_that_is_exported() -> None:
    config = config_of("minimal.conf", {"GUMBY_LOG_LEVEL": "DEBUG"})
    entry = config.get("log_level")
    assert entry is not None and entry.key == "log_level"
    assert config.exported_variables({})["LOG_LEVEL"] == "DEBUG"


def test_override_is_validated_and_points_at_the_key() -> None:
    result = load_experiment_config(DATA / "minimal.conf", {"GSCEN_INSTANCES_TO_RUN": "many"})
    assert [(d.code, d.span.line, d.span.column) for d in result.diagnostics] == [("SC602", 3, 1)]
    assert "GSCEN_INSTANCES_TO_RUN" in result.diagnostics[0].notes[0]


def test_override_of_a_key_the_file_lacks_is_validated_at_the_file_start() -> None:
    result = load_experiment_config(DATA / "export.conf", {"GUMBY_SYNC_PORT": "0"})
    assert [(d.code, d.span.line, d.span.column) for d in result.diagnostics if d.code == "SC602"] == [
        ("SC602", 1, 1)
    ]


def test_override_can_ask_for_a_unique_port() -> None:
    config = config_of("minimal.conf", {"GSCEN_SYNC_PORT": "__unique_port__"})
    assert config.sync_port is not None and config.sync_port != 12345


def test_override_of_an_upper_case_key_keeps_one_entry() -> None:
    config = config_of("upper_key.conf", {"GUMBY_SCENARIO_FILE": "other.scenario"})
    assert [e.key for e in config.entries if e.key.lower() == "scenario_file"] == ["SCENARIO_FILE"]
    assert config.scenario_file == "other.scenario"


def test_unrelated_environment_variables_are_not_keys() -> None:
    config = config_of("minimal.conf", {"HOME": "/h", "GUMBY_": "empty suffix"})
    assert config.get("home") is None
    assert config.get("") is None
