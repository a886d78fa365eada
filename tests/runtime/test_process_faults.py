"""Process faults the scenario asks for, carried out by the process guard on real peer processes:
crash (SIGKILL), pause/resume (SIGSTOP/SIGCONT), restart (a fresh process rejoins under its id).
The run ends 0 with the faults in its summary, the restarted peer gets messages again, and no
process is left behind."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from process_watch import Adopter
from scenario_lang.runtime.held_events import held_spans, held_spans_by_peer
from scenario_lang.runtime.process_faults import fault_windows
from scenario_lang.runtime.summary import FaultRecord

MODULE = """\
from scenario_lang import ExperimentModule, experiment_callback


class Chat(ExperimentModule):
    def on_message(self, from_id: int, msg_type: bytes, payload: bytes) -> None:
        with open(self.output_dir / "received.txt", "a") as f:
            f.write(f"{from_id} {payload.decode()}\\n")

    @experiment_callback
    def send_to(self, peer: int, text: str) -> None:
        self.send_message(peer, b"chat", text.encode())

    @experiment_callback
    def mark(self, text: str) -> None:
        with open(self.output_dir / "marks.txt", "a") as f:
            f.write(text + "\\n")
"""

SCENARIO = """\
&module mod.Chat
@! mark ready
@0.2 send_to 2 before {1}
@0.8 crash {2}
@1.0 mark while-crashed {2}
@1.6 restart {2}
@1.4 pause {3}
@2.0 resume {3}
@2.6 send_to 2 after {1}
@2.6 send_to 3 after {1}
@2.8 mark after-restart {2}
@3.4 stop
"""


def _run(
    tmp_path: Path, files: dict[str, str], instances: int, conf: str = "experiment_time = 30\n"
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`gscen run` of an experiment of `files` (its scenario: exp.scenario) with `instances` peers
    and `conf`'s extra lines; the run's folder and the finished process."""
    folder = tmp_path / "x"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "exp.conf").write_text(
        f"experiment_name = faults\ninstances_to_run = {instances}\nscenario_file = exp.scenario\n"
        f"sync_experiment_start_delay = 0.3\n{conf}",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "scenario_lang.cli", "run", str(folder / "exp.conf"), "--output", str(out)]
    run = subprocess.run([*argv, "--no-plots"], capture_output=True, text=True, timeout=120)
    return out, run


def test_crash_pause_resume_restart_end_the_run_0_with_the_faults_listed(
    tmp_path: Path, adopter: Adopter
) -> None:
    out, run = _run(tmp_path, {"mod.py": MODULE, "exp.scenario": SCENARIO}, 3)
    assert run.returncode == 0, run.stderr
    # this test is the subreaper: a process the run left behind, restarted peers' included, is here
    assert adopter.left(zombies=False) == []
    data = json.loads((out / "summary.json").read_text())
    assert data["status"] == "ok"
    done = sorted((f["peer"], f["action"], f["outcome"]) for f in data["faults"])
    assert done == [(2, "crash", "done"), (2, "restart", "done"), (3, "pause", "done"), (3, "resume", "done")]
    peers = {p["peer"]: p for p in data["peers"]}
    assert peers[2]["faults"] == ["crash", "restart"] and peers[3]["faults"] == ["pause", "resume"]
    assert peers[2]["events_prevented"] == 1  # `mark while-crashed` at 1.0 s: prevented, not unfired
    assert peers[2]["events_fired"] == peers[2]["events_planned"]
    # the restarted peer ran its @! events again, then only what came after its restart instant
    assert (out / "2" / "marks.txt").read_text().split() == ["ready", "ready", "after-restart"]
    # and gets messages again (the first process got the one before the crash)
    assert (out / "2" / "received.txt").read_text().split("\n")[:2] == ["1 before", "1 after"]
    assert (out / "3" / "received.txt").read_text().split("\n")[:2] == ["1 before", "1 after"] or (
        (out / "3" / "received.txt").read_text().strip() == "1 after"
    )
    # its events.csv goes on after a marker row; the guard's output files too
    events = (out / "2" / "events.csv").read_text()
    assert events.count("planned,actual") == 1 and "guard.restart" in events
    stdout_files = list((out / "logs").glob("*.out")) + list(out.rglob("0000*.out"))
    assert any("--- restarted #" in f.read_text() for f in stdout_files)


