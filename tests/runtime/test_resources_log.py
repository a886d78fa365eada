"""Parsing resource_usage.log: Gumby's columns, names with spaces, bad lines, grouping by session."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_lang.runtime.resource_log import parse_resource_log, read_resource_log

HEADER = '{"sc_clk_tck": 100.0, "pagesize": 4096}\n'
IO = "1000 2000 3 4 5000 6000 0"


def stat_line(
    t: float,
    pid: int,
    name: str,
    *,
    utime: int = 0,
    stime: int = 0,
    rss: int = 256,
    session: int = 10,
    start: int = 500,
    threads: int = 1,
) -> str:
    # Fields 3..52 of /proc/<pid>/stat: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss ...
    fields = [
        "S",
        "1",
        str(session),
        str(session),
        "0",
        "-1",
        "0",
        "0",
        "0",
        "0",
        "0",
        str(utime),
        str(stime),
        "0",
        "0",
        "20",
        "0",
        str(threads),
        "0",
        str(start),
        "8192000",
        str(rss),
    ] + ["0"] * 28
    return f"{t:.1f} {pid} ({name}) {' '.join(fields)} {IO}\n"


def test_gumby_columns_are_read() -> None:
    log = parse_resource_log([HEADER, stat_line(10.0, 42, "python3", utime=150, stime=50, threads=4)])
    (process,) = log.processes
    (sample,) = process.samples
    assert (process.pid, process.name, process.session, process.label) == (42, "python3", 10, "python3_42")
    assert sample.time == 10.0
    assert (sample.utime, sample.stime, sample.cpu_seconds) == (1.5, 0.5, 2.0)
    assert sample.threads == 4
    assert sample.vsize_bytes == 8192000
    assert sample.rss_bytes == 256 * 4096
    assert (sample.rchar, sample.wchar, sample.read_bytes, sample.write_bytes) == (1000, 2000, 5000, 6000)


@pytest.mark.parametrize("name", ["Web Content", "a) (b", "tribler (gui) x", "x" * 15])
def test_name_with_spaces_or_parentheses_does_not_shift_columns(name: str) -> None:
    log = parse_resource_log([HEADER, stat_line(1.0, 7, name, utime=300, rss=100)])
    (process,) = log.processes
    assert process.name == name
    assert process.samples[0].utime == 3.0
    assert process.samples[0].rss_bytes == 100 * 4096


def test_bad_and_incomplete_lines_are_reported_not_fatal() -> None:
    good = stat_line(1.0, 7, "sh")
    lines = [HEADER, good, "garbage\n", "2.0 8 (sh) S 1 2\n", good.replace("1.0", "x.y", 1), good[:40]]
    log = parse_resource_log(lines)
    assert len(log.processes) == 1
    assert [p.line for p in log.problems] == [3, 4, 5, 6]
    assert log.problems[-1].message == "incomplete last line"


def test_missing_header_falls_back_to_defaults() -> None:
    log = parse_resource_log([stat_line(1.0, 7, "sh", utime=100)])
    assert (log.clock_ticks, log.page_size) == (100.0, 4096)
    assert log.processes[0].samples[0].utime == 1.0


def test_reused_pid_is_a_new_process() -> None:
    lines = [HEADER, stat_line(1.0, 7, "sh", start=100), stat_line(2.0, 7, "sleep", start=900)]
    log = parse_resource_log(lines)
    assert [(p.pid, p.name) for p in log.processes] == [(7, "sh"), (7, "sleep")]


def test_cpu_rate_is_cpu_seconds_per_second() -> None:
    lines = [HEADER] + [stat_line(float(t), 7, "busy", utime=50 * t) for t in range(1, 5)]
    log = parse_resource_log(lines)
    assert log.interval == 1.0
    (series,) = log.cpu_series()
    assert series.times == (1.0, 2.0, 3.0, 4.0)
    assert series.values == pytest.approx([0.5, 0.5, 0.5, 0.5])


def test_session_grouping_sums_processes_and_uses_labels() -> None:
    lines = [HEADER]
    for t in (1.0, 2.0):
        lines.append(stat_line(t, 11, "sh", rss=256, session=11))
        lines.append(stat_line(t, 12, "python3", rss=512, session=11))
        lines.append(stat_line(t, 21, "sh", rss=256, session=21))
    log = parse_resource_log(lines)
    assert list(log.sessions()) == [11, 21]
    memory = log.memory_series("session", labels={11: "peer 1"})
    assert [s.label for s in memory] == ["peer 1", "session 21"]
    assert memory[0].values == (3.0, 3.0)  # (256 + 512) pages of 4 KiB = 3 MiB
    assert memory[1].values == (1.0, 1.0)


def test_read_resource_log_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "resource_usage.log"
    path.write_text(HEADER + stat_line(1.0, 7, "sh"))
    log = read_resource_log(path)
    assert log.path == path
    assert len(log.processes) == 1
