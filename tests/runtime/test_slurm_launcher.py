"""The slurm launcher: what it would submit (no cluster needed), and runs on the real local cluster.

The cluster tests use `slurm_cluster` (tests/slurm_cluster.py): skipped without a cluster, failing
under CI=true. After every run they check that squeue lists nothing of the run and that no peer
process is left (zombies count as gone: PID 1 here does not reap).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from scenario_lang.runtime.guard import GuardConfig
from scenario_lang.runtime.launch import PeerLaunch
from scenario_lang.runtime.launch.slurm import (
    SlurmConfig,
    SlurmJob,
    SlurmLauncher,
    batch_script,
    collect_output,
    sbatch_argv,
)
from scenario_lang.runtime.launch.slurm_files import NodeSpec, first_id, node_share, process_number
from scenario_lang.runtime.resource_log import NODE_PID_OFFSET, read_resource_log
from slurm_cluster import SlurmCluster

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


# --------------------------------------------------------------------------------------------- helpers
def gscen_run(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scenario_lang.cli", "run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def experiment(folder: Path, conf: str, scenario: str, module: str | None = None) -> Path:
    """A small experiment: `conf` (scenario_file and sync_port added), `scenario`, a module."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "exp.scenario").write_text(scenario)
    if module is not None:
        (folder / "probe_module.py").write_text(module)
    path = folder / "exp.conf"
    path.write_text(f"scenario_file = exp.scenario\nsync_port = __unique_port__\n{conf}")
    return path


def job_name(conf: Path) -> str:
    return "gscen-" + next(
        line.split("=", 1)[1].strip()
        for line in conf.read_text().splitlines()
        if line.startswith("experiment_name")
    )


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X", "x")


def assert_nothing_left(cluster: SlurmCluster, out: Path, name: str) -> None:
    deadline = time.monotonic() + 15
    while cluster.active_jobs(name) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.active_jobs(name) == [], f"squeue still lists {name}"
    pids = []
    for status in (out / ".gscen" / "nodes").glob("*/status.json"):
        pids += [p["pid"] for p in json.loads(status.read_text())["processes"]]
    assert pids, "no node status was written"
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in pids if alive(p)] == []


LONG_SCENARIO = "&module probe_module.Probe\n\n@0:1 touch\n@0:60 stop\n"
PROBE = """
from scenario_lang import ExperimentModule, experiment_callback


class Probe(ExperimentModule):
    @experiment_callback
    def touch(self) -> None:
        (self.output_dir / "touched").write_text("yes")

    def on_id_received(self) -> None:
        if self.my_id == FAIL_ID:
            raise RuntimeError("peer FAIL_ID refuses to start")
"""


def probe(fail_id: int = 0) -> str:
    return PROBE.replace("FAIL_ID", str(fail_id))


# --------------------------------------------------------------------------------------------- no cluster
@pytest.mark.parametrize(
    ("instances", "nodes", "shares", "firsts"),
    [(16, 2, [8, 8], [1, 9]), (10, 4, [3, 3, 2, 2], [1, 4, 7, 9]), (3, 4, [1, 1, 1, 0], [1, 2, 3, 4])],
)
def test_the_first_instances_mod_nodes_nodes_get_one_more_peer_and_ids_follow_rank(
    instances: int, nodes: int, shares: list[int], firsts: list[int]
) -> None:
    assert [node_share(instances, nodes, r) for r in range(nodes)] == shares
    assert [first_id(instances, nodes, r) for r in range(nodes)] == firsts
    assert sum(shares) == instances


def test_sbatch_asks_for_one_task_per_node_and_the_reservation_outlives_the_node_timeout(
    tmp_path: Path,
) -> None:
    config = SlurmConfig(
        node_amount=3, node_timeout=100, partition="p", account="a", extra_args=("--exclusive",)
    )
    argv = sbatch_argv(config, tmp_path / "job.sh", tmp_path, tmp_path, None)
    assert "--nodes=3" in argv and "--ntasks-per-node=1" in argv
    assert "--time=4" in argv  # (100 + 120) s, in whole minutes
    assert "--partition=p" in argv and "--account=a" in argv and "--exclusive" in argv
    assert argv[-1] == str(tmp_path / "job.sh")
    script = batch_script("/py", tmp_path / "spec.json", 3, 10)
    assert "srun --nodes=3 --ntasks=3 --ntasks-per-node=1" in script
    assert "scenario_lang.runtime.launch.slurm_node" in script


