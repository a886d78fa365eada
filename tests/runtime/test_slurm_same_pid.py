"""Two SLURM nodes are two hosts: their guards can report the same pid for different peers. The
submitting side must give every peer its own process's figures, and must not look for those pids in
its own /proc (a process of this host with that pid is another one)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scenario_lang.runtime.execute import _probe_peers
from scenario_lang.runtime.guard import GuardResult, ProcessReport, StopReason
from scenario_lang.runtime.launch.slurm import collect_output
from scenario_lang.runtime.launch.slurm_files import NodeSpec, first_id, node_share
from scenario_lang.runtime.launch.slurm_node import _write_status
from scenario_lang.runtime.observer import EventCounter, NullObserver
from scenario_lang.runtime.plots import plot_output_folder
from scenario_lang.runtime.resource_log import NODE_PID_OFFSET, log_pid, read_resource_log
from scenario_lang.runtime.results import session_labels, write_results
from scenario_lang.runtime.run import RunOptions, prepare_run
from scenario_lang.runtime.run_state import RunState

MIB = 2**20
SLURM_NODE = "scenario_lang.runtime.launch.slurm_node"


@contextlib.contextmanager
def bystander(folder: Path) -> Iterator[int]:
    """A process of this host working in `folder` (a peer's folder), as a peer does; its pid."""
    folder.mkdir(parents=True)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=folder)
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()  # reaped: nothing left behind


def _report(index: int, pid: int, peer_id: int) -> ProcessReport:
    """Node process `index`, with figures that say which peer's they are."""
    return ProcessReport(
        index=index,
        command="gscen peer",
        pid=pid,
        returncode=10 + peer_id,
        stopped_by_guard=False,
        peak_rss_bytes=(100 + peer_id) * MIB,
        cpu_seconds=float(peer_id),
        started_at=1.0,
        ended_at=2.0,
        stdout_path=None,
        stderr_path=None,
    )


def test_two_nodes_reporting_the_same_pids_give_each_peer_its_own_figures(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "exp.scenario").write_text("@0:1 echo hi {1-4}\n")
    conf = folder / "exp.conf"
    conf.write_text("experiment_name = samepid\ninstances_to_run = 4\nscenario_file = exp.scenario\n")
    prepared = prepare_run(RunOptions(conf=conf, output=tmp_path / "out", plots=False, python=sys.executable))
    run = prepared.run
    assert run is not None
    out = run.output_dir
    with bystander(out / "2") as pid:
        spec = NodeSpec(4, 2, "gscen peer", str(out), None, None, 1.0, 1.0, False, None)
        # Both nodes' guards started their peers as these pids; the first is also, on this host, a
        # process in peer 2's folder: probing this host's /proc for it would name peer 2.
        shared = [pid, pid + 1]
        for rank in range(2):
            first = first_id(4, 2, rank)
            mine = tuple(_report(k, shared[k], first + k) for k in range(node_share(4, 2, rank)))
            result = GuardResult(mine, StopReason.ALL_EXITED, 1.0, 2.0, 1, 0)
            node_folder = spec.node_folder(rank)
            node_folder.mkdir(parents=True)
            # what the node task writes, by its own code
            _write_status(node_folder, rank, first, mine, result, None)
        for peer in range(1, 5):
            # a peer that names its pid in result.json (a custom peer program may)
            (out / str(peer)).mkdir(exist_ok=True)
            own = shared[(peer - 1) % 2]
            (out / str(peer) / "result.json").write_text(json.dumps({"peer_id": peer, "pid": own}))

        reports, statuses, failure = collect_output(spec)
        assert failure is None and len(statuses) == 2
        assert [r.pid for r in reports] == shared + shared
        state = RunState(started_at=time.time(), events=EventCounter(out))
        state.guard_runs_peers = True
        state.guard_result = GuardResult(tuple(reports), StopReason.ALL_EXITED, 1.0, 2.0, 1, 0)
        # as the pipeline does while the peers run (a running process is probed) and at the end
        _probe_peers(run, state, [dataclasses.replace(r, returncode=None) for r in reports])
        _probe_peers(run, state, reports)
        summary = write_results(run, state, "ok", None, NullObserver())

        figures = {p.peer: (p.exit_code, p.peak_rss_mib, p.cpu_seconds) for p in summary.peers}
        assert figures == {peer: (10 + peer, 100.0 + peer, float(peer)) for peer in range(1, 5)}


