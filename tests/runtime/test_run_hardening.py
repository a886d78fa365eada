"""`gscen run` under a demanding user, as real processes: runs started together, hung peers, spaces in
paths, the interpreter on PATH, interrupts before the start, runs too big for the machine."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def gscen(*args: str) -> list[str]:
    return [sys.executable, "-m", "scenario_lang.cli", *args]


def gscen_run(conf: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(gscen("run", conf, *args), capture_output=True, text=True, timeout=timeout)


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def summary(out: Path) -> dict[str, object]:
    data = json.loads((out / "summary.json").read_text())
    assert isinstance(data, dict)
    return data


def test_runs_started_together_each_get_a_fresh_output_folder(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    write(
        folder,
        {
            "exp.conf": "experiment_name = e\nexperiment_server_cmd = ''\n"
            "local_instance_cmd = sh -c 'echo $$ > $OUTPUT_DIR/mine.txt'\n"
        },
    )
    # Start together just after a second begins, so that the runs pick their folders in one second.
    time.sleep(1.05 - time.time() % 1)
    procs = [
        subprocess.Popen(
            gscen("run", str(folder / "exp.conf"), "--no-plots"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    folders = sorted(p for p in (folder / "output").iterdir() if not p.is_symlink())
    assert len(folders) == 4
    assert all((f / "mine.txt").is_file() and summary(f)["status"] == "ok" for f in folders)


HANG_MODULE = """\
import time

import pytest

from scenario_lang import ExperimentModule, experiment_callback


class Mod(ExperimentModule):
    @experiment_callback
    def work(self, n: int) -> None:
        (self.output_dir / f"work{n}.txt").write_text(str(n))

    @experiment_callback
    def slow(self, n: int) -> None:
        time.sleep(0.002)  # 5,000 of them take 10 s: more than the peer has before its end + grace

    @experiment_callback
    def hang(self) -> None:
        if self.my_id == 2:
            time.sleep(3600)  # blocks the peer's loop: it cannot stop itself any more

    def on_stop(self) -> None:
        if self.my_id == 1 and (self.output_dir / "linger").exists():
            time.sleep(3600)
