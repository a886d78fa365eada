"""The command line: exit codes, JSON shapes, unreadable input, rendered diagnostics (golden)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_lang.cli import cli

CASES = Path(__file__).resolve().parent.parent / "check" / "cases"
GOLDEN = Path(__file__).resolve().parent / "golden"


def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = runner.invoke(
            cli, list(args), catch_exceptions=False, env={"NO_COLOR": "1", "COLUMNS": "200"}
        )
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def test_check_exits_0_on_a_clean_file_and_1_on_errors() -> None:
    assert run("check", "--no-cache", str(CASES / "clean.scenario"))[0] == 0
    code, _, err = run("check", "--no-cache", "--instances", "4", str(CASES / "callbacks.scenario"))
    assert code == 1 and "error[SC301]" in err and "help: did you mean `write_peer_id`?" in err


def test_check_exits_0_with_only_warnings(tmp_path: Path) -> None:
    (tmp_path / "w.scenario").write_text("@0:1 set x y\n", encoding="utf-8")
    code, _, err = run("check", "--no-cache", str(tmp_path / "w.scenario"))
    assert code == 0 and "warning[SC402]" in err


def test_usage_errors_exit_2() -> None:
    assert run("check")[0] == 2
    assert run("check", "--instances", "zero", "x.scenario")[0] == 2
    assert run("plan", "--peer", "a-b", str(CASES / "clean.scenario"))[0] == 2


def test_check_json_is_one_object_with_the_documented_fields() -> None:
    code, out, _ = run(
        "check", "--no-cache", "--format", "json", "--instances", "4", str(CASES / "peers_time.scenario")
    )
    data = json.loads(out)
    assert code == 1 and data["files"] == [str(CASES / "peers_time.scenario")]
    first = data["diagnostics"][0]
    assert {
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "severity",
        "code",
        "message",
        "suggestion",
    } <= set(first)
    assert first["severity"] in ("error", "warning", "info")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\x00\x01binary", "binary"), (b"@0 echo caf\xe9\n", "not valid UTF-8")],
)
def test_unreadable_input_is_an_sc105_error_not_a_traceback(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "x.scenario"
    path.write_bytes(content)
    code, _, err = run("check", "--no-cache", str(path))
    assert code == 1 and "error[SC105]" in err and message in err and "Traceback" not in err


def test_missing_file_and_folder_are_sc105_errors(tmp_path: Path) -> None:
    code, _, err = run("check", "--no-cache", str(tmp_path / "nope.scenario"), str(tmp_path))
    assert code == 1 and err.count("error[SC105]") == 2


def test_rendered_diagnostics_match_the_golden_file(update_goldens: bool) -> None:
    _, _, err = run("check", "--no-cache", "--instances", "4", "syntax.scenario", cwd=CASES)
    golden = GOLDEN / "syntax.txt"
    if update_goldens:
        golden.write_text(err, encoding="utf-8")
    assert err == golden.read_text(encoding="utf-8")


def test_plan_json_per_peer_form_lists_each_peer_in_execution_order() -> None:
    code, out, _ = run(
        "plan", "--format", "json", "--instances", "6", "--peer", "1-2", str(CASES / "clean.scenario")
    )
    data = json.loads(out)
    assert code == 0 and set(data["peers"]) == {"1", "2"}
    times = [e["time"] for e in data["peers"]["2"]]
    immediate = [t for t in times if t is None]
    assert times[: len(immediate)] == immediate and times[len(immediate) :] == sorted(times[len(immediate) :])
    assert all("peers" not in e for e in data["peers"]["2"])


def test_plan_refuses_a_file_with_errors() -> None:
    code, out, err = run("plan", "--instances", "4", str(CASES / "callbacks.scenario"))
    assert code == 1 and out == "" and "no plan" in err


def test_plan_text_shows_times_peers_and_sources() -> None:
    code, out, _ = run("plan", "--instances", "6", str(CASES / "clean.scenario"))
    assert code == 0
    assert "0:00:00.500" in out and "start_queries 10d00d55" in out and "clean.scenario:" in out


def test_plan_png_is_written(tmp_path: Path) -> None:
    target = tmp_path / "timeline.png"
    code, _, _ = run("plan", "--instances", "6", "--png", str(target), str(CASES / "clean.scenario"))
    assert code == 0 and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fmt_check_and_diff_report_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "f.scenario"
    path.write_text("@0:1  echo a {1 ,2}\n", encoding="utf-8")
    assert run("fmt", "--check", str(path))[0] == 1
    code, out, _ = run("fmt", "--diff", str(path))
    assert code == 1 and "+@0:1 echo a {1,2}" in out
    assert path.read_text(encoding="utf-8") == "@0:1  echo a {1 ,2}\n"
    assert run("fmt", str(path))[0] == 0
    assert path.read_text(encoding="utf-8") == "@0:1 echo a {1,2}\n"
    assert run("fmt", "--check", str(path))[0] == 0


def test_warm_cache_gives_the_same_diagnostics(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}
    cmd = [
        sys.executable,
        "-m",
        "scenario_lang.cli",
        "check",
        "--format",
        "json",
        "--instances",
        "4",
        str(CASES / "callbacks.scenario"),
    ]
    cold = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    warm = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert cold.returncode == warm.returncode == 1
    assert json.loads(cold.stdout) == json.loads(warm.stdout)
    assert list((tmp_path / "cache").rglob("*.json"))


def test_cache_is_invalidated_when_a_module_source_changes(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}
    (tmp_path / "m.py").write_text(
        "from scenario_lang import ExperimentModule, experiment_callback\n"
        "class M(ExperimentModule):\n    @experiment_callback\n    def go(self, n: int) -> None: ...\n",
        encoding="utf-8",
    )
    (tmp_path / "s.scenario").write_text("&module m.M\n@0:1 go 5\n", encoding="utf-8")
    cmd = [
        sys.executable,
        "-m",
        "scenario_lang.cli",
        "check",
        "--format",
        "json",
        str(tmp_path / "s.scenario"),
    ]
    assert subprocess.run(cmd, capture_output=True, env=env, check=False).returncode == 0
    (tmp_path / "m.py").write_text((tmp_path / "m.py").read_text().replace("n: int", "n: int, m: int"))
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert again.returncode == 1 and "SC302" in again.stdout