# --------------------------------------------------------------------------------------------- resource log
def _pid_namespaces() -> str | None:
    """Why two node guards cannot be given their own pid numbering here (None: they can)."""
    try:
        probe = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`unshare` cannot run: {exc}"
    return None if probe.returncode == 0 else f"`unshare --pid` refused: {probe.stderr.strip()}"


# Peer 1 (node 0) burns CPU, peer 2 (node 1) sleeps: mixed series would show it.
_NODE_COMMAND = (
    "sh -c 'if [ $GSCEN_PEER_ID = 1 ]; then i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; "
    "else sleep 1.5; fi'"
)


def test_two_nodes_logging_the_same_pids_keep_their_processes_apart_in_the_merged_log_and_plots(
    tmp_path: Path,
) -> None:
    why = _pid_namespaces()
    if why is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {why}", pytrace=False)
        pytest.skip(f"{why}: two hosts' pids cannot be made to meet on this machine")
    out = tmp_path / "out"
    spec = NodeSpec(2, 2, _NODE_COMMAND, str(out), None, 30.0, 0.1, 1.0, False, None)
    spec_path = out / ".gscen" / "slurm" / "node-spec.json"
    spec_path.parent.mkdir(parents=True)
    spec_path.write_text(spec.to_json())
    # Each node's real task (guard, sampler, status) in its own pid namespace: both number their
    # processes from 1, as two DAS nodes reuse pids.
    nodes = [
        subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", SLURM_NODE, str(spec_path)],
            env=dict(os.environ, SLURM_NODEID=str(rank), SLURM_NNODES="2"),
        )
        for rank in range(2)
    ]
    assert [node.wait(timeout=60) for node in nodes] == [0, 0]
    node_logs = [
        (out / ".gscen" / "nodes" / str(rank) / "resource_usage.log").read_text() for rank in range(2)
    ]
    pids = [{line.split()[1] for line in log.splitlines()[1:]} for log in node_logs]
    assert pids[0] & pids[1], "the namespaces did not make the nodes' pids meet"

    reports, _statuses, failure = collect_output(spec)
    assert failure is None
    assert [(r.node, r.peer) for r in reports] == [(0, 1), (1, 2)]
    assert reports[0].pid == reports[1].pid  # as the nodes saw them

    merged = (out / "resource_usage.log").read_text().splitlines()
    assert json.loads(merged[0])["node_pid_offset"] == NODE_PID_OFFSET
    # Every column in its place (Gumby's parser reads them by position): node 1's lines differ from
    # its own log only in the process numbers, written as node 1's.
    ids = (1, 4, 5, 6, 8)  # pid, ppid, pgrp, session, tpgid counted from the time
    originals = {
        " ".join(f for i, f in enumerate(line.split()) if i not in ids)
        for line in node_logs[1].splitlines()[1:]
    }
    node1 = [line.split() for line in merged[1:] if int(line.split()[1]) > NODE_PID_OFFSET]
    assert {" ".join(f for i, f in enumerate(parts) if i not in ids) for parts in node1} == originals
    assert {parts[1] for parts in node1} == {str(NODE_PID_OFFSET + int(p)) for p in pids[1]}
    assert {parts[6] for parts in node1} == {str(log_pid(1, reports[1].pid))}  # their session
    # Gumby's process_guard_stats_parser keys a process by `<folder>_<comm>_<pid>`: one folder here,
    # so the pids must tell the nodes apart.
    assert len({parts[1] for parts in (line.split() for line in merged[1:])}) == len(pids[0]) + len(pids[1])

    # What the plots draw: one series per peer, each with its own peer's CPU.
    log = read_resource_log(out / "resource_usage.log")
    assert {p.node for p in log.processes} == {0, 1}
    labels = session_labels(reports, {r.index: r.peer for r in reports if r.peer is not None})
    series = {s.label: s for s in log.cpu_series("session", labels)}
    assert sorted(series) == ["peer 1", "peer 2"]
    cpu = {label: sum(s.values) * log.interval for label, s in series.items()}
    assert cpu["peer 1"] > 0.2 and cpu["peer 2"] < 0.1, cpu
    memory = log.memory_series("session", labels)
    assert sorted(s.label for s in memory) == ["peer 1", "peer 2"]
    assert plot_output_folder(out, labels)  # the PNGs are drawn from the merged log
