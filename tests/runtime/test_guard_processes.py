"""The guard as a real process: signals mid-run must leave no descendant running (zombies are dead)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

DEADLINE = 15.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def is_running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (PID 1 here does not reap orphans, so a dead process may linger as Z)."""
    try:
        return proc.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False


def sleeps_below(guard: psutil.Process) -> list[psutil.Process]:
    try:
        return [p for p in guard.children(recursive=True) if p.name() == "sleep"]
    except psutil.NoSuchProcess:
        return []


def start_guard(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scenario_lang.cli",
            "guard",
            "-i",
            "0.1",
            "-o",
            str(tmp_path),
            "-m",
            str(tmp_path),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def stop_guard_and_check(
    guard: subprocess.Popen[bytes], sig: int, expected_sleeps: int
) -> tuple[int, list[psutil.Process]]:
    handle = psutil.Process(guard.pid)
    wait_for(lambda: len(sleeps_below(handle)) >= expected_sleeps, f"{expected_sleeps} sleep processes")
    descendants = handle.children(recursive=True)
    assert descendants
    guard.send_signal(sig)
    try:
        code = guard.wait(timeout=DEADLINE)
    finally:
        if guard.poll() is None:
            guard.kill()
        guard.communicate()
    return code, descendants


@pytest.mark.parametrize(("sig", "exit_code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signal_to_guard_leaves_no_descendant_running(tmp_path: Path, sig: int, exit_code: int) -> None:
    guard = start_guard(tmp_path, "-c", "sh -c 'sleep 100 & sleep 100'", "-n", "3", "--grace", "2")
    code, descendants = stop_guard_and_check(guard, sig, expected_sleeps=6)
    left = [p.pid for p in descendants if is_running(p)]
    assert left == []
    assert code == exit_code


def test_sigterm_to_guard_kills_children_that_ignore_sigterm(tmp_path: Path) -> None:
    # The trap makes both sleeps ignore SIGTERM (an ignored signal stays ignored across exec).
    guard = start_guard(tmp_path, "-c", "trap '' TERM; sleep 100 & sleep 100", "--grace", "0.3")
    started = time.monotonic()
    code, descendants = stop_guard_and_check(guard, signal.SIGTERM, expected_sleeps=2)
    assert [p.pid for p in descendants if is_running(p)] == []
    assert code == 0
    assert time.monotonic() - started < DEADLINE


def test_sigint_to_guard_kills_descendant_that_left_the_session(tmp_path: Path) -> None:
    # `setsid` moves the first sleep out of the command's session and process group: only the
    # guard's ancestry tracking finds it.
    guard = start_guard(tmp_path, "-c", "setsid sleep 100 & sleep 100")
    code, descendants = stop_guard_and_check(guard, signal.SIGINT, expected_sleeps=2)
    assert [p.pid for p in descendants if is_running(p)] == []
    assert code == 130


def test_guard_command_runs_gumby_style_repeated_c_and_timeout(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scenario_lang.cli",
            "guard",
            "-c",
            "echo one",
            "-c",
            "echo two; exit 4",
            "-c",
            "sleep 100",
            "-n",
            "2",
            "-t",
            "0.5",
            "-i",
            "0.1",
            "-o",
            str(tmp_path),
            "-m",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 5, result.stderr
    assert "-n is ignored" in result.stderr
    assert "Traceback" not in result.stderr
    outputs = sorted(p.name for p in tmp_path.glob("*.out"))
    assert outputs == ["00000.out", "00001.out", "00002.out"]
    assert (tmp_path / "00001.out").read_text() == "Starting #00001: echo two; exit 4\ntwo\n"


def test_guard_command_reports_usage_errors_without_traceback(tmp_path: Path) -> None:
    no_command = subprocess.run(
        [sys.executable, "-m", "scenario_lang.cli", "guard", "-t", "1"], capture_output=True, text=True
    )
    assert no_command.returncode == 2
    assert "no command to run" in no_command.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    bad_output = subprocess.run(
        [sys.executable, "-m", "scenario_lang.cli", "guard", "-c", "true", "-o", str(blocker / "out")],
        capture_output=True,
        text=True,
    )
    assert bad_output.returncode == 1
    assert "cannot create folder" in bad_output.stderr
    assert "Traceback" not in bad_output.stderr