def test_the_token_is_in_no_command_line_or_script_and_in_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    token = "s3cret-token-value"
    guard = GuardConfig(
        commands=("exec gscen peer",) * 4, output_dir=tmp_path, env={"GSCEN_SYNC_TOKEN": token}
    )
    launcher = SlurmLauncher(SlurmConfig(node_amount=2), "/py", token)
    shown = "\n".join(launcher.describe(guard))
    assert token not in shown
    job = SlurmJob(launcher.config, PeerLaunch(guard), "/py", token)
    job._write_files()
    folder = tmp_path / ".gscen" / "slurm"
    assert (folder / "token").read_text() == token
    assert (folder / "token").stat().st_mode & 0o077 == 0
    for name in ("job.sh", "node-spec.json"):
        assert token not in (folder / name).read_text()


def test_dry_run_shows_the_batch_script_and_srun_without_slurm_on_path(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    assert shutil.which("sbatch", path=env["PATH"]) is None
    conf = EXAMPLES / "synchronized_instances_das" / "synchronized_instances_das.conf"
    result = gscen_run([str(conf), "--dry-run", "-o", str(tmp_path / "out")], env)
    assert result.returncode == 0, result.stderr
    assert "slurm: 16 peers on 2 nodes, shares 8 + 8 (ids 1-8, 9-16), node timeout 30 s" in result.stdout
    assert "sbatch --parsable" in result.stdout and "--nodes=2" in result.stdout
    assert "exec srun --nodes=2 --ntasks=2 --ntasks-per-node=1" in result.stdout
    assert not (tmp_path / "out").exists()


def test_gumbys_das_tutorial_keys_map_onto_the_slurm_launcher(corpus: Path, tmp_path: Path) -> None:
    tutorial = corpus / "docs" / "tutorials" / "synchronized_instances_das.conf"
    result = gscen_run([str(tutorial), "--dry-run", "-o", str(tmp_path / "out")])
    assert result.returncode == 0, result.stderr
    assert "slurm: 16 peers on 2 nodes, shares 8 + 8 (ids 1-8, 9-16), node timeout 20 s" in result.stdout
    assert "--time=3" in result.stdout  # node_timeout 20 + 120 s
    assert "local_setup_cmd `das_setup.sh`: nothing to prepare here" in result.stderr
    assert "use_local_venv is ignored" in result.stderr
    assert "local_setup_cmd:" not in result.stdout


def test_the_sync_server_listens_where_the_nodes_reach_it_unless_sync_host_says(tmp_path: Path) -> None:
    from scenario_lang.runtime.prepare import reachable_address

    conf = experiment(tmp_path / "a", "instances_to_run = 2\nlauncher = slurm\n", "@0:1 stop\n")
    result = gscen_run([str(conf), "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert f"SYNC_HOST={reachable_address()}" in result.stdout
    conf = experiment(
        tmp_path / "b", "instances_to_run = 2\nlauncher = slurm\nsync_host = 127.0.0.2\n", "@0:1 stop\n"
    )
    result = gscen_run([str(conf), "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert "SYNC_HOST=127.0.0.2" in result.stdout


def test_an_unknown_launcher_is_refused_naming_the_key(tmp_path: Path) -> None:
    conf = experiment(tmp_path, "instances_to_run = 2\nlauncher = prun\n", "@0:1 stop\n")
    result = gscen_run([str(conf), "--dry-run"])
    assert result.returncode == 1
    assert "launcher = 'prun': expected one of local, slurm" in result.stderr


def test_without_sbatch_the_run_fails_with_a_clear_message(tmp_path: Path) -> None:
    conf = experiment(tmp_path, "instances_to_run = 2\nlauncher = slurm\n", "@0:1 stop\n")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    result = gscen_run([str(conf), "-o", str(tmp_path / "out")], env, timeout=60)
    assert result.returncode == 1
    assert "`sbatch ...` could not run: not found on PATH" in result.stderr


# --------------------------------------------------------------------------------------------- cluster
@pytest.mark.slurm
def test_the_das_example_runs_16_peers_on_2_nodes_with_a_local_runs_layout(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    conf = EXAMPLES / "synchronized_instances_das" / "synchronized_instances_das.conf"
    result = gscen_run([str(conf), "-o", str(out)], slurm_cluster.env)
    assert result.returncode == 0, result.stderr
    assert (out / "sum_id.txt").read_text().strip() == "136"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    assert [p["peer"] for p in summary["peers"]] == list(range(1, 17))
    # The local layout: one .out/.err per process numbered 0..15 in OUTPUT_DIR, peer folders beside
    # them, one resource log; peer k on node r has id first_id(r) + k, so process i is peer i + 1.
    for peer in summary["peers"]:
        assert peer["stdout"] == f"{peer['peer'] - 1:05d}.out"
        assert (out / str(peer["peer"]) / "id.txt").read_text().strip() == str(peer["peer"])
    assert sorted(p.name for p in out.glob("*.out")) == [f"{i:05d}.out" for i in range(16)]
    assert (out / "00009.out").read_text().startswith("Starting #00009: exec ")
    # The node guards forked the peers from their fork servers, as a local run does.
    assert b"(gscen-peer)" in (out / "resource_usage.log").read_bytes()
    assert len((out / "resource_usage.log").read_text().splitlines()) > 16
    # One series per peer in the merged log: 8 peer sessions per node, node 1's numbered apart.
    log = read_resource_log(out / "resource_usage.log")
    sessions = log.sessions()
    assert sorted(len(members) for members in sessions.values()) == [1] * 16
    by_node = Counter(members[0].node for members in sessions.values() if members[0].name == "gscen-peer")
    assert by_node == {0: 8, 1: 8}
    assert all((sid >= NODE_PID_OFFSET) == bool(members[0].node) for sid, members in sessions.items())
    # Both nodes ran their half.
    nodes = {json.loads(s.read_text())["node"] for s in (out / ".gscen" / "nodes").glob("*/status.json")}
    assert len(nodes) == 2
    assert "slurm job" in result.stderr and "running on" in result.stderr
    assert_nothing_left(slurm_cluster, out, "gscen-synchronized_instances_das")


@pytest.mark.slurm
def test_a_second_run_into_the_same_folder_does_not_read_the_first_runs_node_status(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    conf = experiment(
        tmp_path / "exp",
        "experiment_name = slurm_rerun\ninstances_to_run = 2\nlauncher = slurm\nnode_amount = 2\n",
        "&module probe_module.Probe\n\n@0:1 touch\n@0:2 stop\n",
        probe(),
    )
    out = tmp_path / "out"
    for _ in range(2):
        result = gscen_run([str(conf), "-o", str(out), "--force"], slurm_cluster.env)
        assert result.returncode == 0, result.stderr
    assert_nothing_left(slurm_cluster, out, "gscen-slurm_rerun")


@pytest.mark.slurm
def test_output_written_on_node_local_storage_is_collected_back(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    conf = experiment(
        tmp_path / "exp",
        "experiment_name = slurm_node_dir\ninstances_to_run = 5\nlauncher = slurm\nnode_amount = 2\n"
        f"slurm_node_dir = {scratch}\n",
        "&module probe_module.Probe\n\n@0:1 touch\n@0:2 stop\n",
        probe(),
    )
    out = tmp_path / "out"
    result = gscen_run([str(conf), "-o", str(out)], slurm_cluster.env)
    assert result.returncode == 0, result.stderr
    for peer in range(1, 6):
        assert (out / str(peer) / "touched").read_text() == "yes"
        assert (out / str(peer) / "events.csv").is_file()
    assert sorted(p.name for p in out.glob("*.out")) == [f"{i:05d}.out" for i in range(5)]
    assert (out / "resource_usage.log").is_file()
    assert list(scratch.iterdir()) == []  # each node removed its local folder
    assert_nothing_left(slurm_cluster, out, "gscen-slurm_node_dir")


@pytest.mark.slurm
def test_gumbys_das_tutorial_conf_runs_unchanged(
    slurm_cluster: SlurmCluster, corpus: Path, tmp_path: Path
) -> None:
    # Gumby's .conf, scenario and module, from the corpus as they are (its module imports Gumby's
    # names, which gscen answers). Its post-processing calls `gumby/docs/...` relative to Gumby's
    # checkout, as it does in a local run, so the ids are summed here.
    out = tmp_path / "out"
    tutorial = corpus / "docs" / "tutorials" / "synchronized_instances_das.conf"
    result = gscen_run([str(tutorial), "-o", str(out), "--no-plots"], slurm_cluster.env)
    assert result.returncode == 0, result.stderr
    ids = [int((out / str(peer) / "id.txt").read_text()) for peer in range(1, 17)]
    assert ids == list(range(1, 17)) and sum(ids) == 136
    assert "running on n" in result.stderr
    assert_nothing_left(slurm_cluster, out, "gscen-synchronized_instances_das5")


@pytest.mark.slurm
def test_a_process_guard_local_instance_cmd_runs_on_slurm_with_launcher_slurm(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    # Gumby's local tutorial (`process_guard.py -c launch_scenario.py -n 5 -t 20 ...`) on 1 node.
    out = tmp_path / "out"
    conf = EXAMPLES / "synchronized_instances" / "synchronized_instances.conf"
    result = gscen_run([str(conf), "-o", str(out), "--launcher", "slurm"], slurm_cluster.env)
    assert result.returncode == 0, result.stderr
    assert (out / "sum_id.txt").read_text().strip() == "15"
    assert "slurm job" in result.stderr
    assert_nothing_left(slurm_cluster, out, "gscen-synchronized_instances")


def test_gumbys_das4_era_key_names_are_read(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path,
        "instances_to_run = 7\nlocal_instance_cmd = das4_reserve_and_run.sh\ndas4_node_amount = 3\n"
        "das4_node_timeout = 200\ndas4_node_command = launch_scenario.py\n",
        "@0:1 stop\n",
    )
    result = gscen_run([str(conf), "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert (
        "slurm: 7 peers on 3 nodes, shares 3 + 2 + 2 (ids 1-3, 4-5, 6-7), node timeout 200 s" in result.stdout
    )
    assert "--time=6" in result.stdout  # (200 + 120) s


def test_a_das_reservation_without_a_node_command_is_refused(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path, "instances_to_run = 2\nlocal_instance_cmd = das_reserve_and_run.sh\n", "@0:1 stop\n"
    )
    result = gscen_run([str(conf), "--dry-run"])
    assert result.returncode == 1
    assert "das_node_command is not set" in result.stderr


@pytest.mark.slurm
def test_ctrl_c_cancels_the_job_and_leaves_nothing_running(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    conf = experiment(
        tmp_path / "exp",
        "experiment_name = slurm_ctrl_c\ninstances_to_run = 6\nlauncher = slurm\nnode_amount = 3\n",
        LONG_SCENARIO,
        probe(),
    )
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "scenario_lang.cli", "run", str(conf), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=slurm_cluster.env,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob("[0-9]*/touched"))) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(list(out.glob("[0-9]*/touched"))) == 6, "the peers did not start"
        assert slurm_cluster.active_jobs("gscen-slurm_ctrl_c")
        # The token reaches the peers, but not the job's own environment (only the owner's file).
        token = (out / ".gscen" / "slurm" / "token").read_bytes()
        status = json.loads((out / ".gscen" / "nodes" / "0" / "status.json").read_text())
        assert b"GSCEN_SYNC_TOKEN=" not in Path(f"/proc/{status['pid']}/environ").read_bytes()
        peer_env = Path(f"/proc/{status['processes'][0]['pid']}/environ").read_bytes()
        assert b"GSCEN_SYNC_TOKEN=" + token in peer_env
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"
    assert_nothing_left(slurm_cluster, out, "gscen-slurm_ctrl_c")


@pytest.mark.slurm
def test_a_peer_failing_before_the_start_fails_the_run_and_cancels_the_job(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    conf = experiment(
        tmp_path / "exp",
        "experiment_name = slurm_failing_peer\ninstances_to_run = 4\nlauncher = slurm\nnode_amount = 2\n",
        LONG_SCENARIO,
        probe(fail_id=3),
    )
    out = tmp_path / "out"
    started = time.monotonic()
    result = gscen_run([str(conf), "-o", str(out)], slurm_cluster.env)
    assert result.returncode == 1
    assert time.monotonic() - started < 40  # at once, not at the scenario's 60 s stop
    assert "peer 3" in result.stderr
    assert_nothing_left(slurm_cluster, out, "gscen-slurm_failing_peer")


@pytest.mark.slurm
def test_node_timeout_stops_the_peers_and_the_job_ends(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "exp",
        "experiment_name = slurm_node_timeout\ninstances_to_run = 4\nlauncher = slurm\nnode_amount = 2\n"
        "node_timeout = 4\n",
        LONG_SCENARIO,
        probe(),
    )
    out = tmp_path / "out"
    started = time.monotonic()
    result = gscen_run([str(conf), "-o", str(out)], slurm_cluster.env)
    assert time.monotonic() - started < 40
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert "timeout" in next(s for s in summary["steps"] if s["name"] == "local_instance_cmd")["detail"]
    assert_nothing_left(slurm_cluster, out, "gscen-slurm_node_timeout")


@pytest.mark.slurm
def test_a_job_that_stays_pending_times_out_with_slurms_reason_and_is_cancelled(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    conf = experiment(
        tmp_path / "exp",
        "experiment_name = slurm_pending\ninstances_to_run = 2\nlauncher = slurm\n"
        "slurm_extra_args = --begin=now+3600\nslurm_pending_timeout = 2\n",
        "@0:1 stop\n",
    )
    out = tmp_path / "out"
    result = gscen_run([str(conf), "-o", str(out)], slurm_cluster.env)
    assert result.returncode == 1
    assert "did not start within 2 s (BeginTime); it was cancelled" in result.stderr
    deadline = time.monotonic() + 15
    while slurm_cluster.active_jobs("gscen-slurm_pending") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert slurm_cluster.active_jobs("gscen-slurm_pending") == []


@pytest.mark.slurm
def test_sbatch_refusing_the_job_is_shown_with_its_reason(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    conf = experiment(
        tmp_path / "exp",
        "experiment_name = slurm_bad_partition\ninstances_to_run = 2\nlauncher = slurm\n"
        "slurm_partition = no_such_partition\n",
        "@0:1 stop\n",
    )
    result = gscen_run([str(conf), "-o", str(tmp_path / "out")], slurm_cluster.env, timeout=60)
    assert result.returncode == 1
    assert "`sbatch --parsable ...` exited with status 1" in result.stderr
    assert "invalid partition" in result.stderr.lower()


async def test_a_nodes_guard_numbers_its_output_files_as_the_whole_run_does(tmp_path: Path) -> None:
    from scenario_lang.runtime.guard import Guard

    config = GuardConfig(commands=("echo a", "echo b"), output_dir=tmp_path, first_number=9)
    async with Guard(config) as guard:
        result = await guard.wait_done()
    assert sorted(p.name for p in tmp_path.glob("*.out")) == ["00009.out", "00010.out"]
    assert (tmp_path / "00010.out").read_text() == "Starting #00010: echo b\nb\n"
    assert [r.stdout_path for r in result.processes] == [tmp_path / "00009.out", tmp_path / "00010.out"]


@pytest.mark.slurm
def test_the_ipv8_ping_pong_example_runs_across_two_nodes(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    example = EXAMPLES / "simple_ipv8"
    if not (example / "simple_ipv8.conf").is_file():
        pytest.skip("the IPv8 ping-pong example is not in this checkout yet")
    folder = tmp_path / "exp"
    shutil.copytree(example, folder)
    conf = folder / "simple_ipv8.conf"
    conf.write_text(conf.read_text() + "\nlauncher = slurm\nnode_amount = 2\n")
    out = tmp_path / "out"
    result = gscen_run([str(conf), "--instances", "4", "-o", str(out), "--no-plots"], slurm_cluster.env)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    # Peers on both nodes found each other through their published addresses and exchanged messages.
    pings = [
        m for m in summary["ipv8_messages"] if m["overlay"] == "PingPongCommunity" and m["message"] in (1, 2)
    ]
    assert pings and all(m["sent"] > 0 and m["received"] == m["sent"] for m in pings)
    nodes = {json.loads(s.read_text())["node"] for s in (out / ".gscen" / "nodes").glob("*/status.json")}
    assert len(nodes) == 2
    assert_nothing_left(slurm_cluster, out, "gscen-simple_ipv8")


async def test_a_closed_job_handle_refuses_to_start(tmp_path: Path) -> None:
    from scenario_lang.runtime.guard import GuardClosedError

    job = SlurmJob(
        SlurmConfig(), PeerLaunch(GuardConfig(commands=("true",), output_dir=tmp_path)), "/py", None
    )
    result = await job.aclose()
    assert result.processes == ()
    with pytest.raises(GuardClosedError, match="closed"):
        await job.start()


def _node(spec_folder: Path, rank: int, first: int, count: int, times: list[float]) -> None:
    """What a node task leaves: its guard's files (numbered as the run does) and its last status."""
    folder = spec_folder / ".gscen" / "nodes" / str(rank)
    folder.mkdir(parents=True)
    processes = []
    for k in range(count):
        number = first - 1 + k
        (folder / f"{number:05d}.out").write_text(f"Starting #{number:05d}: x\n")
        (folder / f"{number:05d}.err").write_text("")
        processes.append(
            {
                "index": k,
                "command": "x",
                "pid": 1000 + number,
                "returncode": 0,
                "stopped_by_guard": False,
                "peak_rss_bytes": 1,
                "cpu_seconds": 0.1,
                "started_at": 1.0,
                "ended_at": 2.0,
                "stdout_path": str(folder / f"{number:05d}.out"),
                "stderr_path": str(folder / f"{number:05d}.err"),
            }
        )
    lines = "".join(f"{t:.1f} {rank} (p) S\n" for t in times)
    (folder / "resource_usage.log").write_text('{"sc_clk_tck": 100}\n' + lines)
    counters = " ".join(["7"] * 16)
    (folder / "network_usage.log").write_text("".join(f"{t:.1f} eth0 {counters}\n" for t in times))
    status = {"rank": rank, "done": True, "reason": "all-exited", "processes": processes}
    (folder / "status.json").write_text(json.dumps(status))


def _spec(out: Path, instances: int, nodes: int) -> NodeSpec:
    return NodeSpec(instances, nodes, "x", str(out), None, None, 1.0, 1.0, False, None)


def test_collecting_gives_the_output_folder_a_local_runs_layout(tmp_path: Path) -> None:
    _node(tmp_path, 0, 1, 3, [1.0, 2.0, 4.0])
    _node(tmp_path, 1, 4, 2, [1.5, 3.0])
    reports, statuses, failure = collect_output(_spec(tmp_path, 5, 2))
    assert failure is None and len(statuses) == 2
    assert [r.index for r in reports] == [0, 1, 2, 3, 4]
    assert [r.stdout_path for r in reports] == [tmp_path / f"{i:05d}.out" for i in range(5)]
    assert sorted(p.name for p in tmp_path.glob("*.out")) == [f"{i:05d}.out" for i in range(5)]
    log = (tmp_path / "resource_usage.log").read_text().splitlines()
    # the first node's header, saying how the other nodes' pids are written (test_slurm_same_pid.py)
    assert json.loads(log[0]) == {"sc_clk_tck": 100, "node_pid_offset": NODE_PID_OFFSET}
    assert [line.split()[0] for line in log[1:]] == ["1.0", "1.5", "2.0", "3.0", "4.0"]  # time order
    assert not list((tmp_path / ".gscen" / "nodes").glob("*/resource_usage.log"))  # no second copy
    assert collect_output(_spec(tmp_path, 5, 2))[0] == reports  # again: the same, nothing lost


def test_collecting_merges_the_nodes_network_logs_keeping_each_nodes_interfaces_apart(
    tmp_path: Path,
) -> None:
    _node(tmp_path, 0, 1, 3, [1.0, 2.0])
    _node(tmp_path, 1, 4, 2, [1.5])
    _reports, _statuses, failure = collect_output(_spec(tmp_path, 5, 2))
    assert failure is None
    rows = [line.split() for line in (tmp_path / "network_usage.log").read_text().splitlines()]
    assert [(row[0], row[1]) for row in rows] == [("1.0", "eth0"), ("1.5", "eth0@node1"), ("2.0", "eth0")]
    assert all(len(row) == 2 + 16 for row in rows)  # the local log's columns
    assert not list((tmp_path / ".gscen" / "nodes").glob("*/network_usage.log"))


def test_a_resource_log_that_cannot_be_written_is_reported_and_the_nodes_logs_kept(tmp_path: Path) -> None:
    _node(tmp_path, 0, 1, 1, [1.0])
    (tmp_path / "resource_usage.log").mkdir()  # the merged log cannot replace a folder
    reports, _statuses, failure = collect_output(_spec(tmp_path, 1, 1))
    assert failure is not None and "resource_usage.log" in str(failure)
    assert len(reports) == 1
    assert (tmp_path / ".gscen" / "nodes" / "0" / "resource_usage.log").is_file()
    assert not list(tmp_path.glob("resource_usage.log.tmp*"))


def test_a_guard_line_with_several_commands_is_refused_under_slurm(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path,
        "instances_to_run = 2\nlauncher = slurm\n"
        "local_instance_cmd = \"process_guard.py -c 'sleep 1' -c 'sleep 2' -t 5\"\n",
        "@0:1 stop\n",
    )
    result = gscen_run([str(conf), "--dry-run"])
    assert result.returncode == 1
    assert "runs one command on every node" in result.stderr


async def test_each_command_can_get_its_own_variables(tmp_path: Path) -> None:
    from scenario_lang.runtime.guard import Guard

    config = GuardConfig(
        commands=('echo "$X"',) * 2, output_dir=tmp_path, command_env=({"X": "first"}, {"X": "second"})
    )
    async with Guard(config) as guard:
        await guard.wait_done()
    assert (tmp_path / "00000.out").read_text().splitlines()[1:] == ["first"]
    assert (tmp_path / "00001.out").read_text().splitlines()[1:] == ["second"]
    with pytest.raises(ValueError, match="one mapping per command"):
        GuardConfig(commands=("true",) * 2, command_env=({},))


# --------------------------------------------------------------------------------------------- process faults
CHAT = """
from scenario_lang import ExperimentModule, experiment_callback


class Chat(ExperimentModule):
    def on_message(self, from_id: int, msg_type: bytes, payload: bytes) -> None:
        with open(self.output_dir / "received.txt", "a") as f:
            f.write(f"{from_id} {payload.decode()}\\n")

    @experiment_callback
    def send_to(self, peer: int, text: str) -> None:
        self.send_message(peer, b"chat", text.encode())

    @experiment_callback
    def mark(self, text: str) -> None:
        with open(self.output_dir / "marks.txt", "a") as f:
            f.write(text + "\\n")
"""

# 4 peers on 2 nodes: 1-2 on node 0, 3-4 on node 1, where every fault acts.
FAULTS_SCENARIO = """\
&module probe_module.Chat
@! mark ready
@0.5 send_to 3 before {1}
@1.5 crash {3}
@2.0 mark while-crashed {3}
@2.0 pause {4}
@3.0 restart {3}
@3.5 resume {4}
@6.0 send_to 3 after {1}
@6.0 send_to 4 after {1}
@6.5 mark after-restart {3}
@7.5 stop
"""


def chat_on_two_nodes(
    cluster: SlurmCluster, tmp_path: Path, name: str, instances: int, scenario: str
) -> tuple[Path, dict[str, Any]]:
    """Run `scenario` (with the CHAT module) on 2 nodes; it must end 0. Its folder and summary."""
    conf = experiment(
        tmp_path / "exp",
        f"experiment_name = {name}\ninstances_to_run = {instances}\nlauncher = slurm\nnode_amount = 2\n"
        "sync_experiment_start_delay = 0.3\nexperiment_time = 60\n",
        scenario,
        CHAT,
    )
    out = tmp_path / "out"
    result = gscen_run([str(conf), "-o", str(out), "--no-plots"], cluster.env)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok"
    return out, summary


@pytest.mark.slurm
def test_crash_pause_resume_and_restart_on_the_second_node_end_the_run_0_with_the_faults_listed(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    out, summary = chat_on_two_nodes(slurm_cluster, tmp_path, "slurm_faults", 4, FAULTS_SCENARIO)
    done = sorted((f["peer"], f["action"], f["outcome"]) for f in summary["faults"])
    assert done == [(3, "crash", "done"), (3, "restart", "done"), (4, "pause", "done"), (4, "resume", "done")]
    for fault in summary["faults"]:  # carried out at the start instant + its time, by the node's clock
        assert fault["planned"] - 0.01 <= fault["actual"] < fault["planned"] + 2.0, fault
    # node 1's guard did them all; node 0 had none to do
    node_faults = {
        json.loads(s.read_text())["rank"]: json.loads(s.read_text())["faults"]
        for s in (out / ".gscen" / "nodes").glob("*/status.json")
    }
    assert node_faults[0] == [] and len(node_faults[1]) == 4
    peers = {p["peer"]: p for p in summary["peers"]}
    assert peers[3]["faults"] == ["crash", "restart"] and peers[4]["faults"] == ["pause", "resume"]
    assert peers[3]["events_prevented"] == 1  # `mark while-crashed`: prevented, not unfired
    assert peers[3]["events_fired"] == peers[3]["events_planned"]
    # the restarted peer ran its @! events again, then what came after its restart instant
    assert (out / "3" / "marks.txt").read_text().split() == ["ready", "ready", "after-restart"]
    # and got messages again through the sync server, under its id
    assert (out / "3" / "received.txt").read_text().splitlines() == ["1 before", "1 after"]
    assert (out / "4" / "received.txt").read_text().splitlines() == ["1 after"]
    # its output goes on in peer 3's .out (process 2) after the guard's marker; no extra .out file
    assert "--- restarted #" in (out / "00002.out").read_text()
    assert sorted(p.name for p in out.glob("*.out")) == [f"{i:05d}.out" for i in range(4)]
    # node 1's guard ran the restart as a third process of its own, in place of the crashed one
    node1 = json.loads((out / ".gscen" / "nodes" / "1" / "status.json").read_text())["processes"]
    assert [(p["index"], p["fault"], p["restart_of"]) for p in node1] == [
        (0, "crash", None),
        (1, "resume", None),
        (2, "restart", 0),
    ]
    assert node1[0]["returncode"] == -9 and node1[2]["returncode"] == 0
    assert_nothing_left(slurm_cluster, out, "gscen-slurm_faults")


@pytest.mark.slurm
def test_a_peer_paused_for_good_on_slurm_goes_on_only_once_every_node_has_nothing_else_running(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    # Peer 1 is all that runs on node 0; peer 2, on node 1, runs until its stop at 3 s. As in a
    # local run, the paused peer goes on only when nothing else in the whole run still runs.
    scenario = "&module probe_module.Chat\n@! mark ready\n@0.5 pause {1}\n@1.0 mark held {1}\n@3.0 stop\n"
    out, summary = chat_on_two_nodes(slurm_cluster, tmp_path, "slurm_pause_end", 2, scenario)
    faults = [(f["peer"], f["action"], f["outcome"]) for f in summary["faults"]]
    assert faults == [(1, "pause", "done"), (1, "resume", "done: the others had ended")]
    peer2 = json.loads((out / "2" / "result.json").read_text())
    ended = peer2["end_time"] - peer2["start_time"]  # seconds after the start, as the faults' times
    resumed = summary["faults"][1]["actual"]
    assert ended >= 3.0 and resumed >= ended, (resumed, ended)  # not while peer 2 still ran
    assert (out / "1" / "marks.txt").read_text().split() == ["ready", "held"]
    peers = {p["peer"]: p for p in summary["peers"]}
    assert peers[1]["events_held"] == 2  # `mark held` and its `stop`, fired once it went on
    assert json.loads((out / ".gscen" / "slurm" / "release.json").read_text())["time"] > 0
    assert_nothing_left(slurm_cluster, out, "gscen-slurm_pause_end")


def test_each_node_gets_the_faults_of_its_own_peers_only(tmp_path: Path) -> None:
    from scenario_lang.runtime.launch.slurm_node import node_faults
    from scenario_lang.runtime.process_faults import PlannedFault

    faults = (PlannedFault(1.0, "crash", (2, 3), "s:1"), PlannedFault(2.0, "pause", (1,), "s:2"))
    spec = dataclasses.replace(_spec(tmp_path, 4, 2), faults=faults)
    assert NodeSpec.from_json(spec.to_json()) == spec  # shipped in node-spec.json
    assert node_faults(spec, 0) == [
        PlannedFault(1.0, "crash", (2,), "s:1"),
        PlannedFault(2.0, "pause", (1,), "s:2"),
    ]
    assert node_faults(spec, 1) == [PlannedFault(1.0, "crash", (3,), "s:1")]


@pytest.mark.parametrize(("instances", "nodes"), [(16, 2), (10, 4), (3, 4), (7, 3)])
def test_processes_a_restart_adds_get_numbers_no_other_node_gives(instances: int, nodes: int) -> None:
    numbers = [
        process_number(instances, nodes, rank, index)
        for rank in range(nodes)
        for index in range(node_share(instances, nodes, rank) + 3)
    ]
    assert len(set(numbers)) == len(numbers)
    firsts = [
        process_number(instances, nodes, r, i)
        for r in range(nodes)
        for i in range(node_share(instances, nodes, r))
    ]
    assert firsts == list(range(instances))


def test_a_restarted_process_is_collected_with_its_peers_files_and_fault(tmp_path: Path) -> None:
    _node(tmp_path, 0, 1, 2, [1.0])
    _node(tmp_path, 1, 3, 2, [1.0])
    status_path = tmp_path / ".gscen" / "nodes" / "1" / "status.json"
    status = json.loads(status_path.read_text())
    first = status["processes"][0]
    status["processes"][0] = {**first, "returncode": -9, "fault": "crash"}
    restarted = {**first, "index": 2, "pid": 4242, "fault": "restart", "restart_of": 0}
    again = {**first, "index": 3, "pid": 4243, "fault": "restart", "restart_of": 2}
    status["processes"] += [restarted, again]
    status_path.write_text(json.dumps(status))
    reports, _statuses, _failure = collect_output(_spec(tmp_path, 4, 2))
    by_pid = {r.pid: r for r in reports}
    crashed = by_pid[first["pid"]]
    assert crashed.index == 2 and crashed.fault == "crash" and not crashed.failed
    assert by_pid[4242].index == 5 and by_pid[4242].restart_of == 2  # 4 + 0 * 2 nodes + rank 1
    assert by_pid[4243].index == 7 and by_pid[4243].restart_of == 5
    assert by_pid[4242].stdout_path == by_pid[4243].stdout_path == tmp_path / "00002.out"
    # a restart runs as the peer of the process it started again (node 1's first peer is 3)
    assert crashed.peer == by_pid[4242].peer == by_pid[4243].peer == 3
    assert sorted(p.name for p in tmp_path.glob("*.out")) == [f"{i:05d}.out" for i in range(4)]


async def test_the_start_instant_reaches_the_nodes_and_an_earlier_runs_is_not_read(tmp_path: Path) -> None:
    from scenario_lang.runtime.launch.slurm_node import wait_start_instant
    from scenario_lang.runtime.process_faults import PlannedFault

    guard = GuardConfig(commands=("x",) * 2, output_dir=tmp_path)
    job = SlurmJob(
        SlurmConfig(node_amount=2), PeerLaunch(guard, (PlannedFault(1.0, "crash", (2,), "s:1"),)), "py", None
    )
    job.spec.start_path.parent.mkdir(parents=True)
    job.spec.start_path.write_text('{"start": 1.5}')  # left by an earlier run into this folder
    job._write_files()
    assert not job.spec.start_path.exists()
    assert NodeSpec.from_json((job.folder / "node-spec.json").read_text()).faults == job.spec.faults
    waiting = asyncio.ensure_future(wait_start_instant(job.spec.start_path))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await job.begin_faults(1234.5)
    assert await asyncio.wait_for(waiting, 5) == 1234.5
