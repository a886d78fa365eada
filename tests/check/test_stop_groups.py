"""SC506 grouped per `stop`: the first `SC506_SHOWN` events a `stop` cuts off (in program order) are
marked one by one; a `stop` cutting off more gets one summary on its own line, however many follow."""

from __future__ import annotations

from pathlib import Path

from scenario_lang.check import SC506_SHOWN
from scenario_lang.project import CheckOptions, analyze


def sc506(path: Path, instances: int = 4) -> list[tuple[int, int]]:
    analysis = analyze(str(path), CheckOptions(instances=instances, environment={}))
    return [(d.span.line, d.span.column) for d in analysis.diagnostics if d.code == "SC506"]


def test_a_stop_cutting_off_thousands_of_events_marks_the_first_twenty_and_sums_up_on_its_line(
    tmp_path: Path,
) -> None:
    lines = ["@0:0.5 echo before", "@0:1 stop {1-2}"] + [
        f"@0:{2 + i % 50} echo e{i} {{1}}" for i in range(5000)
    ]
    (tmp_path / "s.scenario").write_text("\n".join(lines) + "\n")
    found = sc506(tmp_path / "s.scenario")
    assert found == [(2, 6)] + [(n, 1) for n in range(3, 3 + SC506_SHOWN)]
    analysis = analyze(str(tmp_path / "s.scenario"), CheckOptions(instances=4, environment={}))
    summary = next(d for d in analysis.diagnostics if d.span.line == 2)
    assert "5,000" in summary.message and "lines 3-5,002" in summary.message


def test_a_stop_cutting_off_exactly_twenty_events_marks_each_and_has_no_summary(tmp_path: Path) -> None:
    lines = ["@0:1 stop"] + [f"@0:{2 + i} echo e{i}" for i in range(SC506_SHOWN)]
    (tmp_path / "s.scenario").write_text("\n".join(lines) + "\n")
    assert sc506(tmp_path / "s.scenario") == [(n, 1) for n in range(2, 2 + SC506_SHOWN)]


def test_each_event_counts_for_the_first_earlier_stop_it_shares_a_peer_with(tmp_path: Path) -> None:
    # peer 1's events go to the first stop, peer 2's to the second; each stop sums up its own
    lines = ["@0:1 stop {1}", "@0:1 stop {2}"]
    lines += [f"@0:{5 + i % 9} echo e{i} {{{1 + i % 2}}}" for i in range(100)]
    (tmp_path / "s.scenario").write_text("\n".join(lines) + "\n")
    found = sc506(tmp_path / "s.scenario")
    first = [n for n in range(3, 103) if (n - 3) % 2 == 0][:SC506_SHOWN]
    second = [n for n in range(3, 103) if (n - 3) % 2 == 1][:SC506_SHOWN]
    assert found == [(1, 6), (2, 6), *sorted((n, 1) for n in first + second)]


def test_a_loop_event_counts_once(tmp_path: Path) -> None:
    lines = ["@0:1 stop"] + [f"@0:2 for i in 1 to 3 call echo e{i} $i {{$i}}" for i in range(SC506_SHOWN + 1)]
    (tmp_path / "s.scenario").write_text("\n".join(lines) + "\n")
    analysis = analyze(str(tmp_path / "s.scenario"), CheckOptions(instances=4, environment={}))
    summary = next(d for d in analysis.diagnostics if d.code == "SC506" and d.span.line == 1)
    assert f"cuts off {SC506_SHOWN + 1} later events" in summary.message
