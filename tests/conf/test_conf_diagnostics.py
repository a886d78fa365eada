"""SC6xx diagnostics of the experiment-file loader: one failing and one passing fixture per code,
asserting the code and the span (line, column), never the wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario_lang.conf import ConfigLoad, load_experiment_config
from scenario_lang.diagnostics import CODES, Severity

DATA = Path(__file__).parent / "data"


def load(name: str, environ: dict[str, str] | None = None) -> ConfigLoad:
    return load_experiment_config(DATA / name, environ or {})


def found(result: ConfigLoad) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in result.diagnostics]


def spans(result: ConfigLoad, code: str) -> list[tuple[int, int, int, int]]:
    return [
        (d.span.line, d.span.column, d.span.end_line, d.span.end_column)
        for d in result.diagnostics
        if d.code == code
    ]


# --- clean files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "minimal.conf",
        "interpolation.conf",
        "unique_port.conf",
        "upper_key.conf",
        "workspace_scenario.conf",
        "venv_disabled.conf",
        "venv_missing.conf",
    ],
)
def test_valid_file_has_no_diagnostics(name: str) -> None:
    assert found(load(name)) == []


def test_every_emitted_code_is_in_the_table_with_its_severity() -> None:
    names = sorted(p.name for p in DATA.glob("*.conf"))
    for name in names:
        for d in load(name, {"HOME": "/nonexistent-home"}).diagnostics:
            assert d.code in CODES
            assert d.severity is CODES[d.code].severity


# --- SC601: cannot read ----------------------------------------------------------------------


def test_missing_file_is_sc601_and_gives_no_config() -> None:
    result = load("does_not_exist.conf")
    assert result.config is None
    assert found(result) == [("SC601", 1, 1)]
    assert result.has_errors


def test_folder_instead_of_file_is_sc601() -> None:
    result = load("workspace")
    assert result.config is None
    assert [d.code for d in result.diagnostics] == ["SC601"]


def test_non_utf8_file_is_sc601() -> None:
    result = load("not_utf8.conf")
    assert result.config is None
    assert found(result) == [("SC601", 1, 1)]


def test_binary_file_is_sc601(tmp_path: Path) -> None:
    path = tmp_path / "binary.conf"
    path.write_bytes(b"key = \x00\x01\x02\n")
    result = load_experiment_config(path, {})
    assert [d.code for d in result.diagnostics] == ["SC601"]


# --- SC602: wrong types ------------------------------------------------------------------------


def test_wrong_types_are_sc602_at_the_value() -> None:
    result = load("bad_types.conf")
    assert spans(result, "SC602") == [
        (4, 20, 4, 23),  # instances_to_run = abc (the issue's `exp.conf:4:20`)
        (5, 19, 5, 21),  # experiment_time = -5
        (6, 13, 6, 18),  # sync_port = 70000
        (7, 22, 7, 27),  # sync_require_token = maybe
        (8, 22, 8, 28),  # local_instance_cmd = 🙂, __x  (a list; columns in code points)
        (9, 31, 9, 35),  # sync_experiment_start_delay = soon
        (10, 8, 10, 10),  # seed = -3
    ]
    assert {d.code for d in result.diagnostics} == {"SC602"}


def test_wrong_type_leaves_the_typed_field_unset() -> None:
    config = load("bad_types.conf").config
    assert config is not None
    assert config.instances_to_run is None
    assert config.experiment_time is None
    assert config.sync_port is None
    assert config.sync_require_token is True  # the default stays
    assert config.seed is None
    assert config.get("instances_to_run") is not None  # the raw entry is kept and exported


def test_valid_types_are_converted() -> None:
    config = load("minimal.conf").config
    assert config is not None
    assert config.instances_to_run == 3
    assert config.experiment_time == 12.5
    assert config.sync_port == 12345
    assert config.sync_host == "127.0.0.1"
    assert config.sync_experiment_start_delay == 2.0
    assert config.use_local_venv is False
    assert config.sync_require_token is False
    assert config.fail_on_callback_error is False
    assert config.experiment_name == "minimal"
    assert config.seed == 42


# --- SC603: duplicate keys -------------------------------------------------------------------


def test_duplicate_key_is_sc603_at_the_second_key() -> None:
    result = load("duplicate.conf")
    # the second `local_setup_cmd` is indented; the second `post_process_cmd` is triple-quoted over
    # two lines (ConfigObj reports the closing line, 8; the diagnostic points at the key on line 7)
    assert spans(result, "SC603") == [(4, 3, 4, 18), (7, 1, 7, 17)]
    assert {d.code for d in result.diagnostics} == {"SC603"}


def test_duplicate_keeps_the_first_value() -> None:
    config = load("duplicate.conf").config
    assert config is not None
    assert config.local_setup_cmd == "first.sh"
    assert config.post_process_cmd == "one\ntwo"


# --- SC604: malformed ----------------------------------------------------------------------------


def test_malformed_lines_are_sc604_and_loading_goes_on() -> None:
    result = load("malformed.conf")
    assert found(result) == [("SC604", 2, 1), ("SC604", 3, 1)]
    config = result.config
    assert config is not None
    assert config.post_process_cmd == "ok.sh"  # the line after the errors still counts


def test_sections_are_one_sc604_at_the_first_section() -> None:
    result = load("sections.conf")
    assert spans(result, "SC604") == [(2, 1, 2, 10)]
    assert result.config is not None and result.config.experiment_name == "sections"


def test_failed_interpolation_is_sc604_at_the_value() -> None:
    result = load("interpolation_missing.conf")
    assert spans(result, "SC604") == [(2, 14, 2, 29)]


def test_interpolation_works_as_configobj_does() -> None:
    config = load("interpolation.conf").config
    assert config is not None
    assert config.output_dir == "results/run1"
    entry = config.get("netem_packet_loss")
    assert entry is not None and entry.value == "0%"  # a lone % is not interpolation


# --- SC605: scenario file ---------------------------------------------------------------------


def test_missing_scenario_is_sc605_at_the_value() -> None:
    result = load("missing_scenario.conf")
    assert spans(result, "SC605") == [(3, 17, 3, 32)]
    assert result.config is not None and result.config.scenario_path is None


def test_scenario_that_is_a_folder_is_sc605() -> None:
    assert found(load("scenario_is_folder.conf")) == [("SC605", 1, 17)]


def test_scenario_is_found_beside_the_conf() -> None:
    config = load("minimal.conf").config
    assert config is not None
    assert config.scenario_path == DATA / "minimal.scenario"


def test_scenario_is_found_in_the_workspace_after_the_conf_folder() -> None:
    config = load("workspace_scenario.conf").config
    assert config is not None
    assert config.workspace_path == DATA / "workspace"
    assert config.scenario_path == DATA / "workspace" / "in_workspace.scenario"


def test_absolute_scenario_path_is_used_as_is(tmp_path: Path) -> None:
    scenario = tmp_path / "abs.scenario"
    scenario.write_text("@0:1 echo hi\n")
    conf = tmp_path / "sub" / "abs.conf"
    conf.parent.mkdir()
    conf.write_text(f"scenario_file = {scenario}\n")
    result = load_experiment_config(conf, {})
    assert found(result) == []
    assert result.config is not None and result.config.scenario_path == scenario


# --- SC606: port placeholders ------------------------------------------------------------------


def test_unknown_placeholder_is_sc606_with_a_fix() -> None:
    result = load("placeholder_typo.conf")
    assert spans(result, "SC606") == [(2, 13, 2, 28)]
    assert [d.code for d in result.diagnostics] == ["SC606"]  # not also SC602
    assert result.diagnostics[0].replacement == "__unique_port__"


def test_unique_port_placeholder_is_not_sc606() -> None:
    assert found(load("unique_port.conf")) == []


# --- SC607: keys differing in case ----------------------------------------------------------


def test_keys_differing_only_in_case_are_sc607_and_the_later_wins() -> None:
    result = load("case_keys.conf")
    assert spans(result, "SC607") == [(3, 1, 3, 14)]
    assert result.diagnostics[0].severity is Severity.WARNING
    config = result.config
    assert config is not None
    assert config.scenario_file == "workspace/in_workspace.scenario"
    assert [e.key for e in config.entries if e.key.lower() == "scenario_file"] == ["SCENARIO_FILE"]


def test_upper_case_key_alone_is_the_known_key() -> None:
    config = load("upper_key.conf").config
    assert config is not None
    assert config.scenario_file == "minimal.scenario"  # not overwritten by a default, unlike Gumby
    assert config.scenario_variables()["SCENARIO_FILE"] == "minimal.scenario"


# --- SC609: settings gscen ignores -------------------------------------------------------------


def test_head_nodes_are_sc609() -> None:
    result = load("head_nodes.conf")
    assert spans(result, "SC609") == [(2, 14, 2, 38)]
    assert not result.has_errors


def test_existing_virtualenv_that_gumby_would_activate_is_sc609() -> None:
    assert spans(load("venv_used.conf"), "SC609") == [(3, 18, 3, 26)]


def test_virtualenv_is_not_sc609_when_disabled_or_absent() -> None:
    assert found(load("venv_disabled.conf")) == []
    assert found(load("venv_missing.conf")) == []


def test_empty_head_nodes_list_is_not_sc609() -> None:
    config = load("minimal.conf").config
    assert config is not None
    entry = config.get("head_nodes")
    assert entry is not None and entry.value == ()


# --- spans and lines ---------------------------------------------------------------------------


def test_crlf_and_bom_files_keep_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "crlf.conf"
    path.write_bytes("\ufeffexperiment_name = x\r\n\r\ninstances_to_run = abc\r\n".encode())
    assert spans(load_experiment_config(path, {}), "SC602") == [(3, 20, 3, 23)]


def test_quoted_value_span_includes_quotes_and_stops_before_comment() -> None:
    config = load("minimal.conf").config
    assert config is not None
    entry = config.get("community_type")
    assert entry is not None and entry.value_span is not None
    span = entry.value_span
    assert (span.line, span.column, span.end_column) == (16, 18, 24)
    extra = config.get("extra_list")
    assert extra is not None and extra.value_span is not None
    assert (extra.value_span.column, extra.value_span.end_column) == (14, 28)


def test_diagnostics_name_the_path_as_given() -> None:
    result = load_experiment_config(str(DATA / "bad_types.conf"), {})
    assert {d.span.path for d in result.diagnostics} == {str(DATA / "bad_types.conf")}


def test_conf_module_imports_nothing_from_runtime_or_lsp() -> None:
    import ast

    import scenario_lang.conf as conf

    tree = ast.parse(Path(conf.__file__).read_text(encoding="utf-8"))
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append("." * node.level + (node.module or ""))
    assert not [name for name in imported if "runtime" in name or "lsp" in name]
