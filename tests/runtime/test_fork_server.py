"""`gscen run` forks its peers from a fork server: real runs show what the peers are and that nothing is
left behind when the fork server or the run's own process is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from process_watch import Adopter

MODULE = """\
import sys
import time

from scenario_lang import ExperimentModule, experiment_callback


class Mod(ExperimentModule):
    def on_id_received(self) -> None:
        imported = sorted(m for m in ("click", "rich", "lark") if m in sys.modules)
        (self.output_dir / "imported.json").write_text(repr(imported))

    @experiment_callback
    def block(self) -> None:
        # Blocks the peer's loop: only a signal that cannot be handled late ends it.
        time.sleep(120)
"""


def experiment(folder: Path, instances: int, scenario: str, experiment_time: int = 60) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mod.py").write_text(MODULE, encoding="utf-8")
    (folder / "exp.scenario").write_text(f"&module mod.Mod\n{scenario}", encoding="utf-8")
    conf = folder / "exp.conf"
    conf.write_text(
        f"experiment_name = fork\ninstances_to_run = {instances}\nscenario_file = exp.scenario\n"
        f"experiment_time = {experiment_time}\nsync_experiment_start_delay = 0.2\n",
        encoding="utf-8",
    )
    return conf


def start(conf: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scenario_lang.cli", "run", str(conf), "--output", str(out), "--no-plots"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def peer_dirs(out: Path) -> int:
    return sum(1 for name in os.listdir(out) if name.isdigit()) if out.is_dir() else 0


def of_run(out: Path) -> list[psutil.Process]:
    """The live processes (zombies included) whose environment names `out` as OUTPUT_DIR."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("OUTPUT_DIR") == str(out):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def children_named(parent: int, name: str) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(parent).children() if p.name() == name]
    except psutil.NoSuchProcess:
        return []


def test_peers_are_forked_sessions_of_the_run_without_cli_libraries(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", 4, "@0:1 stop\n", experiment_time=5)
    out = tmp_path / "out"
    proc = start(conf, out)
    try:
        wait_for(lambda: peer_dirs(out) == 4, "the peers to connect")
        peers = children_named(proc.pid, "gscen-peer")
        servers = children_named(proc.pid, "gscen-forksrv")
        # Each the leader of its own session (looked at while they wait for the start).
        sessions = {peer.pid: os.getsid(peer.pid) for peer in peers}
        _stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    # Children of the run's process (it reaps them).
    assert len(peers) == 4 and len(servers) == 1
    assert all(session == pid for pid, session in sessions.items())
    for i in (1, 2, 3, 4):
        assert (out / str(i) / "imported.json").read_text() == "[]"
        assert json.loads((out / str(i) / "result.json").read_text())["exit_code"] == 0
    data = json.loads((out / "summary.json").read_text())
    assert [p["exit_code"] for p in data["peers"]] == [0, 0, 0, 0]


@pytest.mark.slow
def test_killing_the_fork_server_mid_spawn_leaves_nothing_behind(tmp_path: Path, adopter: Adopter) -> None:
    conf = experiment(tmp_path / "x", 300, "@0:0.5 stop\n", experiment_time=30)
    out = tmp_path / "out"
    proc = start(conf, out)
    try:
        wait_for(lambda: len(children_named(proc.pid, "gscen-peer")) >= 20, "peers to be forked")
        (server,) = children_named(proc.pid, "gscen-forksrv")
        server.kill()
        _stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, stderr
    assert "fork server" in stderr
    time.sleep(2)
    assert adopter.left() == []


@pytest.mark.slow
def test_peers_die_with_a_killed_run_even_when_their_loop_is_blocked(
    tmp_path: Path, adopter: Adopter
) -> None:
    conf = experiment(tmp_path / "x", 5, "@0:0.2 block\n", experiment_time=60)
    out = tmp_path / "out"
    proc = start(conf, out)
    try:
        wait_for(lambda: all((out / str(i) / "events.csv").exists() for i in range(1, 6)), "the peers to run")
        time.sleep(0.5)  # the callbacks block now
        assert len(of_run(out)) >= 5
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # Nobody could reap the killed run's children: the adopter does; none may still be running.
    deadline = time.monotonic() + 5
    while adopter.left(zombies=False) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert adopter.left(zombies=False) == []


_WAITING_PEER = r"""
import os, resource, sys, time
from scenario_lang.runtime import fork_server
from scenario_lang.runtime.lifetime import become_subreaper

assert become_subreaper()
guard = os.getpid()
read, write = os.pipe()
if os.fork() == 0:  # the intermediate: fork the peer, outlive it by a second, exit
    if os.fork() == 0:
        ok = fork_server._wait_reparented(guard, 5.0)
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        os.write(write, b"%d %.4f\n" % (ok, cpu.ru_utime + cpu.ru_stime))
        os._exit(0)
    time.sleep(1.0)
    os._exit(0)
os.close(write)
print(os.read(read, 100).decode().strip())
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""


def test_a_forked_peer_sleeps_while_its_intermediate_lives() -> None:
    # Polling getppid() every 0.2 ms kept 1,000 waiting peers runnable (load average 100+),
    # starving the intermediates and the guard; a peer waiting a second must cost next to no CPU.
    done = subprocess.run(
        [sys.executable, "-c", _WAITING_PEER], capture_output=True, text=True, timeout=30, check=True
    )
    ok, cpu = done.stdout.split()
    assert ok == "1"
    assert float(cpu) < 0.02, f"the waiting peer spent {cpu} CPU-s in a 1 s wait"
