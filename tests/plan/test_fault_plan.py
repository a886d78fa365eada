"""The fault and network built-ins compile into the plan like any call: converted quantities (with
the text as written), partition groups as written for every peer, process faults for their peers."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from scenario_lang.cli import cli

CASE = Path(__file__).resolve().parent.parent / "check" / "cases" / "faults_clean.scenario"


def plan_json(*extra: str) -> dict[str, object]:
    result = CliRunner().invoke(
        cli,
        ["plan", "--format", "json", "--instances", "10", *extra, str(CASE)],
        catch_exceptions=False,
        env={"NO_COLOR": "1"},
    )
    assert result.exit_code == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_quantities_are_planned_in_base_units_with_their_text() -> None:
    events = {e["callback"]: e for e in plan_json()["events"]}  # type: ignore[attr-defined]
    latency = events["latency"]
    assert latency["args"] == [0.05] and latency["kwargs"] == {"jitter": 0.005}
    assert latency["texts"] == {"args": ["50ms"], "kwargs": {"jitter": "5ms"}}
    assert latency["peers"] == "1-5"
    assert events["loss"]["args"] == [0.05] and events["loss"]["peers"] == "6-10"
    assert events["bandwidth"]["args"] == [125000.0]


def test_partition_is_for_every_peer_with_its_groups_as_written() -> None:
    events = {e["callback"]: e for e in plan_json()["events"]}  # type: ignore[attr-defined]
    assert events["partition"]["args"] == ["1-3", "4-6"] and events["partition"]["peers"] == "1-10"
    assert "texts" not in events["partition"]
    assert events["heal"]["peers"] == "1-10"


def test_process_faults_are_in_their_peers_timelines_only() -> None:
    peers = plan_json("--peer", "7-8")["peers"]  # type: ignore[index]
    seven = [e["callback"] for e in peers["7"] if e["callback"] in ("crash", "pause", "resume", "restart")]
    eight = [e["callback"] for e in peers["8"] if e["callback"] in ("crash", "pause", "resume", "restart")]
    assert seven == ["crash", "restart"] and eight == ["pause", "resume"]


def test_plan_text_shows_the_faults() -> None:
    result = CliRunner().invoke(
        cli, ["plan", "--instances", "10", str(CASE)], env={"NO_COLOR": "1", "COLUMNS": "200"}
    )
    assert result.exit_code == 0
    shown = ("latency 50ms jitter=5ms", "loss 5%", "bandwidth 1mbit", "partition 1-3 4-6", "crash", "heal")
    for name in (*shown, "restart", "reset_network"):
        assert name in result.stdout, name
    assert os.path.basename(str(CASE)) in result.stdout
