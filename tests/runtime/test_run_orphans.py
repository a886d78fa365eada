"""A signal to `gscen run` at any moment leaves no process behind and nothing written after summary.json.

Real runs of many peers: the signal lands while the peers are still being spawned, while they connect,
while they run, or twice; afterwards no process of the run is left (zombies included: the test process
adopts the orphans, see conftest.py) and no file of the output folder changed after summary.json.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from process_watch import Adopter

MODULE = """\
from scenario_lang import ExperimentModule, experiment_callback


class Mod(ExperimentModule):
    @experiment_callback
    def work(self) -> None:
        (self.output_dir / "work.txt").write_text("done")
"""


def experiment(folder: Path, instances: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mod.py").write_text(MODULE, encoding="utf-8")
    (folder / "exp.scenario").write_text("&module mod.Mod\n@0:0.2 work\n@0:60 stop\n", encoding="utf-8")
    conf = folder / "exp.conf"
    conf.write_text(
        f"experiment_name = orphans\ninstances_to_run = {instances}\nscenario_file = exp.scenario\n"
        "experiment_time = 60\nsync_experiment_start_delay = 0.2\n",
        encoding="utf-8",
    )
    return conf


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def spawned(out: Path) -> int:
    try:
        return sum(1 for name in os.listdir(out) if name.endswith(".out"))
    except OSError:
        return 0


def files_after(out: Path, instant: float) -> list[str]:
    late = []
    for root, _dirs, files in os.walk(out):
        for name in files:
            path = Path(root, name)
            try:
                if path.stat().st_mtime > instant:
                    late.append(str(path.relative_to(out)))
            except OSError:
                pass
    return late


def interrupt(
    tmp_path: Path, adopter: Adopter, instances: int, when: Callable[[Path], bool], signals: tuple[int, ...]
) -> Path:
    conf = experiment(tmp_path / "x", instances)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scenario_lang.cli", "run", str(conf), "--output", str(out), "--no-plots"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: when(out), "the moment to interrupt")
        for sig in signals:
            os.kill(proc.pid, sig)
            time.sleep(0.05)
        _out, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode in (130, 143), stderr
    summary = out / "summary.json"
    assert summary.exists(), stderr
    written = summary.stat().st_mtime
    # Orphans would retry the closed sync server for seconds: give them time to show up.
    time.sleep(3)
    left = adopter.left()
    assert not left, f"left behind: {[(p.pid, p.name(), p.status()) for p in left]}"
    assert files_after(out, written) == []
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_peers_are_spawned_leaves_no_process_behind(
    tmp_path: Path, adopter: Adopter, sig: int
) -> None:
    interrupt(tmp_path, adopter, 400, lambda out: spawned(out) >= 40, (sig,))


@pytest.mark.slow
def test_a_second_signal_while_stopping_leaves_no_process_behind(tmp_path: Path, adopter: Adopter) -> None:
    interrupt(tmp_path, adopter, 400, lambda out: spawned(out) >= 40, (signal.SIGTERM, signal.SIGINT))


@pytest.mark.slow
def test_a_signal_while_peers_connect_or_run_leaves_no_process_behind(
    tmp_path: Path, adopter: Adopter
) -> None:
    def connected(out: Path) -> bool:
        return sum(1 for name in os.listdir(out) if name.isdigit()) >= 1 if out.is_dir() else False

    interrupt(tmp_path, adopter, 30, connected, (signal.SIGTERM,))
