"""Two SLURM nodes are two hosts: their guards can report the same pid for different peers. The
submitting side must give every peer its own process's figures, and must not look for those pids in
its own /proc (a process of this host with that pid is another one)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from scenario_lang.runtime.execute import _probe_peers
from scenario_lang.runtime.guard import GuardResult, ProcessReport, StopReason
from scenario_lang.runtime.launch.slurm import NodeSpec, collect_output, first_id, node_share
from scenario_lang.runtime.launch.slurm_node import _write_status
from scenario_lang.runtime.observer import EventCounter, NullObserver
from scenario_lang.runtime.results import write_results
from scenario_lang.runtime.run import RunOptions, prepare_run
from scenario_lang.runtime.run_state import RunState

MIB = 2**20


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
