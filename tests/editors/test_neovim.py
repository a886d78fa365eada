"""Neovim (Debian's 0.7) with editors/neovim/gscen.lua, driven headless, shows gscen's diagnostics."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from editor_harness import (
    DIAGNOSTICS_TIMEOUT_S,
    EDITORS,
    EditorDiagnostic,
    ScenarioProject,
    gscen_check_diagnostics,
    isolated_editor_environment,
)

NVIM = shutil.which("nvim")
DRIVER = Path(__file__).with_name("nvim_diagnostics.lua")

pytestmark = pytest.mark.skipif(
    NVIM is None, reason="nvim is not installed (.ci/editors.sh installs Debian's neovim)"
)


def run_neovim_on(project: ScenarioProject, home: Path) -> dict[str, Any]:
    """Open the project's scenario in headless Neovim and return what the driver saw."""
    assert NVIM is not None
    out = home / "nvim-result.json"
    env = isolated_editor_environment(home)
    env.update(project.editor_test_environment())
    env.update(GSCEN_TEST_CONFIG=str(EDITORS / "neovim" / "gscen.lua"), GSCEN_TEST_OUT=str(out))
    completed = subprocess.run(
        [NVIM, "--headless", "--noplugin", "-n", "-i", "NONE", "-u", str(DRIVER)],
        cwd=project.root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DIAGNOSTICS_TIMEOUT_S + 30,
        check=False,
    )
    assert out.is_file(), f"nvim wrote no result (exit {completed.returncode}): {completed.stderr}"
    result: dict[str, Any] = json.loads(out.read_text())
    assert "error" not in result, result["error"]
    return result


@pytest.fixture(scope="module")
def neovim_result(
    scenario_project: ScenarioProject, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return run_neovim_on(scenario_project, tmp_path_factory.mktemp("nvim-home"))


def lsp_log_tail(result: dict[str, Any]) -> str:
    log = Path(result.get("lsp_log", ""))
    return log.read_text()[-3000:] if log.is_file() else "(no LSP log)"


def syntax_group_at(result: dict[str, Any], project: ScenarioProject, line: int, text: str) -> str:
    """The syntax group Neovim gives the first `text` on `line` (1-based) of the project's scenario."""
    source = project.scenario.read_text(encoding="utf-8").splitlines()[line - 1]
    column = len(source[: source.index(text)].encode()) + 1  # Neovim's columns count bytes
    groups = [run["group"] for run in result["syntax"] if run["line"] == line and run["column"] <= column]
    return str(groups[-1]) if groups else ""


def shown_diagnostics(result: dict[str, Any], project: ScenarioProject) -> set[EditorDiagnostic]:
    """What Neovim shows, with its 0-based byte columns turned into gscen's 1-based code points."""
    lines = project.scenario.read_text(encoding="utf-8").splitlines()
    shown = set()
    for d in result["diagnostics"]:
        before = lines[d["lnum"]].encode()[: d["col"]].decode()
        shown.add(EditorDiagnostic(d["code"], d["lnum"] + 1, len(before) + 1))
    return shown


def test_neovim_sets_the_scenario_filetype_with_hash_comments(neovim_result: dict[str, Any]) -> None:
    assert neovim_result["filetype"] == "scenario"
    assert neovim_result["commentstring"] == "# %s"


def test_neovim_attaches_the_gscen_language_server(neovim_result: dict[str, Any]) -> None:
    assert neovim_result["clients"] == ["gscen"]


def test_neovim_shows_the_error_with_gscens_code_at_its_line_and_column(
    neovim_result: dict[str, Any], scenario_project: ScenarioProject
) -> None:
    code = scenario_project.error_code
    assert neovim_result["arrived"], f"no {code} in time; {lsp_log_tail(neovim_result)}"
    line, column = scenario_project.error_line, scenario_project.error_column
    assert EditorDiagnostic(code, line, column) in shown_diagnostics(neovim_result, scenario_project)
    error = 1  # vim.diagnostic.severity.ERROR
    assert [d["severity"] for d in neovim_result["diagnostics"] if d["code"] == code] == [error]


def test_neovim_shows_the_same_diagnostics_as_gscen_check(
    neovim_result: dict[str, Any], scenario_project: ScenarioProject
) -> None:
    expected = gscen_check_diagnostics(scenario_project.scenario)
    assert shown_diagnostics(neovim_result, scenario_project) == expected


def test_neovim_clears_the_diagnostic_when_the_line_is_fixed_in_the_buffer(
    neovim_result: dict[str, Any],
) -> None:
    assert neovim_result.get("cleared_after_fix"), f"{neovim_result}; {lsp_log_tail(neovim_result)}"
    assert neovim_result["diagnostics_after_fix"] == []


def test_neovim_highlights_comments_directives_and_event_parts(
    neovim_result: dict[str, Any], scenario_project: ScenarioProject
) -> None:
    def group(line: int, text: str) -> str:
        return syntax_group_at(neovim_result, scenario_project, line, text)

    assert group(1, "one good event") == "scenarioComment"
    assert (group(2, "&module"), group(2, "mymod.MyModule")) == ("scenarioDirective", "scenarioDirectiveArg")
    assert (group(3, "@!"), group(3, "set")) == ("scenarioTime", "scenarioCallback")
    assert (group(4, "@0:1"), group(4, "write_peer_id"), group(4, "{1}")) == (
        "scenarioTime",
        "scenarioCallback",
        "scenarioPeers",
    )
    assert (group(5, '"hello'), group(5, "$key"), group(5, "count")) == (
        "scenarioString",
        "scenarioVariable",
        "scenarioNamedKey",
    )
    assert [group(6, keyword + " ") for keyword in ("for", "in", "to", "call")] == ["scenarioLoopKeyword"] * 4
    assert (group(6, "query"), group(6, "a#b"), group(6, "$i")) == (
        "scenarioCallback",
        "",
        "scenarioVariable",
    )


def test_neovim_hover_right_after_an_edit_answers_for_the_edited_text(neovim_result: dict[str, Any]) -> None:
    assert neovim_result["hover_after_edit"].startswith("`$key` = `xyz`"), neovim_result["hover_after_edit"]
