"""The plan: execution order, per-peer views, conversion, refusal on errors, JSON and file round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_lang.peers import PeerSet
from scenario_lang.plan import Plan, PlanError, PlannedEvent, compile_plan, read_plan_file, write_plan_file
from scenario_lang.plan_file import PlanFileError, PlanFileReader
from scenario_lang.project import CheckOptions, analyze

DATA = Path(__file__).parent / "data"


def compiled(name: str, instances: int = 3) -> Plan:
    analysis = analyze(str(DATA / name), CheckOptions(instances=instances, environment={}))
    assert not [d for d in analysis.diagnostics if d.severity.value == "error"], analysis.diagnostics
    return compile_plan(analysis.program)


def test_immediate_events_come_first_then_time_order_with_ties_in_text_order() -> None:
    plan = compiled("ordering.scenario")
    order = [(e.time, e.callback, e.args, e.line) for e in plan.events]
    assert order == [
        (None, "set", ("key", "abc"), 3),
        (None, "name", ("first",), 7),
        (1.0, "count", (1,), 4),
        (1.0, "name", ("tie",), 8),
        (2.0, "count", (3,), 6),
        (2.0, "count", (2,), 6),
        (2.0, "count", (1,), 6),
        (5.0, "count", (2,), 2),
        (5.0, "name", ("abc",), 5),
        (10.0, "stop", (), 9),
    ]


def test_each_peer_sees_only_its_events_and_events_are_held_once() -> None:
    plan = compiled("ordering.scenario")
    peer1 = [(e.callback, e.args) for e in plan.for_peer(1) if e.time is not None]
    assert peer1 == [("count", (1,)), ("count", (1,)), ("count", (2,)), ("name", ("abc",)), ("stop", ())]
    everyone = next(e for e in plan.events if e.callback == "stop").peers
    assert all(e.peers is everyone for e in plan.events if e.peers.concrete(3) == ((1, 3),))


def test_arguments_are_converted_to_the_callback_parameter_types() -> None:
    plan = compiled("ordering.scenario")
    counts = [e.args[0] for e in plan.events if e.callback == "count"]
    assert counts == [1, 3, 2, 1, 2] and all(type(c) is int for c in counts)


def test_a_program_with_errors_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.scenario").write_text("@0:1 no_such_callback\n", encoding="utf-8")
    analysis = analyze(str(tmp_path / "bad.scenario"), CheckOptions(instances=1, environment={}))
    with pytest.raises(PlanError):
        compile_plan(analysis.program)


def test_plan_json_matches_the_documented_shape() -> None:
    data = compiled("ordering.scenario").to_json()
    assert data["instances"] == 3
    first = data["events"][0]
    assert set(first) == {"time", "callback", "args", "kwargs", "peers", "source"}
    assert first["peers"] == "1-3" and first["source"]["line"] == 3


def test_plan_file_gives_each_peer_its_indices_and_decodes_lazily(tmp_path: Path) -> None:
    plan = compiled("ordering.scenario")
    write_plan_file(plan, tmp_path / "p.plan")
    assert read_plan_file(tmp_path / "p.plan") == plan
    with PlanFileReader(tmp_path / "p.plan") as reader:
        for peer in (1, 2, 3):
            timeline = reader.timeline(peer)
            got = [timeline.event(k) for k in range(len(timeline))]
            want = list(plan.for_peer(peer))
            assert [(e.time, e.callback, e.args, e.kwargs, e.line) for e in got] == [
                (e.time, e.callback, e.args, dict(e.kwargs), e.line) for e in want
            ]


def test_a_timeline_finds_the_events_of_given_callbacks_without_taking_an_argument_for_one(
    tmp_path: Path,
) -> None:
    one, two, both = PeerSet.of([(1, 1)]), PeerSet.of([(2, 2)]), PeerSet.of([(1, 2)])
    plan = Plan(
        2,
        (
            PlannedEvent(None, "setup", (), (), both, "s", 1),
            PlannedEvent(1.0, "pause", (), (), one, "s", 2),
            PlannedEvent(1.5, "note", (["pause", 1],), (), both, "s", 3),  # `["pause",` in an argument
            PlannedEvent(2.0, "pause", (), (), two, "s", 4),
            PlannedEvent(3.0, "resume", (), (), both, "s", 5),
        ),
    )
    write_plan_file(plan, tmp_path / "p.plan")
    with PlanFileReader(tmp_path / "p.plan") as reader:
        for peer, lines in ((1, [2, 5]), (2, [4, 5])):
            timeline = reader.timeline(peer)
            found = timeline.positions_of(["pause", "resume"])
            assert [timeline.event(k).line for k in found] == lines
        assert reader.timeline(1).positions_of(["crash"]) == []


def test_a_plan_file_of_another_version_or_damaged_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    write_plan_file(compiled("ordering.scenario"), path)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"version":1', b'"version":9', 1))
    with pytest.raises(PlanFileError, match="version 9"):
        read_plan_file(path)
    path.write_bytes(b"not a plan")
    with pytest.raises(PlanFileError, match="not a gscen plan file"):
        PlanFileReader(path)


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    n = draw(st.integers(1, 50))
    events = []
    for _ in range(draw(st.integers(0, 15))):
        lo = draw(st.integers(1, n))
        hi = draw(st.integers(lo, n))
        events.append(
            PlannedEvent(
                draw(st.one_of(st.none(), st.floats(0, 1e6))),
                draw(st.from_regex(r"[a-z_]{1,8}", fullmatch=True)),
                tuple(draw(st.lists(json_values, max_size=3))),
                tuple(
                    (k, draw(json_values))
                    for k in draw(st.lists(st.sampled_from("abcde"), unique=True, max_size=3))
                ),
                PeerSet.of([(lo, hi)]),
                draw(st.sampled_from(["a.scenario", "dir/b.scenario"])),
                draw(st.integers(1, 10_000)),
                draw(
                    st.one_of(
                        st.none(),
                        st.tuples(
                            st.lists(st.text(max_size=4), max_size=3).map(tuple),
                            st.lists(st.tuples(st.sampled_from("xyz"), st.text(max_size=4)), max_size=2).map(
                                lambda kv: tuple(dict(kv).items())
                            ),
                        ),
                    )
                ),
            )
        )
    return Plan(n, tuple(events), source="a.scenario")


@settings(max_examples=150, deadline=None)
@given(plans())
def test_plan_json_round_trip_is_exact(plan: Plan) -> None:
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


@settings(max_examples=60, deadline=None)
@given(plans())
def test_plan_file_round_trip_is_exact(tmp_path_factory: pytest.TempPathFactory, plan: Plan) -> None:
    path = tmp_path_factory.mktemp("plans") / "p.plan"
    write_plan_file(plan, path)
    assert read_plan_file(path) == plan


def test_plan_json_matches_the_golden_file(update_goldens: bool) -> None:
    data = compiled("ordering.scenario").to_json()
    data["source"] = Path(data["source"]).name
    for module in data["modules"]:
        module["path"] = Path(module["path"]).name
    for event in data["events"]:
        event["source"]["path"] = Path(event["source"]["path"]).name
    golden = DATA / "ordering.plan.json"
    text = json.dumps(data, indent=1) + "\n"
    if update_goldens:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_a_value_that_reads_differently_once_converted_keeps_its_text(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "from scenario_lang import ExperimentModule, experiment_callback\n"
        "class M(ExperimentModule):\n    @experiment_callback\n"
        "    def go(self, flag: bool, n: int, rate: float) -> None: ...\n",
        encoding="utf-8",
    )
    (tmp_path / "s.scenario").write_text(
        "&module m.M\n@0:1 go yes 5 1e-3\n@0:2 go True 6 2.5\n", encoding="utf-8"
    )
    analysis = analyze(str(tmp_path / "s.scenario"), CheckOptions(instances=1, environment={}))
    first, second = compile_plan(analysis.program).events
    assert first.args == (True, 5, 0.001) and first.texts == (("yes", "5", "1e-3"), ())
    assert second.args == (True, 6, 2.5) and second.texts is None
