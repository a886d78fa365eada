"""`gscen run` as a real process: failing steps, failing syncs and signals stop everything and say why."""

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

MODULE = """\
from scenario_lang import ExperimentModule, experiment_callback


class Mod(ExperimentModule):
    def on_id_received(self) -> None:
        if self.my_id == 2 and self.experiment_name_is_broken:
            raise RuntimeError("peer 2 cannot start")

    experiment_name_is_broken = False

    @experiment_callback
    def work(self, n: int) -> None:
        (self.output_dir / "work.txt").write_text(str(n))

    @experiment_callback
    def boom(self) -> None:
        raise ValueError("boom")
"""


def gscen(*args: str, cwd: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "scenario_lang.cli", *args]


def experiment(folder: Path, conf: str, scenario: str | None = None, module: str = MODULE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mod.py").write_text(module, encoding="utf-8")
    if scenario is not None:
        (folder / "exp.scenario").write_text(scenario, encoding="utf-8")
    path = folder / "exp.conf"
    path.write_text(conf, encoding="utf-8")
    return path


def run(conf: Path, out: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        gscen("run", str(conf), "--output", str(out), "--no-plots", *args),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def summary(out: Path) -> dict[str, object]:
    data = json.loads((out / "summary.json").read_text())
    assert isinstance(data, dict)
    return data


def test_setup_and_post_processing_run_in_the_experiment_folder_with_gumbys_environment(
    tmp_path: Path,
) -> None:
    conf = experiment(
        tmp_path / "x",
        "experiment_name = env_check\ninstances_to_run = 2\nexperiment_server_cmd = ''\n"
        "local_setup_cmd = sh -c 'pwd > $OUTPUT_DIR/setup.txt; "
        "echo $EXPERIMENT_NAME >> $OUTPUT_DIR/setup.txt'\n"
        'local_instance_cmd = process_guard.py -c "echo $$INSTANCES_TO_RUN > /dev/null" -n 2 -o $OUTPUT_DIR\n'
        "post_process_cmd = sh -c 'echo post $INSTANCES_TO_RUN $SCENARIO_FILE.'\n",
    )
    out = tmp_path / "out"
    result = run(conf, out)
    assert result.returncode == 0, result.stderr
    lines = (out / "setup.txt").read_text().splitlines()
    assert lines == [str((tmp_path / "x").absolute()), "env_check"]
    assert (out / "logs" / "post_process_cmd.out").read_text() == "post 2 .\n"
    assert "post 2 ." in result.stderr  # a command's last output lines are shown
    data = summary(out)
    assert data["status"] == "ok"
    assert [s["name"] for s in data["steps"]] == ["local_setup_cmd", "local_instance_cmd", "post_process_cmd"]  # type: ignore[index,union-attr]


def test_failing_step_fails_the_run_naming_step_status_and_log(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x",
        "experiment_name = e\nexperiment_server_cmd = ''\n"
        "local_setup_cmd = sh -c 'echo setup went wrong >&2; exit 3'\n"
        "post_process_cmd = sh -c 'touch $OUTPUT_DIR/post-ran'\n",
    )
    out = tmp_path / "out"
    result = run(conf, out)
    assert result.returncode == 1
    assert "local_setup_cmd" in result.stderr and "exit status 3" in result.stderr
    assert str(out / "logs" / "local_setup_cmd.err") in result.stderr
    assert (out / "logs" / "local_setup_cmd.err").read_text() == "setup went wrong\n"
    assert not (out / "post-ran").exists()
    data = summary(out)
    assert data["status"] == "failed" and data["exit_code"] == 1
    steps = {s["name"]: s["status"] for s in data["steps"]}  # type: ignore[index,union-attr]
    assert steps == {"local_setup_cmd": "failed", "post_process_cmd": "not-run"}


def test_peers_that_never_show_up_fail_the_sync_fast(tmp_path: Path) -> None:
    # A scenario with a custom instance command that starts no peer: the server waits in vain.
    conf = experiment(
        tmp_path / "x",
        "experiment_name = e\ninstances_to_run = 2\nscenario_file = exp.scenario\n"
        'local_instance_cmd = process_guard.py -c "sleep 30" -n 2 -o $OUTPUT_DIR\n',
        "&module mod.Mod\n@0:1 work 1\n",
    )
    out = tmp_path / "out"
    began = time.monotonic()
    result = run(conf, out, "--sync-timeout", "1.5")
    assert time.monotonic() - began < 20
    assert result.returncode == 1
    assert "sync failed" in result.stderr and "local_instance_cmd" in result.stderr
    assert summary(out)["status"] == "failed"


def test_a_peer_failing_before_the_start_stops_the_run_at_once(tmp_path: Path) -> None:
    module = MODULE.replace("experiment_name_is_broken = False", "experiment_name_is_broken = True")
    conf = experiment(
        tmp_path / "x",
        "experiment_name = e\ninstances_to_run = 3\nscenario_file = exp.scenario\nexperiment_time = 60\n",
        "&module mod.Mod\n@0:50 work 1\n@0:55 stop\n",
        module,
    )
    out = tmp_path / "out"
    began = time.monotonic()
    result = run(conf, out)
    assert time.monotonic() - began < 30
    assert result.returncode == 1, result.stderr
    assert "local_instance_cmd" in result.stderr
    assert "peer 2" in result.stderr or "before the experiment started" in result.stderr
    assert summary(out)["status"] == "failed"


def test_failing_callback_is_reported_with_scenario_line(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x",
        "experiment_name = e\ninstances_to_run = 2\nscenario_file = exp.scenario\nexperiment_time = 10\n"
        "sync_experiment_start_delay = 0.2\n",
        "&module mod.Mod\n@0:0.5 work 4\n@0:1 boom {2}\n@0:1.5 stop\n",
    )
    out = tmp_path / "out"
    result = run(conf, out)
    assert result.returncode == 1
    data = summary(out)
    assert data["status"] == "failed"
    errors = data["errors"]
    assert isinstance(errors, list)
    assert any(
        e["peer"] == 2 and (e["path"] or "").endswith("exp.scenario") and e["line"] == 3 for e in errors
    )
    assert "exp.scenario:3" in result.stdout
    peers = {p["peer"]: p for p in data["peers"]}  # type: ignore[union-attr]
    assert peers[1]["events_failed"] == 0 and peers[2]["events_failed"] == 1
    assert peers[1]["events_fired"] == 2 and peers[1]["events_planned"] == 2


def test_callback_errors_may_be_allowed_by_the_conf(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x",
        "experiment_name = e\ninstances_to_run = 1\nscenario_file = exp.scenario\nexperiment_time = 10\n"
        "sync_experiment_start_delay = 0.2\nfail_on_callback_error = false\n",
        "&module mod.Mod\n@0:0.2 boom\n@0:0.5 stop\n",
    )
    out = tmp_path / "out"
    result = run(conf, out)
    assert result.returncode == 0, result.stderr
    data = summary(out)
    assert data["status"] == "ok" and data["peers"][0]["events_failed"] == 1  # type: ignore[index]


# --------------------------------------------------------------------------------------------- signals
def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def described(process: psutil.Process) -> str:
    """Its name and command line (forked peers are named gscen-peer, others have `peer` in the command)."""
    return " ".join([process.name(), *process.cmdline()])


def is_running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (PID 1 here does not reap orphans, so a dead process may linger as Z)."""
    try:
        return proc.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_stops_every_process_and_keeps_results(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    conf = experiment(
        tmp_path / "x",
        "experiment_name = e\ninstances_to_run = 3\nscenario_file = exp.scenario\nexperiment_time = 120\n"
        "sync_experiment_start_delay = 0.2\n"
        "local_setup_cmd = sh -c 'echo setup > $OUTPUT_DIR/setup.txt'\n"
        "post_process_cmd = sh -c 'touch $OUTPUT_DIR/post-ran'\n",
        "&module mod.Mod\n@0:0.5 work 7\n@0:100 stop\n",
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        gscen("run", str(conf), "--output", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: all((out / str(i) / "work.txt").exists() for i in (1, 2, 3)), "the peers to work")
        parent = psutil.Process(proc.pid)
        descendants = parent.children(recursive=True)
        # Forked peers are named gscen-peer; peers started through the shell have `peer` in their command.
        peers = [p for p in descendants if p.status() != psutil.STATUS_ZOMBIE and "peer" in described(p)]
        assert len(peers) >= 3
        os.kill(proc.pid, signum)
        _stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, stderr
    left = [p for p in descendants if is_running(p)]
    assert not left, f"still running: {left}"
    assert "interrupted" in stderr
    data = summary(out)
    assert data["status"] == "interrupted" and data["exit_code"] == code
    assert (out / "setup.txt").read_text() == "setup\n"
    assert not (out / "post-ran").exists()
    for i in (1, 2, 3):
        assert (out / str(i) / "work.txt").read_text() == "7"
        assert (out / str(i) / "events.csv").exists()
    assert (out / "plan.gscenplan").exists() and (out / "resource_usage.log").exists()


def test_another_server_command_runs_in_the_background_and_is_stopped(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x",
        "experiment_name = e\ninstances_to_run = 1\n"
        "experiment_server_cmd = sh -c 'echo $$ > $OUTPUT_DIR/server.pid; exec sleep 100'\n"
        'local_instance_cmd = process_guard.py -c "sleep 0.5" -o $OUTPUT_DIR\n',
    )
    out = tmp_path / "out"
    began = time.monotonic()
    result = run(conf, out)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - began < 20
    pid = int((out / "server.pid").read_text())
    assert not psutil.pid_exists(pid) or not is_running(psutil.Process(pid))


def test_scripts_calling_gumby_programs_reach_gscen(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    conf = experiment(
        folder,
        "experiment_name = e\nexperiment_server_cmd = ''\n"
        'local_instance_cmd = process_guard.py -c "sleep 1.5" -n 2 -i 0.2 -m $OUTPUT_DIR -o $OUTPUT_DIR\n'
        "post_process_cmd = post.sh\n",
    )
    script = folder / "post.sh"
    script.write_text("#!/bin/sh\nset -e\ncd $OUTPUT_DIR\ngraph_process_guard_data.sh\n")
    script.chmod(0o755)
    out = tmp_path / "out"
    result = run(conf, out)
    assert result.returncode == 0, result.stderr
    assert (out / "cpu.png").is_file() and (out / "memory.png").is_file()
    assert "wrote" in (out / "logs" / "post_process_cmd.out").read_text()


def test_a_failing_server_command_fails_the_run(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x",
        "experiment_name = e\ninstances_to_run = 1\n"
        "experiment_server_cmd = sh -c 'echo no port >&2; exit 4'\n"
        'local_instance_cmd = process_guard.py -c "sleep 30" -o $OUTPUT_DIR\n',
    )
    out = tmp_path / "out"
    began = time.monotonic()
    result = run(conf, out)
    assert time.monotonic() - began < 20
    assert result.returncode == 1
    assert "experiment_server_cmd: the server exited with status 4" in result.stderr
    assert "no port" in result.stderr
