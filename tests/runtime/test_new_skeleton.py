"""`gscen new DIR` writes an experiment that `gscen run` runs as it is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from scenario_lang.runtime.skeleton import SKELETON_FILES, new_command, write_skeleton


def test_new_skeleton_checks_and_runs_as_is(tmp_path: Path) -> None:
    folder = tmp_path / "my exp"
    result = CliRunner().invoke(new_command, [str(folder)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == sorted(SKELETON_FILES)
    gscen = [sys.executable, "-m", "scenario_lang.cli"]
    check = subprocess.run(
        [*gscen, "check", str(folder / "experiment.scenario")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    run = subprocess.run(
        [*gscen, "run", str(folder / "experiment.conf")], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    latest = folder / "output" / "latest"
    assert latest.is_symlink()
    summary = json.loads((latest / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["experiment"] == "my exp"
    assert (latest / "hellos.txt").read_text() == "1 2\n2 1\n3 1\n"
    assert "3 peers said hello" in run.stderr
    annotations = (latest / "annotations.csv").read_text().splitlines()
    assert annotations[0] == "peer,time,message" and len(annotations) == 4


def test_new_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(new_command, [str(tmp_path)])
    assert result.exit_code == 1
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert write_skeleton(tmp_path / "empty-ok") and (tmp_path / "empty-ok" / "experiment.conf").is_file()
