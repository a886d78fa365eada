"""The peer's scheduler on real compiled plans and real module classes, with a virtual clock.

Each test writes a scenario and a module file, compiles them with the front end, writes the plan file,
reads this peer's part with `PlanFileReader`, imports the module with the loader, and runs the `Scheduler`
against a `VirtualClock`: ordering and failure behaviour without waiting in real time.
"""

from __future__ import annotations

import asyncio
import csv
import importlib
import itertools
import logging
import textwrap
from pathlib import Path

import pytest
from scenario_lang.runtime.builtin_callbacks import BuiltinCallbacks
from scenario_lang.runtime.loader import load_modules
from scenario_lang.runtime.peer import PeerState
from scenario_lang.runtime.scheduler import EventLog, Scheduler, VirtualClock

from scenario_lang.plan import compile_plan, read_plan_file, write_plan_file
from scenario_lang.plan_file import PlanFileReader
from scenario_lang.project import CheckOptions, analyze

_names = itertools.count()

RECORDER = """
from __future__ import annotations
import asyncio
from enum import Enum
from pathlib import Path
from typing import Literal, Optional
from scenario_lang import ExperimentModule, experiment_callback

CALLS: list[tuple] = []


class Color(Enum):
    RED = 1
    BLUE = 2


class Recorder(ExperimentModule):
    @experiment_callback
    def note(self, *words: str) -> None:
        CALLS.append(("note", *words))

    @experiment_callback
    def typed(self, n: int, ratio: float, flag: bool, color: Color, where: Path,
              mode: Literal["a", "b"], maybe: Optional[int] = None) -> None:
        CALLS.append(("typed", n, ratio, flag, color, where, mode, maybe))

    @experiment_callback
    def boom(self, n: int) -> None:
        raise RuntimeError(f"boom {n}")

    @experiment_callback
    async def slow(self, label: str) -> None:
        CALLS.append(("slow-begin", label))
        await asyncio.sleep(0.05)
        CALLS.append(("slow-end", label))

    @experiment_callback
    async def async_boom(self) -> None:
        await asyncio.sleep(0)
        raise ValueError("async boom")

    @experiment_callback
    async def stop(self) -> None:
        CALLS.append(("module-stop-begin",))
        await asyncio.sleep(0.05)
        CALLS.append(("module-stop-end",))

    @experiment_callback
    async def forever(self) -> None:
        CALLS.append(("forever-begin",))
        try:
            await asyncio.sleep(3600)
        finally:
            CALLS.append(("forever-cancelled",))


class Other(ExperimentModule):
    @experiment_callback("typed")
    def typed_as_text(self, n: str, ratio: str, flag: str, color: str, where: str, mode: str,
                      maybe: str = "") -> None:
        CALLS.append(("typed-as-text", n, ratio, flag, color, where, mode, maybe))

    @experiment_callback("note")
    def note_again(self, *words: str) -> None:
        CALLS.append(("note-again", *words))
"""


class Run:
    """A compiled scenario and this peer's scheduler, ready to run on a virtual clock."""

    def __init__(self, tmp_path: Path, scenario: str, modules: str = "Recorder", peer: int = 1) -> None:
        name = f"sched_mod_{next(_names)}"
        (tmp_path / f"{name}.py").write_text(RECORDER)
        head = "".join(f"&module {name}.{cls}\n" for cls in modules.split())
        path = tmp_path / "test.scenario"
        path.write_text(head + textwrap.dedent(scenario))
        analysis = analyze(str(path), CheckOptions(instances=3, find_conf=False, environment={}))
        errors = [d for d in analysis.diagnostics if d.severity.name == "ERROR"]
        assert not errors, errors
        write_plan_file(compile_plan(analysis.program), tmp_path / "test.plan")
        self.plan = PlanFileReader(tmp_path / "test.plan")
        self.state = PeerState(output_root=tmp_path / "out", my_id=peer)
        self.state.output_dir.mkdir(parents=True)
        loaded = load_modules(self.plan.modules, self.state, BuiltinCallbacks(self.state))
        self.module = importlib.import_module(name)
        self.calls: list[tuple[object, ...]] = self.module.CALLS
        self.csv_path = tmp_path / "events.csv"
        self._stream = self.csv_path.open("w", newline="")
        self.events = EventLog(self._stream)
        self.clock = VirtualClock(100.0)
        self.scheduler = Scheduler(
            self.plan.timeline(peer),
            loaded.registry,
            self.clock,
            self.events,
            describe_source=lambda p, line: f"{Path(p).name}:{line}",
        )
        self.state.scheduler = self.scheduler

    def run(self, end_after: float | None = None, exit_when_done: bool = True) -> str:
        self.scheduler.end_after = end_after
        self.scheduler.exit_when_done = exit_when_done
        reason = asyncio.run(self.scheduler.run(self.clock.now()))
        self._stream.close()
        return reason

    def rows(self) -> list[dict[str, str]]:
        with self.csv_path.open(newline="") as f:
            return list(csv.DictReader(f))


