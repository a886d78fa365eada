"""Emacs (Debian's 28 with elpa-eglot) loading editors/emacs/gscen-scenario.el, driven in batch mode,
shows gscen's diagnostics through eglot and Flymake, and highlights scenario syntax."""

from __future__ import annotations

import json
import re
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

EMACS = shutil.which("emacs")
DRIVER = Path(__file__).with_name("emacs_diagnostics.el")
# eglot 1.9 shows a diagnostic as "SOURCE [CODE]: MESSAGE"
CODE_IN_TEXT = re.compile(r"\[(SC\d+)\]")

pytestmark = pytest.mark.skipif(
    EMACS is None, reason="emacs is not installed (.ci/editors.sh installs Debian's emacs-nox and elpa-eglot)"
)


def run_emacs_on(project: ScenarioProject, home: Path) -> dict[str, Any]:
    """Open the project's scenario in batch Emacs and return what the driver saw."""
    assert EMACS is not None
    out = home / "emacs-result.json"
    env = isolated_editor_environment(home)
    env.update(project.editor_test_environment())
    env.update(GSCEN_TEST_CONFIG=str(EDITORS / "emacs" / "gscen-scenario.el"), GSCEN_TEST_OUT=str(out))
    # Not -Q: Debian's site-start puts elpa-eglot on the load path, as for a user.
    completed = subprocess.run(
        [EMACS, "--batch", "-l", str(DRIVER)],
        cwd=project.root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DIAGNOSTICS_TIMEOUT_S + 30,
        check=False,
    )
    assert out.is_file(), f"emacs wrote no result (exit {completed.returncode}): {completed.stderr}"
    result: dict[str, Any] = json.loads(out.read_text())
    assert "error" not in result, f"{result['error']}; server stderr: {result.get('server_stderr')}"
    return result


@pytest.fixture(scope="module")
def emacs_result(
    scenario_project: ScenarioProject, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return run_emacs_on(scenario_project, tmp_path_factory.mktemp("emacs-home"))


def shown_diagnostics(result: dict[str, Any]) -> set[EditorDiagnostic]:
    """What Emacs shows, with its 0-based character columns turned into gscen's 1-based ones."""
    shown = set()
    for d in result["diagnostics"]:
        match = CODE_IN_TEXT.search(d["text"])
        assert match is not None, f"no gscen code in {d['text']!r}"
        shown.add(EditorDiagnostic(match[1], d["line"], d["column"] + 1))
    return shown


def face_at(result: dict[str, Any], project: ScenarioProject, line: int, text: str) -> str:
    """The font-lock face Emacs gives the first `text` on `line` (1-based) of the project's scenario."""
    column = project.scenario.read_text(encoding="utf-8").splitlines()[line - 1].index(text)
    for run in result["faces"]:
        if run["line"] == line and run["column"] <= column < run["column"] + len(run["text"]):
            return str(run["face"])
    return "default"


def test_emacs_opens_scenario_files_in_gscen_scenario_mode(emacs_result: dict[str, Any]) -> None:
    assert emacs_result["mode"] == "gscen-scenario-mode"
    assert emacs_result["comment_start"] == "# "


def test_emacs_starts_eglot_with_the_gscen_scenario_language_id(emacs_result: dict[str, Any]) -> None:
    assert emacs_result["language_id"] == "gscen-scenario"
    assert emacs_result["flymake"] is True


def test_emacs_shows_the_error_with_gscens_code_at_its_line_and_column(
    emacs_result: dict[str, Any], scenario_project: ScenarioProject
) -> None:
    code = scenario_project.error_code
    assert emacs_result["arrived"], f"no {code} in time; server stderr: {emacs_result['server_stderr']}"
    line, column = scenario_project.error_line, scenario_project.error_column
    assert EditorDiagnostic(code, line, column) in shown_diagnostics(emacs_result)
    assert [d["type"] for d in emacs_result["diagnostics"] if f"[{code}]" in d["text"]] == ["eglot-error"]


def test_emacs_shows_the_same_diagnostics_as_gscen_check(
    emacs_result: dict[str, Any], scenario_project: ScenarioProject
) -> None:
    assert shown_diagnostics(emacs_result) == gscen_check_diagnostics(scenario_project.scenario)


def test_emacs_highlights_comments_directives_and_event_parts(
    emacs_result: dict[str, Any], scenario_project: ScenarioProject
) -> None:
    def face(line: int, text: str) -> str:
        return face_at(emacs_result, scenario_project, line, text)

    assert face(1, "#") == "font-lock-comment-delimiter-face"
    assert face(1, "one good event") == "font-lock-comment-face"
    assert (face(2, "&module"), face(2, "mymod.MyModule")) == (
        "font-lock-preprocessor-face",
        "font-lock-type-face",
    )
    assert (face(3, "@!"), face(3, "set")) == ("font-lock-keyword-face", "font-lock-function-name-face")
    assert (face(4, "@0:1"), face(4, "write_peer_id")) == (
        "font-lock-constant-face",
        "font-lock-function-name-face",
    )
    assert face(5, '"hello') == "font-lock-string-face"
    assert face(5, "$key") == "font-lock-variable-name-face"
    assert face(5, "count") == "font-lock-builtin-face"
    assert face(5, "{1-2}") == "font-lock-constant-face"
    for keyword in ("for", "in", "to", "call"):
        assert face(6, f"{keyword} ") == "font-lock-keyword-face"
    assert face(6, "i in") == "font-lock-variable-name-face"
    assert face(6, "query") == "font-lock-function-name-face"


def test_emacs_reads_a_hash_inside_a_word_as_text_not_a_comment(
    emacs_result: dict[str, Any], scenario_project: ScenarioProject
) -> None:
    assert face_at(emacs_result, scenario_project, 6, "a#b") == "default"
    assert face_at(emacs_result, scenario_project, 6, "$i") == "font-lock-variable-name-face"


def test_emacs_clears_the_diagnostic_when_the_line_is_fixed_in_the_buffer(
    emacs_result: dict[str, Any],
) -> None:
    assert emacs_result["cleared_after_fix"] is True, f"server stderr: {emacs_result['server_stderr']}"
    assert emacs_result["diagnostics_after_fix"] == []


def test_emacs_hover_right_after_an_edit_answers_for_the_edited_text(emacs_result: dict[str, Any]) -> None:
    assert emacs_result["hover_after_edit"].startswith("`$key` = `xyz`"), emacs_result["hover_after_edit"]
