"""The examples, run end to end by `gscen run` with real processes, as the README tells a newcomer to."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def gscen_run(conf: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scenario_lang.cli", "run", str(conf), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_local_processguard_runs_two_busy_instances_under_the_guard_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = gscen_run(EXAMPLES / "local_processguard" / "local_processguard.conf", out)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    processes = summary["processes"]
    assert len(processes) == 2
    # The guard's -t 10 stops the busy loops; a timeout is not a failure (as in Gumby).
    assert all(p["stopped_by_guard"] and p["cpu_seconds"] > 1.0 for p in processes)
    for name in ("00000.out", "00001.out", "00000.err", "00001.err"):
        assert (out / name).is_file()
    assert (out / "00000.out").read_text().startswith("Starting #00000: ")
    log = (out / "resource_usage.log").read_text().splitlines()
    assert log[0].startswith("{") and len(log) > 10
    assert (out / "network_usage.log").is_file()
    assert is_png(out / "cpu.png") and is_png(out / "memory.png")
    assert summary["plots"] == ["cpu.png", "memory.png"]


@pytest.mark.parametrize("instances", [None, 12])
def test_synchronized_instances_sum_their_ids(tmp_path: Path, instances: int | None) -> None:
    out = tmp_path / "out"
    conf = EXAMPLES / "synchronized_instances" / "synchronized_instances.conf"
    args = [sys.executable, "-m", "scenario_lang.cli", "run", str(conf), "--output", str(out)]
    if instances is not None:
        args += ["--instances", str(instances)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    n = instances or 5
    assert (out / "sum_id.txt").read_text().strip() == str(n * (n + 1) // 2)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["start_instant"] is not None
    assert [p["peer"] for p in summary["peers"]] == list(range(1, n + 1))
    for peer in summary["peers"]:
        assert peer["exit_code"] == 0
        assert peer["events_fired"] == peer["events_planned"] == 2
        assert peer["events_failed"] == 0
        assert peer["lateness_ms"]["max"] is not None
        assert (out / str(peer["peer"]) / "id.txt").read_text().strip() == str(peer["peer"])
    # Every guarded process was matched to its peer (plots are labelled by peer).
    assert sorted(p["stdout"] for p in summary["peers"]) == [f"{i:05d}.out" for i in range(n)]
    assert (out / "plan.gscenplan").is_file() and (out / "resource_usage.log").is_file()
    for name in ("cpu.png", "memory.png", "events.png"):
        assert is_png(out / name)
    assert "sum of the peer ids" in result.stderr


def test_the_tutorial_confs_are_gumbys_apart_from_comments(corpus: Path) -> None:
    from configobj import ConfigObj

    for name in ("local_processguard.conf", "synchronized_instances.conf"):
        ours = ConfigObj(str(EXAMPLES / Path(name).stem / name), interpolation=False)
        gumbys = ConfigObj(str(corpus / "docs" / "tutorials" / name), interpolation=False)
        assert dict(ours) == dict(gumbys), name


def test_gumbys_own_first_tutorial_runs_unchanged_from_the_corpus(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = gscen_run(corpus / "docs" / "tutorials" / "local_processguard.conf", out)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "summary.json").read_text())["status"] == "ok"
    assert is_png(out / "cpu.png")