"""


def run_experiment(
    folder: Path, conf: str, scenario: str, *args: str, timeout: float = 60
) -> tuple[subprocess.CompletedProcess[str], Path]:
    write(folder, {"exp.conf": conf, "exp.scenario": scenario, "mod.py": HANG_MODULE})
    out = folder / "out"
    result = gscen_run(str(folder / "exp.conf"), "--output", str(out), "--no-plots", *args, timeout=timeout)
    return result, out


CONF = "experiment_name = e\ninstances_to_run = 2\nscenario_file = exp.scenario\nexperiment_time = 6\n"
CONF += "sync_experiment_start_delay = 0.2\n"


def test_a_hung_peer_fails_the_run_soon_after_its_stop_naming_its_unfired_events(tmp_path: Path) -> None:
    began = time.monotonic()
    result, out = run_experiment(
        tmp_path / "x", CONF, "&module mod.Mod\n@0:0.5 hang\n@0:1 work 1\n@0:3 stop\n"
    )
    took = time.monotonic() - began
    assert result.returncode == 1, result.stderr
    assert "run failed" in result.stderr and "peer 2" in result.stderr
    # Counted from the start signal: stop at 3 s, 5 s of grace, 2 s from TERM to KILL, the start-up.
    assert took < 30, f"the run took {took:.1f} s"
    data = summary(out)
    assert data["status"] == "failed" and data["exit_code"] == 1
    peers = {p["peer"]: p for p in data["peers"]}  # type: ignore[union-attr,index]
    assert peers[1]["events_unfired"] == 0 and not peers[1]["ended_late"]
    assert peers[2]["events_unfired"] == 2 and peers[2]["stopped_by_guard"]
    assert peers[2]["unfired"] == ["exp.scenario:2 `hang` @0.5 s", "exp.scenario:3 `work` @1 s"]
    assert any(e["peer"] == 2 and "did not run" in e["message"] for e in data["errors"])  # type: ignore[union-attr,index]


def test_a_peer_that_does_not_exit_after_its_stop_fails_the_run(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    (folder / "out" / "1").mkdir(parents=True)
    (folder / "out" / "1" / "linger").write_text("")
    result, out = run_experiment(folder, CONF, "&module mod.Mod\n@0:1 work 1\n@0:2 stop\n", "--force")
    assert result.returncode == 1, result.stderr
    data = summary(out)
    peers = {p["peer"]: p for p in data["peers"]}  # type: ignore[union-attr,index]
    assert peers[1]["ended_late"] and peers[1]["events_unfired"] == 0
    assert not peers[2]["ended_late"]
    assert "peer 1 did not exit within 5 s of its `stop`" in str(data["message"])


def test_peers_stopped_when_experiment_time_runs_out_are_the_normal_end(tmp_path: Path) -> None:
    result, out = run_experiment(tmp_path / "x", CONF.replace("= 6", "= 2"), "&module mod.Mod\n@0:1 work 1\n")
    assert result.returncode == 0, result.stderr
    data = summary(out)
    assert data["status"] == "ok"
    assert all(p["events_owed"] == 1 and p["events_unfired"] == 0 for p in data["peers"])  # type: ignore[union-attr,index]


def test_a_run_that_nothing_ends_is_warned_about_before_it_starts(tmp_path: Path) -> None:
    conf = CONF.replace("experiment_time = 6\n", "")
    write(tmp_path / "x", {"exp.conf": conf, "exp.scenario": "&module mod.Mod\n@0:1 work 1\n@0:2 stop {1}\n"})
    (tmp_path / "x" / "mod.py").write_text(HANG_MODULE)
    result = gscen_run(str(tmp_path / "x" / "exp.conf"), "--dry-run", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "warning[SC610]" in result.stderr and "no `stop` for peer 2" in result.stderr
    ok = conf + "experiment_time = 5\n"
    (tmp_path / "x" / "exp.conf").write_text(ok)
    result = gscen_run(str(tmp_path / "x" / "exp.conf"), "--dry-run", timeout=60)
    assert "SC610" not in result.stderr


def test_a_peer_that_falls_behind_and_is_cut_off_at_its_end_fails_the_run(tmp_path: Path) -> None:
    # The 50 MB case in small: a peer that cannot keep up (there, 313,867 of 4,369,067 events fired)
    # is stopped 5 s after its end with events it owed not run; that run used to say `run ok`.
    conf = CONF.replace("instances_to_run = 2", "instances_to_run = 1").replace("= 6", "= 2")
    result, out = run_experiment(
        tmp_path / "x", conf, "&module mod.Mod\n@0:1 for i in 1 to 5000 call slow $i\n"
    )
    assert result.returncode == 1, result.stderr
    data = summary(out)
    (peer,) = data["peers"]  # type: ignore[misc]
    assert peer["events_owed"] == 5000 and 0 < peer["events_unfired"] < 5000
    assert peer["events_fired"] + peer["events_unfired"] == 5000
    assert len(peer["unfired"]) == 10 and peer["unfired"][0].startswith("exp.scenario:2 `slow` @1 s")


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_shipped_example_runs_from_a_folder_with_a_space(tmp_path: Path) -> None:
    folder = tmp_path / "my experiments" / "synchronized instances"
    shutil.copytree(EXAMPLES / "synchronized_instances", folder)
    conf = folder / "synchronized_instances.conf"
    # A command that goes through /bin/sh (`&&`) gets gscen's variables quoted too; a `.conf` key
    # holding several words still gives several arguments (Gumby's expand-then-split).
    text = conf.read_text() + "two_words = a b\n"
    text += "local_setup_cmd = test -d $OUTPUT_DIR && "
    text += "printf '%s|' $TWO_WORDS $OUTPUT_DIR > $OUTPUT_DIR/setup.txt\n"
    conf.write_text(text)
    result = gscen_run(str(conf), "--no-plots", timeout=120)
    assert result.returncode == 0, result.stderr
    (out,) = [p for p in (folder / "output").iterdir() if not p.is_symlink()]
    assert (out / "sum_id.txt").read_text().strip() == "15"
    assert (out / "resource_usage.log").is_file() and (out / "00000.out").is_file()
    assert (out / "setup.txt").read_text() == f"a|b|{out}|"


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_python3_in_post_processing_is_gscens_interpreter_when_gscen_is_called_by_its_path(
    tmp_path: Path,
) -> None:
    # gscen installed in a venv of its own and called by its path, with a PATH whose python3 does not
    # have gscen (as after `pipx install`): the tutorial's `exec python3 "$EXPERIMENT_DIR/sum_ids.py"`.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps"]
    install.append(str(REPO))
    subprocess.run(install, check=True, capture_output=True, cwd=tmp_path)
    folder = tmp_path / "tutorial"
    shutil.copytree(EXAMPLES / "synchronized_instances", folder)
    bare_path = "/usr/bin:/bin"
    probe = subprocess.run(
        ["python3", "-c", "import scenario_lang"], env={"PATH": bare_path}, capture_output=True, cwd=tmp_path
    )
    if probe.returncode == 0:
        pytest.skip("the system's python3 has gscen: nothing to tell apart")
    result = subprocess.run(
        [str(venv / "bin" / "gscen"), "run", str(folder / "synchronized_instances.conf"), "--no-plots"],
        env={"PATH": bare_path, "HOME": str(tmp_path), "PYTHONSAFEPATH": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (out,) = [p for p in (folder / "output").iterdir() if not p.is_symlink()]
    assert (out / "sum_id.txt").read_text().strip() == "15"


def test_sigint_before_the_run_starts_exits_130_and_leaves_no_output_folder(tmp_path: Path) -> None:
    # 150,000 lines take seconds to check: the interrupt lands while the run is being prepared.
    lines = "".join(f"@0:{i % 50} echo line{i}\n" for i in range(150_000))
    write(tmp_path / "x", {"exp.conf": CONF, "exp.scenario": lines + "@0:55 stop\n"})
    proc = subprocess.Popen(
        gscen("run", str(tmp_path / "x" / "exp.conf")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The fresh output folder is reserved first, then the scenario is checked for seconds.
    deadline = time.monotonic() + 60
    while not (tmp_path / "x" / "output").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Aborted!" not in err and "interrupted" in err
    assert not (tmp_path / "x" / "output").exists()


def test_sigint_to_the_sync_server_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        gscen("sync-server", "--instances", "2"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("listening on ")
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Aborted!" not in err


def test_more_peers_than_memory_allows_are_refused_unless_told_to_go_ahead(tmp_path: Path) -> None:
    conf = CONF.replace("instances_to_run = 2", "instances_to_run = 100000")
    write(tmp_path / "x", {"exp.conf": conf, "exp.scenario": "@0:1 echo hi\n@0:2 stop\n"})
    began = time.monotonic()
    refused = gscen_run(str(tmp_path / "x" / "exp.conf"), timeout=60)
    assert refused.returncode == 1
    assert "100,000 peers need at least" in refused.stderr and "--ignore-memory" in refused.stderr
    assert time.monotonic() - began < 30
    assert not (tmp_path / "x" / "output").exists()  # nothing was started or written
    allowed = gscen_run(str(tmp_path / "x" / "exp.conf"), "--ignore-memory", "--dry-run", timeout=60)
    assert allowed.returncode == 0, allowed.stderr
    assert "100000 x `gscen peer`" in allowed.stdout
    dry = gscen_run(str(tmp_path / "x" / "exp.conf"), "--dry-run", timeout=60)
    assert dry.returncode == 0 and "100,000 peers need at least" in dry.stderr  # said, not refused


def test_a_conf_with_nothing_to_run_fails_saying_so(tmp_path: Path) -> None:
    write(tmp_path / "x", {"exp.conf": "experiment_name = e\nscenario = exp.scenario\n"})
    result = gscen_run(str(tmp_path / "x" / "exp.conf"))
    assert result.returncode == 1
    assert "nothing to run" in result.stderr and "run ok" not in result.stderr


def test_a_large_scenario_is_checked_in_chunks_and_its_diagnostics_still_show_their_lines(
    tmp_path: Path,
) -> None:
    # Above 20,000 lines the runner checks and compiles in chunks (forked workers): the diagnostics of
    # a line deep in the file still come with their source line and carets.
    body = [f"@0:{i % 50} echo line{i}" for i in range(30_000)]
    body[26_000] = "@0:1 ehco oops"
    write(tmp_path / "x", {"exp.conf": CONF, "exp.scenario": "\n".join(body) + "\n@0:55 stop\n"})
    result = gscen_run(str(tmp_path / "x" / "exp.conf"), "--dry-run", timeout=120)
    assert result.returncode == 1
    assert "exp.scenario:26001:6: error[SC301]: unknown callback `ehco`" in result.stderr
    assert "26001 | @0:1 ehco oops" in result.stderr and "^^^^" in result.stderr
    body[26_000] = "@0:1 echo fine"
    (tmp_path / "x" / "exp.scenario").write_text("\n".join(body) + "\n@0:55 stop\n")
    result = gscen_run(str(tmp_path / "x" / "exp.conf"), "--dry-run", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "30001 events for 2 peers" in result.stdout and "(`gscen plan` lists them all)" in result.stdout
