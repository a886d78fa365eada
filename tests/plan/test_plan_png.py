"""`gscen plan --png` draws the run's event timeline picture, at the planned times: one plotter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scenario_lang.plan import Plan, compile_plan
from scenario_lang.plan_render import draw_timeline_png
from scenario_lang.project import CheckOptions, analyze
from scenario_lang.timeline_png import FiredEvent, PeerEvents, plot_event_timeline

DATA = Path(__file__).parent / "data"


def compiled(name: str, instances: int) -> Plan:
    analysis = analyze(str(DATA / name), CheckOptions(instances=instances, environment={}))
    return compile_plan(analysis.program)


@pytest.mark.parametrize("instances", [3, 80])  # rows of marks, and the heat map above 60 peers
def test_the_plan_png_is_the_run_timeline_of_the_planned_events(tmp_path: Path, instances: int) -> None:
    plan = compiled("ordering.scenario", instances)
    draw_timeline_png(plan, str(tmp_path / "plan.png"))
    # What the run's plots draw from per-peer events, each fired exactly when planned.
    peers = [
        PeerEvents(peer, [FiredEvent(e.time or 0.0, None, e.callback) for e in plan.for_peer(peer)])
        for peer in range(1, instances + 1)
    ]
    title = os.path.basename(plan.source)
    plot_event_timeline(peers, tmp_path / "run.png", planned_only=True, title=title)
    assert (tmp_path / "plan.png").read_bytes() == (tmp_path / "run.png").read_bytes()
