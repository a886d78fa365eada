"""The guard as a library (what `gscen run` uses): results, timeouts, cancellation, the resource log."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
import time
from pathlib import Path

import psutil
import pytest
from scenario_lang.runtime.guard import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    Guard,
    GuardClosedError,
    GuardConfig,
    GuardSpawnError,
    StopReason,
    commands_from_options,
    run_guard,
)
from scenario_lang.runtime.resource_log import read_resource_log

DEADLINE = 10.0


def is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False


def group_members(guard: Guard) -> list[psutil.Process]:
    shells = {r.pid for r in guard.reports()}
    members = []
    for proc in psutil.process_iter():
        try:
            if proc.pid in shells or os.getsid(proc.pid) in shells:
                members.append(proc)
        except (psutil.NoSuchProcess, ProcessLookupError, PermissionError):
            continue
    return members


async def wait_until(condition: object, what: str) -> None:
    assert callable(condition)
    end = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_exit_code_is_5_when_a_command_exits_non_zero(tmp_path: Path) -> None:
    config = GuardConfig(commands=("true", "exit 3", "true"), interval=0.1, output_dir=tmp_path)
    async with Guard(config) as guard:
        result = await asyncio.wait_for(guard.wait_done(), DEADLINE)
    assert result.reason is StopReason.ALL_EXITED
    assert [p.returncode for p in result.processes] == [0, 3, 0]
    assert [p.index for p in result.failed] == [1]
    assert result.exit_code == EXIT_FAILED


async def test_exit_code_is_0_when_every_command_succeeds() -> None:
    result = await asyncio.wait_for(run_guard(GuardConfig(commands=("true",) * 3, interval=0.1)), DEADLINE)
    assert result.exit_code == EXIT_OK
    assert all(not p.stopped_by_guard for p in result.processes)


async def test_done_comes_at_last_exit_not_at_next_tick() -> None:
    started = time.monotonic()
    result = await asyncio.wait_for(run_guard(GuardConfig(commands=("sleep 0.2",), interval=5.0)), DEADLINE)
    assert result.reason is StopReason.ALL_EXITED
    assert time.monotonic() - started < 2.0


async def test_guard_waits_for_background_children_of_an_exited_shell() -> None:
    # The shell exits at once; its background sleep keeps the command's group alive (as Gumby).
    started = time.monotonic()
    cpu_before = time.process_time()
    result = await asyncio.wait_for(run_guard(GuardConfig(commands=("sleep 1 &",), interval=0.1)), DEADLINE)
    assert result.reason is StopReason.ALL_EXITED
    assert time.monotonic() - started >= 0.9
    assert result.processes[0].returncode == 0
    assert time.process_time() - cpu_before < 0.5  # waited on ticks, did not spin


async def test_timeout_stops_commands_and_exits_0_unless_fail_on_timeout(tmp_path: Path) -> None:
    config = GuardConfig(commands=("sleep 100", "exit 2"), timeout=0.4, interval=0.1, grace=1.0)
    result = await asyncio.wait_for(run_guard(config), DEADLINE)
    assert result.timed_out
    sleeper, failer = result.processes
    assert sleeper.stopped_by_guard and sleeper.returncode == -15
    assert not sleeper.failed
    assert failer.failed
    assert result.exit_code == EXIT_FAILED
    only_sleep = GuardConfig(commands=("sleep 100",), timeout=0.3, interval=0.1)
    assert (await run_guard(only_sleep)).exit_code == EXIT_OK
    strict = GuardConfig(commands=("sleep 100",), timeout=0.3, interval=0.1, fail_on_timeout=True)
    assert (await run_guard(strict)).exit_code == EXIT_TIMEOUT


async def test_output_of_a_killed_process_is_kept(tmp_path: Path) -> None:
    command = "echo before; echo oops >&2; exec sleep 100"
    config = GuardConfig(commands=(command,), timeout=0.5, interval=0.1, output_dir=tmp_path)
    result = await asyncio.wait_for(run_guard(config), DEADLINE)
    report = result.processes[0]
    assert report.stdout_path == tmp_path / "00000.out"
    assert report.stdout_path.read_text() == f"Starting #00000: {command}\nbefore\n"
    assert (tmp_path / "00000.err").read_text() == "oops\n"


async def test_cancelling_the_owner_still_terminates_and_reaps_everything() -> None:
    config = GuardConfig(commands=("sh -c 'sleep 100 & sleep 100'",) * 2, interval=0.1, grace=1.0)
    members: list[psutil.Process] = []
    entered = asyncio.Event()

    async def owner() -> None:
        async with Guard(config) as guard:
            await wait_until(lambda: sum(p.name() == "sleep" for p in group_members(guard)) >= 4, "4 sleeps")
            members.extend(group_members(guard))
            entered.set()
            await guard.wait_done()

    task = asyncio.create_task(owner())
    await asyncio.wait_for(entered.wait(), DEADLINE)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(members) >= 6
    assert [p.pid for p in members if is_running(p.pid)] == []


async def test_aclose_is_idempotent_and_the_guard_runs_once() -> None:
    guard = Guard(GuardConfig(commands=("sleep 100",), interval=0.1, grace=0.5))
    await guard.start()
    first = await guard.aclose()
    second = await guard.aclose()
    assert first is second
    assert first.reason is StopReason.STOPPED
    assert first.processes[0].stopped_by_guard
    with pytest.raises(GuardClosedError):
        await guard.start()


async def test_spawn_error_is_a_guard_error_and_nothing_is_left(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(GuardSpawnError, match="cannot create folder"):
        async with Guard(GuardConfig(commands=("sleep 100",), output_dir=blocker / "out")):
            pass
    with pytest.raises(GuardSpawnError, match="cannot start command"):
        async with Guard(GuardConfig(commands=("sleep 100", "true"), cwd=tmp_path / "missing")):
            pass


async def test_results_report_cpu_seconds_and_peak_rss(tmp_path: Path) -> None:
    busy = (
        f"{sys.executable} -c \"import time; b = bytearray(60 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
        'end = time.process_time() + 0.5\nwhile time.process_time() < end: pass\ntime.sleep(0.3)"'
    )
    config = GuardConfig(commands=(busy,), interval=0.1, output_dir=tmp_path)
    result = await asyncio.wait_for(run_guard(config), DEADLINE)
    report = result.processes[0]
    assert report.returncode == 0, (tmp_path / "00000.err").read_text()
    assert 0.4 <= report.cpu_seconds < 5
    assert report.peak_rss_bytes >= 60 * 2**20


async def test_resource_log_is_gumby_format_and_sampling_does_not_drift(tmp_path: Path) -> None:
    interval = 0.05
    config = GuardConfig(
        commands=("sh -c 'sleep 1.2 & sleep 1.2'",), interval=interval, resource_dir=tmp_path, network=True
    )
    result = await asyncio.wait_for(run_guard(config), DEADLINE)
    lines = (tmp_path / "resource_usage.log").read_text().splitlines()
    header = json.loads(lines[0])
    assert set(header) == {"sc_clk_tck", "pagesize"}
    first = lines[1].split()
    assert first[0].partition(".")[2] in {f"{n:02d}" for n in range(0, 100, 5)}  # a multiple of 0.05
    assert len(first) == 1 + 52 + 7  # T, the 52 stat fields of this kernel, 7 io counters
    log = read_resource_log(tmp_path / "resource_usage.log")
    assert log.problems == ()
    shell = result.processes[0].pid
    assert {p.session for p in log.processes} == {shell}
    assert sorted(p.name for p in log.processes) == ["sh", "sh", "sleep", "sleep"]
    # Absolute deadlines: about one round per interval over the run, none doubled.
    rounds = [s.time for s in log.processes[0].samples]
    assert len(rounds) == len(set(rounds))
    gaps = [round((b - a) / interval) for a, b in itertools.pairwise(rounds)]
    assert sum(gap != 1 for gap in gaps) <= 2, gaps  # a loaded machine may skip a round, never drift
    duration = result.ended_at - result.started_at
    assert result.samples >= 0.8 * duration / interval - 2
    assert result.samples <= duration / interval + 2
    network = (tmp_path / "network_usage.log").read_text().splitlines()
    assert network and all(len(line.split()) == 2 + 16 for line in network)


def test_single_c_runs_n_copies() -> None:
    assert commands_from_options(["cmd"], 3) == ("cmd", "cmd", "cmd")


def test_repeated_c_runs_each_once_and_warns_when_n_is_given(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scenario_lang.runtime.guard"):
        assert commands_from_options(["a", "b"], 1) == ("a", "b")
        assert caplog.records == []
        assert commands_from_options(["a", "b"], 4) == ("a", "b")
    assert "-n is ignored" in caplog.text


def test_command_file_lines_follow_skipping_blanks_and_comments(tmp_path: Path) -> None:
    file = tmp_path / "commands"
    file.write_text("# header\nfirst\n\n   \n  # indented comment\nsecond --flag\n")
    assert commands_from_options(["c"], 2, file) == ("c", "c", "first", "second --flag")
    assert commands_from_options([], 1, file) == ("first", "second --flag")


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one command"):
        GuardConfig(commands=())
    with pytest.raises(ValueError, match="interval"):
        GuardConfig(commands=("true",), interval=0)


async def test_run_guard_stops_everything_when_stop_is_set() -> None:
    stop = asyncio.Event()
    config = GuardConfig(commands=("sleep 100",) * 3, interval=0.1, grace=1.0)
    task = asyncio.create_task(run_guard(config, stop))
    me = psutil.Process()
    await wait_until(lambda: sum(p.name() == "sleep" for p in me.children(recursive=True)) >= 3, "3 sleeps")
    pids = [p.pid for p in me.children(recursive=True)]
    stop.set()
    result = await asyncio.wait_for(task, DEADLINE)
    assert result.reason is StopReason.STOPPED
    assert all(p.stopped_by_guard for p in result.processes)
    assert result.exit_code == EXIT_OK
    assert [pid for pid in pids if is_running(pid)] == []


async def test_run_guard_with_stop_already_set_does_not_start_every_command() -> None:
    stop = asyncio.Event()
    stop.set()
    result = await asyncio.wait_for(run_guard(GuardConfig(commands=("sleep 100",) * 50), stop), DEADLINE)
    assert len(result.processes) <= 5
    assert all(not is_running(p.pid) for p in result.processes)
