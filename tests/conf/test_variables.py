"""`$NAME` / `${NAME}` expand the same in `.conf` values, `&include` targets and run commands."""

from __future__ import annotations

from pathlib import Path

from scenario_lang.runtime.steps import expand_command

from scenario_lang.conf import load_experiment_config
from scenario_lang.project import CheckOptions, analyze
from scenario_lang.variables import expand_variables, variable_names

TEXT = "run $A ${B} $C ${not a name} $ $é end"
KNOWN = {"A": "1", "B": "2"}
EXPECTED = "run 1 2 $C ${not a name} $ $é end"


def test_known_names_expand_and_unknown_ones_stay_as_written() -> None:
    assert expand_variables(TEXT, KNOWN.get) == EXPECTED
    assert variable_names(TEXT) == {"A", "B", "C", "not a name"}


def test_run_commands_expand_as_conf_values_do(tmp_path: Path) -> None:
    assert expand_command(TEXT, KNOWN) == EXPECTED
    conf = tmp_path / "x.conf"
    conf.write_text(f"experiment_name = x\nmy_value = '{TEXT}'\n")
    config = load_experiment_config(conf, KNOWN).config
    assert config is not None and config.environment(KNOWN)["MY_VALUE"] == EXPECTED


def test_include_targets_expand_with_braces_or_without(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "more.scenario").write_text("@0:1 echo included\n")
    main = tmp_path / "main.scenario"
    main.write_text("@! set DIR parts\n&include ${DIR}/more.scenario\n&include $DIR/more.scenario\n")
    analysis = analyze(str(main), CheckOptions(instances=1, environment={}, find_conf=False))
    assert not [d for d in analysis.diagnostics if d.code == "SC210"], analysis.diagnostics
