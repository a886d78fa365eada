"""Corpus tests skip when the corpus is missing, and fail under CI=true instead of passing silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS_TESTS = [
    "tests/conf/test_conf_corpus.py::test_corpus_lists_the_gumby_experiment_files",
    "tests/grammar/test_corpus_parse.py",
]


def run_corpus_tests(ci: str | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["GSCEN_CORPUS"] = str(tmp_path / "no-corpus-here")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:xdist", *CORPUS_TESTS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ci", ["true", "TRUE"])
def test_a_missing_corpus_fails_the_corpus_tests_under_ci(tmp_path: Path, ci: str) -> None:
    result = run_corpus_tests(ci, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CI=true requires it" in result.stdout and "passed" not in result.stdout.splitlines()[-1]


def test_a_missing_corpus_skips_the_corpus_tests_elsewhere(tmp_path: Path) -> None:
    result = run_corpus_tests(None, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped" in result.stdout.splitlines()[-1] and "failed" not in result.stdout