def test_immediate_events_fire_first_then_timed_by_time_with_ties_in_program_order(tmp_path: Path) -> None:
    run = Run(
        tmp_path,
        """\
        @0:2 note two-a
        @0:1 note one
        @! note bang-1
        @0:2 note two-b
        @0:0 note zero
        @! note bang-2
        @0:2 for i in 1 to 3 call note loop $i
        @0:2 note two-c
        """,
    )
    assert run.run() == "done"
    assert [c[1:] for c in run.calls] == [
        ("bang-1",),
        ("bang-2",),
        ("zero",),
        ("one",),
        ("two-a",),
        ("two-b",),
        ("loop", "1"),
        ("loop", "2"),
        ("loop", "3"),
        ("two-c",),
    ]


def test_the_peer_reads_only_its_own_events_in_the_same_order_as_plan_file(tmp_path: Path) -> None:
    run = Run(
        tmp_path, "@0:1 note everyone\n@0:2 note mine {2}\n@0:3 note theirs {1,3}\n@! note hi {2}\n", peer=2
    )
    expected = list(read_plan_file(tmp_path / "test.plan").for_peer(2))
    ours = run.plan.timeline(2)
    assert len(ours) == len(expected) == 3
    for k, a in enumerate(expected):
        b = ours.event(k)
        assert (a.time, a.callback, a.args, dict(a.kwargs), a.line) == (
            b.time,
            b.callback,
            b.args,
            b.kwargs,
            b.line,
        )
    run.run()
    assert [c[1:] for c in run.calls] == [("hi",), ("everyone",), ("mine",)]


def test_each_event_is_decoded_and_its_arguments_converted_while_the_peer_waits(tmp_path: Path) -> None:
    run = Run(tmp_path, "@0:1 typed 3 0.5 yes RED here a\n@0:2 note two\n@0:2 note also\n")
    timeline = run.scheduler.timeline
    decoded: list[tuple[int, float]] = []

    class Watched:
        def __len__(self) -> int:
            return len(timeline)

        def time(self, k: int) -> float | None:
            return timeline.time(k)

        def event(self, k: int) -> object:
            decoded.append((k, run.clock.now()))
            return timeline.event(k)

    run.scheduler.timeline = Watched()
    assert run.run() == "done"
    # once each; the first of an instant before it (the clock jumps there from the wait), the
    # events due with it when it fires
    assert decoded == [(0, 100.0), (1, 101.0), (2, 102.0)]
    assert [c[:2] for c in run.calls] == [("typed", 3), ("note", "two"), ("note", "also")]
    assert [r["status"] for r in run.rows()] == ["ok", "ok", "ok"]


def test_every_target_of_a_name_is_called_in_registration_order(tmp_path: Path) -> None:
    run = Run(tmp_path, "@0:1 note x\n@0:2 echo via builtin\n", modules="Recorder Other")
    run.run()
    assert run.calls == [("note", "x"), ("note-again", "x")]
    targets = [r["target"] for r in run.rows()]
    assert targets == ["Recorder.note", "Other.note_again", "builtin.echo"]


def test_arguments_are_converted_for_each_targets_own_annotations(tmp_path: Path) -> None:
    run = Run(
        tmp_path,
        "@0:1 typed 7 2.5 yes RED /tmp/x b maybe=None\n@0:2 typed 8 1 no BLUE rel a maybe=3\n",
        modules="Recorder Other",
    )
    run.run()
    mod = run.module
    first, text_first, second, text_second = run.calls
    assert first == ("typed", 7, 2.5, True, mod.Color.RED, Path("/tmp/x"), "b", None)
    assert isinstance(first[4], mod.Color) and isinstance(first[5], Path)
    assert text_first == ("typed-as-text", "7", "2.5", "yes", "RED", "/tmp/x", "b", "None")
    assert second == ("typed", 8, 1.0, False, mod.Color.BLUE, Path("rel"), "a", 3)
    assert text_second[0] == "typed-as-text"


