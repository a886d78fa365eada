"""Each peer's planned end and the events it owes by then (runtime/run_end.py), from a real plan."""

from __future__ import annotations

from pathlib import Path

from scenario_lang.runtime.run_end import planned_ends

from scenario_lang.project import CheckOptions, analyze_and_plan

SCENARIO = """\
@! echo ready
@0:1 echo a {1-2}
@0:2 stop {2}
@0:3 echo b {!3}
@0:4 for i in 1 to 3 call echo x$i {1,3}
@0:6 stop {1}
@0:12 echo late
"""


def test_each_peer_ends_at_its_first_stop_or_experiment_time_and_owes_what_comes_before(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "exp.scenario"
    scenario.write_text(SCENARIO)
    analysis, plan = analyze_and_plan(str(scenario), CheckOptions(instances=4, find_conf=False))
    assert plan is not None, analysis.diagnostics
    ends = planned_ends(plan, 10.0)
    assert ends.ends == {1: 6.0, 2: 2.0, 3: 10.0, 4: 10.0}
    assert ends.by_stop == {1, 2} and ends.run_end == 10.0 and not ends.endless
    # peer 1: ready, a, b, x1-x3 (not peer 2's stop; its own, at its end, is not owed); 3: ready, x1-x3
    assert {p: ends.owed_count(p) for p in range(1, 5)} == {1: 6, 2: 2, 3: 4, 4: 2}
    for peer in range(1, 5):
        assert ends.owed_count(peer) == len(list(ends.owed_events(peer)))
    assert planned_ends(plan, None).endless == [3, 4]
    assert planned_ends(plan, None).run_end is None
