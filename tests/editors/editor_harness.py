"""Helpers for the editor tests: a scenario project on disk, the `gscen lsp` command, what `gscen
check` reports for it (the diagnostics every editor should show), and an isolated editor home."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EDITORS = REPO / "editors"

# Generous: the first start of the server compiles the grammar and may fill the check cache.
DIAGNOSTICS_TIMEOUT_S = 60.0

MODULE_SOURCE = '''\
from scenario_lang import ExperimentModule, experiment_callback


class MyModule(ExperimentModule):
    @experiment_callback
    def write_peer_id(self) -> None:
        """Write the id."""

    @experiment_callback
    def query(self, text: str, count: int = 1) -> None:
        """Query `text` `count` times."""
'''

# Every line kind the editors highlight; only the last line is wrong.
SCENARIO_SOURCE = """\
# one good event of each kind, then a misspelled named argument after non-ASCII text (SC304, line 7)
&module mymod.MyModule
@! set key abc
@0:1 write_peer_id {1}
@0:2 query "hello $key" count=2 {1-2}
@0:3 for i in 1 to 2 call query a#b {$i}
@0:4 query "😀 é" cnt=2 {1}
"""


@dataclass(frozen=True)
class ScenarioProject:
    """A folder with a module and a scenario whose line `error_line` (1-based) has `error_code` at
    `error_column` (1-based, in code points, after an emoji: editors count UTF-8 bytes or UTF-16
    units); replacing that line with `fixed_line` makes the scenario clean."""

    root: Path
    scenario: Path
    error_code: str
    error_line: int
    error_column: int
    fixed_line: str

    def editor_test_environment(self) -> dict[str, str]:
        """The GSCEN_TEST_* parameters of the editor drivers, for this project."""
        return {
            "GSCEN_TEST_LSP_CMD": json.dumps(gscen_lsp_command()),
            "GSCEN_TEST_FILE": str(self.scenario),
            "GSCEN_TEST_EXPECT_CODE": self.error_code,
            "GSCEN_TEST_FIX_LINE": str(self.error_line),
            "GSCEN_TEST_FIX_TEXT": self.fixed_line,
            "GSCEN_TEST_TIMEOUT_MS": str(int(DIAGNOSTICS_TIMEOUT_S * 1000)),
        }


@dataclass(frozen=True)
class EditorDiagnostic:
    """A diagnostic as an editor shows it, reduced to what `gscen check` also reports: the code and
    where it starts (1-based line and column, the column in code points)."""

    code: str
    line: int
    column: int


def write_scenario_project(root: Path) -> ScenarioProject:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "editor-test"\nversion = "0"\n')
    (root / "mymod.py").write_text(MODULE_SOURCE)
    scenario = root / "t.scenario"
    scenario.write_text(SCENARIO_SOURCE)
    return ScenarioProject(
        root=root,
        scenario=scenario,
        error_code="SC304",
        error_line=7,
        error_column=18,
        fixed_line='@0:4 query "😀 é" count=2 {1}',
    )


def gscen_executable() -> str:
    """The `gscen` installed with the Python running the tests (else the one on PATH)."""
    beside_python = Path(sys.executable).parent / "gscen"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("gscen")
    if found is None:
        pytest.fail("the gscen executable is not installed (pip install .)")
    return found


def gscen_lsp_command() -> list[str]:
    """How the editors start the server: `gscen lsp`, unless GSCEN_TEST_LSP_COMMAND names another
    command line (to try the editor setups against a server build elsewhere)."""
    override = os.environ.get("GSCEN_TEST_LSP_COMMAND")
    if override:
        return shlex.split(override)
    return [gscen_executable(), "lsp"]


def gscen_check_diagnostics(scenario: Path) -> set[EditorDiagnostic]:
    """What `gscen check --format json` reports for `scenario`, as (code, line) pairs."""
    completed = subprocess.run(
        [gscen_executable(), "check", "--format", "json", scenario.name],
        cwd=scenario.parent,
        capture_output=True,
        text=True,
        timeout=DIAGNOSTICS_TIMEOUT_S,
        check=False,
    )
    report = json.loads(completed.stdout)
    return {EditorDiagnostic(d["code"], d["line"], d["column"]) for d in report["diagnostics"]}


def isolated_editor_environment(home: Path) -> dict[str, str]:
    """The test's environment with HOME and XDG folders in `home`: no user config, no shared state."""
    env = dict(os.environ)
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        folder = home / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    env["PATH"] = os.pathsep.join([str(Path(gscen_executable()).parent), env.get("PATH", "")])
    return env