def test_a_failing_callback_is_logged_with_scenario_line_and_never_stops_other_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = Run(tmp_path, "@0:1 boom 1\n@0:1 note after\n@0:2 async_boom\n@0:3 note last\n")
    with caplog.at_level(logging.ERROR):
        assert run.run() == "done"
    assert [c[0] for c in run.calls] == ["note", "note"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("test.scenario:2" in m and "boom 1" in m for m in messages), messages
    assert any("test.scenario:4" in m and "async boom" in m for m in messages), messages
    assert run.events.events_failed == 2 and run.events.calls_failed == 2 and run.events.events_fired == 4
    statuses = {(r["source"], r["status"]) for r in run.rows()}
    assert ("test.scenario:2", "failed") in statuses and ("test.scenario:5", "ok") in statuses


def test_async_callbacks_run_concurrently_with_later_events(tmp_path: Path) -> None:
    run = Run(tmp_path, "@0:1 slow a\n@0:1 note beside\n@0:1 slow b\n")
    run.run()
    # The plain callback runs inline; the async ones start, in plan order, as soon as the walker yields,
    # and overlap: both begin before either ends.
    assert run.calls[:3] == [("note", "beside"), ("slow-begin", "a"), ("slow-begin", "b")]
    assert sorted(run.calls[3:]) == [("slow-end", "a"), ("slow-end", "b")]


def test_stop_runs_module_stop_handlers_to_completion_and_cancels_the_rest(tmp_path: Path) -> None:
    run = Run(tmp_path, "@0:1 forever\n@0:2 stop\n@0:3 note never\n")
    assert run.run(exit_when_done=False) == "stop"
    assert run.calls == [
        ("forever-begin",),
        ("module-stop-begin",),
        ("module-stop-end",),
        ("forever-cancelled",),
    ]
    by_target = {r["target"]: r["status"] for r in run.rows()}
    assert by_target == {"builtin.stop": "ok", "Recorder.stop": "ok", "Recorder.forever": "cancelled"}


def test_experiment_time_ends_the_walk_before_later_events(tmp_path: Path) -> None:
    run = Run(tmp_path, "@0:1 note early\n@0:50 note late\n")
    assert run.run(end_after=10.0, exit_when_done=False) == "experiment_time"
    assert run.calls == [("note", "early")]
    assert run.clock.now() == pytest.approx(110.0)


def test_without_exit_when_done_the_peer_waits_for_stop_or_experiment_time(tmp_path: Path) -> None:
    run = Run(tmp_path, "@0:1 note only\n")
    assert run.run(end_after=30.0, exit_when_done=False) == "experiment_time"
    assert run.clock.now() == pytest.approx(130.0)


def test_set_stores_runtime_variables_and_annotate_writes_gumbys_csv_format(tmp_path: Path) -> None:
    run = Run(
        tmp_path, '@! set colour blue\n@0:1.25 annotate start-experiment\n@0:2 annotate "second note"\n'
    )
    run.run()
    assert run.state.variables == {"colour": "blue"}
    lines = (run.state.output_dir / "annotations.csv").read_text().splitlines()
    assert lines == ["1.250000,start-experiment", "2.000000,second note"]


def test_events_csv_has_planned_actual_lateness_and_source(tmp_path: Path) -> None:
    run = Run(tmp_path, "@! note now\n@0:1.5 note later\n")
    run.run()
    rows = run.rows()
    assert list(rows[0]) == [
        "planned",
        "actual",
        "lateness",
        "duration",
        "callback",
        "target",
        "source",
        "status",
        "error",
    ]
    assert rows[0]["planned"] == "" and rows[0]["actual"] == "0.000000"
    assert rows[1]["planned"] == "1.500000" and rows[1]["lateness"] == "0.000000"
    assert rows[1]["source"] == "test.scenario:3" and rows[1]["status"] == "ok"