def test_fault_windows_last_from_crash_to_restart_and_pause_to_resume() -> None:
    records = [
        FaultRecord(2, "crash", 1.0, 1.01, "s:1", "done"),
        FaultRecord(3, "pause", 1.5, 1.5, "s:2", "done"),
        FaultRecord(2, "restart", 2.0, 2.02, "s:3", "done"),
        FaultRecord(4, "crash", 3.0, 3.0, "s:4", "done"),
        FaultRecord(5, "crash", 3.0, None, "s:5", "not carried out"),
    ]
    assert fault_windows(records, 10.0) == {
        2: [("crashed", 1.01, 2.02)],
        3: [("paused", 1.5, 10.0)],
        4: [("crashed", 3.0, 10.0)],
    }


def test_fault_bands_shade_partitions_crashes_and_pauses_on_the_resource_plots(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from scenario_lang.runtime.plots import draw_fault_bands
    from scenario_lang.runtime.results import fault_bands

    from scenario_lang.peers import PeerSet
    from scenario_lang.plan import Plan, PlannedEvent

    everyone = PeerSet.of([(1, 4)])
    plan = Plan(
        4,
        (
            PlannedEvent(2.0, "partition", ("1-2", "3"), (), everyone, "s", 1),
            PlannedEvent(5.0, "heal", (), (), everyone, "s", 2),
            PlannedEvent(7.0, "partition", ("1", "2-4"), (), everyone, "s", 3),
        ),
    )
    records = [
        FaultRecord(3, "crash", 1.0, 1.0, "s:4", "done"),
        FaultRecord(3, "restart", 4.0, 4.0, "s:5", "done"),
    ]
    bands = fault_bands(plan, records)
    assert [(b.kind, b.start, b.end, b.label) for b in bands] == [
        ("partition", 2.0, 5.0, "1-2 | 3"),
        ("partition", 7.0, float("inf"), "1 | 2-4"),
        ("crashed", 1.0, 4.0, "peer 3"),
    ]
    ax = Figure().subplots()
    ax.plot([0.0, 10.0], [0.0, 1.0])
    draw_fault_bands(ax, bands)
    spans = sorted((round(p.get_x(), 3), round(p.get_x() + p.get_width(), 3)) for p in ax.patches)
    right = ax.get_xlim()[1]
    assert spans == [(1.0, 4.0), (2.0, 5.0), (7.0, round(right, 3))]  # the open one reaches the edge


def test_restarting_a_running_peer_and_a_pause_never_resumed_still_end_the_run_0(tmp_path: Path) -> None:
    scenario = (
        "&module mod.Chat\n@! mark ready\n@0.4 restart {2}\n@0.6 pause {3}\n@1.4 send_to 2 after {1}\n"
        "@1.8 mark done\n@2.2 stop\n"
    )
    began = time.monotonic()
    out, run = _run(tmp_path, {"mod.py": MODULE, "exp.scenario": scenario}, 3, conf="")
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - began < 30  # not held until a timeout by the paused peer
    data = json.loads((out / "summary.json").read_text())
    actions = sorted((f["peer"], f["action"]) for f in data["faults"])
    assert actions == [(2, "restart"), (3, "pause"), (3, "resume")]  # the resume: the run's own, at the end
    assert (out / "2" / "marks.txt").read_text().split() == ["ready", "ready", "done"]
    assert (out / "2" / "received.txt").read_text().split("\n")[0] == "1 after"
    assert (out / "3" / "marks.txt").read_text().split() == ["ready", "done"]  # late, after the resume


# --------------------------------------------------------------------------------------------- held events
TICKS = """\
from scenario_lang import ExperimentModule, experiment_callback


class Ticks(ExperimentModule):
    @experiment_callback
    def tick(self) -> None:
        pass
"""


def _ticking_run(tmp_path: Path, faults: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Two peers; peer 2 ticks every 0.1 s from 0.1 to 4.0 s under `faults`; the run's folder."""
    ticks = "".join(f"@{k / 10:.1f} tick {{2}}\n" for k in range(1, 41))
    scenario = f"&module ticks.Ticks\n{ticks}{faults}@4.4 stop\n"
    return _run(tmp_path, {"ticks.py": TICKS, "exp.scenario": scenario}, 2)


def test_events_a_scenario_pause_holds_fire_late_but_stay_out_of_the_lateness(
    tmp_path: Path, adopter: Adopter
) -> None:
    out, run = _ticking_run(tmp_path, "@1.0 pause {2}\n@3.0 resume {2}\n")
    assert run.returncode == 0, run.stderr
    assert adopter.left(zombies=False) == []
    # Every tick fired and is in events.csv with its usual columns; those planned from the pause's
    # instant to the resume's (1.0 ... 3.0 s: 21) are marked held, and they were late indeed.
    with open(out / "2" / "events.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["callback"] == "tick"]
    assert list(rows[0]) == ["planned", "actual", "lateness", "duration", "callback", "target", "source",
                             "status", "error"]  # fmt: skip
    held = [r for r in rows if r["status"] == "held"]
    assert len(rows) == 40 and [r["status"] for r in rows if r not in held] == ["ok"] * 19
    assert sorted(round(float(r["planned"]), 1) for r in held) == [k / 10 for k in range(10, 31)]
    assert max(float(r["lateness"]) for r in held) > 1.0  # the pause held them for real
    result = json.loads((out / "2" / "result.json").read_text())
    assert result["events_fired"] == 41 and result["events_held"] == 21
    assert result["lateness_seconds"]["p99"] < 0.05, result["lateness_seconds"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    peer = next(p for p in summary["peers"] if p["peer"] == 2)
    assert peer["events_held"] == 21 and peer["events_unfired"] == 0
    assert peer["lateness_ms"]["p99"] < 50, peer["lateness_ms"]


def test_a_crash_window_adds_nothing_to_the_restarted_peers_lateness(
    tmp_path: Path, adopter: Adopter
) -> None:
    out, run = _ticking_run(tmp_path, "@1.0 crash {2}\n@2.0 restart {2}\n")
    assert run.returncode == 0, run.stderr
    assert adopter.left(zombies=False) == []
    with open(out / "2" / "events.csv", newline="") as f:
        ticks = [float(r["planned"]) for r in csv.DictReader(f) if r["callback"] == "tick"]
    assert not [t for t in ticks if 1.0 < t <= 2.0]  # the crash window's ticks never ran
    result = json.loads((out / "2" / "result.json").read_text())  # the restarted process's
    assert result["restarted_at"] >= 2.0 and result["events_held"] == 0
    assert result["lateness_seconds"]["p99"] < 0.05, result["lateness_seconds"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    peer = next(p for p in summary["peers"] if p["peer"] == 2)
    assert peer["events_prevented"] == 10 and peer["events_unfired"] == 0  # 1.1 ... 2.0 s
    assert peer["lateness_ms"]["p99"] < 50, peer["lateness_ms"]


def test_a_pause_holds_from_its_instant_to_the_resume_crash_or_restart_or_to_the_end() -> None:
    spans = held_spans(
        [(None, "pause"), (1.0, "pause"), (2.0, "tick"), (3.0, "resume"), (4.0, "pause"), (5.0, "crash"),
         (6.0, "restart"), (7.0, "pause"), (8.0, "tick")]
    )  # fmt: skip
    assert spans.spans == ((1.0, 3.0), (4.0, 5.0), (7.0, math.inf))
    assert [spans.holds(t) for t in (None, 0.9, 1.0, 2.0, 3.0, 3.1, 5.0, 6.0, 7.0, 1e9)] == [
        False, False, True, True, True, False, True, False, True, True
    ]  # fmt: skip
    assert not held_spans([(1.0, "tick"), (2.0, "resume")])
    # the results stage finds the same spans for every peer in one pass over the whole plan
    from scenario_lang.peers import PeerSet
    from scenario_lang.plan import Plan, PlannedEvent

    plan = Plan(
        4,
        (
            PlannedEvent(1.0, "pause", (), (), PeerSet.of([(2, 3)]), "s", 1),
            PlannedEvent(2.0, "tick", (), (), PeerSet.of([(1, 4)]), "s", 2),
            PlannedEvent(3.0, "resume", (), (), PeerSet.of([(2, 2)]), "s", 3),
            PlannedEvent(4.0, "crash", (), (), PeerSet.of([(4, 4)]), "s", 4),
        ),
    )
    assert {peer: h.spans for peer, h in held_spans_by_peer(plan).items()} == {
        2: ((1.0, 3.0),),
        3: ((1.0, math.inf),),
    }
