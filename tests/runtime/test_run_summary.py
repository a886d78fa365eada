"""The end-of-run report: peers' files -> summary values; user text is never read as rich markup."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console
from scenario_lang.runtime.progress import PlainProgress, snapshot_text
from scenario_lang.runtime.run import RunSnapshot
from scenario_lang.runtime.summary import (
    PeerSummary,
    ProcessSummary,
    RunError,
    RunSummary,
    lateness_stats,
    merge_annotations,
    peer_errors,
    read_peer_events,
    summary_table,
    write_summary,
)

EVENTS = """\
planned,actual,lateness,duration,callback,target,source,status,error
,0.000100,0.000100,0.000010,echo,builtin.echo,exp.scenario:2,ok,
1.000000,1.002000,0.002000,0.000100,work,Mod.work,exp.scenario:3,ok,
2.000000,2.001000,0.001000,0.000100,boom,Mod.boom,exp.scenario:4,failed,ValueError: [bold]boom
,3.000000,,0.000100,on_stop,Mod.on_stop,,ok,
"""


def render(renderable: object) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(renderable)
    return buffer.getvalue()


def test_events_csv_rows_become_scenario_events_with_source(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(EVENTS)
    events = read_peer_events(tmp_path)
    assert events is not None
    assert [(e.callback, e.path, e.line, e.failed) for e in events] == [
        ("echo", "exp.scenario", 2, False),
        ("work", "exp.scenario", 3, False),
        ("boom", "exp.scenario", 4, True),
    ]
    assert events[0].planned is None and events[1].actual == 1.002
    errors = peer_errors(4, events, {})
    assert errors == [RunError("ValueError: [bold]boom", 4, "exp.scenario", 4, "boom")]
    assert read_peer_events(tmp_path / "missing") is None


def test_result_json_errors_win_and_carry_the_fatal_error() -> None:
    result = {
        "error": "1 callback call(s) failed",
        "errors": [{"source": "a.scenario:7", "callback": "x", "target": "M.x", "error": "E: no"}],
    }
    assert peer_errors(2, [], result) == [
        RunError("1 callback call(s) failed", 2),
        RunError("E: no", 2, "a.scenario", 7, "x"),
    ]


def test_lateness_stats_use_nearest_rank() -> None:
    assert lateness_stats([]) == {"p50": None, "p99": None, "max": None}
    values = [float(i) for i in range(1, 101)]
    assert lateness_stats(values) == {"p50": 50.0, "p99": 99.0, "max": 100.0}


def test_merged_annotations_have_a_peer_column(tmp_path: Path) -> None:
    for peer, text in ((2, "1.5,start\n3.25,a, b\n"), (1, "1.5,start\nnot an annotation\n")):
        (tmp_path / str(peer)).mkdir()
        (tmp_path / str(peer) / "annotations.csv").write_text(text)
    merged = merge_annotations(tmp_path)
    assert merged is not None
    assert merged.read_text().splitlines() == [
        "peer,time,message",
        "1,1.5,start",
        "2,1.5,start",
        '2,3.25,"a, b"',
    ]
    assert merge_annotations(tmp_path / "1") is None


def summary(**kw: object) -> RunSummary:
    base: dict[str, object] = {
        "experiment": "[red]exp",
        "conf": "x.conf",
        "scenario": None,
        "output_dir": "/o",
        "status": "failed",
        "exit_code": 1,
        "message": None,
        "started_at": 0.0,
        "ended_at": 1.0,
        "start_instant": None,
        "instances": 2,
    }
    base.update(kw)
    return RunSummary(**base)  # type: ignore[arg-type]


def test_table_shows_peers_and_errors_without_reading_markup(tmp_path: Path) -> None:
    peers = tuple(
        PeerSummary(
            i, 0 if i == 1 else 1, False, 3, 3, i - 1, {"p50": 0.5, "p99": 1.25, "max": 2.0}, 33.5, 0.1
        )
        for i in (1, 2)
    )
    s = summary(peers=peers, errors=(RunError("ValueError: [bold]boom", 2, "exp.scenario", 4, "boom"),))
    text = render(summary_table(s))
    assert "[red]exp" in text and "[bold]boom" in text
    assert "exp.scenario:4: peer 2: ValueError: [bold]boom" in text
    assert "3/3" in text and "1.2" in text and "33.5" in text
    path = write_summary(s, tmp_path / "summary.json")
    data = json.loads(path.read_text())
    assert data["peers"][1]["events_failed"] == 1 and data["version"] == 1


def test_many_peers_show_the_worst_first_and_say_how_many_are_left_out() -> None:
    peers = tuple(
        PeerSummary(
            i, 0, False, 1, 1, 1 if i == 77 else 0, {"p50": 0.1, "p99": 0.1, "max": float(i % 7)}, 1.0, 0.1
        )
        for i in range(1, 101)
    )
    text = render(summary_table(summary(peers=peers), max_rows=10))
    assert "... and 90 more peers" in text
    assert "│   77 │" in text


def test_processes_table_for_commands_that_are_not_peers() -> None:
    processes = (ProcessSummary(0, "yes [x] > /dev/null", -15, True, 11.5, 3.9, "00000.out", "00000.err"),)
    text = render(summary_table(summary(processes=processes)))
    assert "-15 (stopped)" in text and "yes [x] > /dev/null" in text


def test_plain_progress_prints_a_line_when_something_changed() -> None:
    buffer = io.StringIO()
    progress = PlainProgress(Console(file=buffer, width=200, color_system=None), every=0.0)
    snap = RunSnapshot("local_instance_cmd", 5, connected=2, alive=5, processes=5, planned=10)
    progress.update(snap)
    progress.update(snap)
    progress.note("[bold]note")
    out = buffer.getvalue()
    assert out.count("peers 2/5 connected") == 1 and "[bold]note" in out
    started = RunSnapshot("x", 5, connected=5, started=True, clock=3.25, alive=5, processes=5, planned=10,
                          events_fired=4, experiment_time=20)  # fmt: skip
    assert snapshot_text(started) == (
        "peers 5/5 connected, started, clock 3.2/20 s, events 4 fired (0 failed), 5/5 processes alive"
    )


def test_faults_and_packet_counts_are_shown_and_a_scenario_crash_is_not_a_bad_exit() -> None:
    from scenario_lang.runtime.summary import FaultRecord

    peers = (
        PeerSummary(
            1,
            0,
            False,
            3,
            3,
            0,
            {"p50": 0.1, "p99": 0.1, "max": 0.1},
            1.0,
            0.1,
            packets_delayed=1234,
            packets_dropped=56,
        ),
        PeerSummary(
            2,
            -9,
            False,
            2,
            1,
            0,
            {"p50": 0.1, "p99": 0.1, "max": 0.1},
            1.0,
            0.1,
            faults=("crash",),
            events_prevented=1,
            packets_delayed=0,
            packets_dropped=0,
        ),
    )
    faults = (FaultRecord(2, "crash", 1.0, 1.002, "exp.scenario:5", "done"),)
    text = render(summary_table(summary(peers=peers, faults=faults)))
    assert "-9 (crash)" in text and "1,234" in text and "56" in text
    assert "process faults the scenario asked for" in text and "exp.scenario:5" in text
