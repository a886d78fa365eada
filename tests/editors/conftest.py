"""Fixtures for the editor tests (helpers in editor_harness.py, beside this file)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# --import-mode=importlib does not put this folder on sys.path; the tests import editor_harness.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from editor_harness import ScenarioProject, write_scenario_project


@pytest.fixture(scope="module")
def scenario_project(tmp_path_factory: pytest.TempPathFactory) -> ScenarioProject:
    return write_scenario_project(tmp_path_factory.mktemp("project"))
