"""Each peer's memory in the summary is its own: not the runner's at fork time, and PSS beside RSS."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from scenario_lang.runtime.procfs import read_memory, read_peak_rss
from scenario_lang.runtime.run import RunOptions, execute_run, prepare_run

MODULE = """\
from scenario_lang import ExperimentModule, experiment_callback


class Mod(ExperimentModule):
    @experiment_callback
    def grow(self) -> None:
        self.ballast = bytearray(40 * 2**20)
        self.ballast[:: 4096] = b"x" * len(self.ballast[:: 4096])
"""
MIB = 2**20


def test_peak_memory_is_the_peers_own_not_the_runners_at_fork(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "mod.py").write_text(MODULE, encoding="utf-8")
    (folder / "exp.scenario").write_text("&module mod.Mod\n@0:0.2 grow\n@0:2.5 stop\n", encoding="utf-8")
    conf = folder / "exp.conf"
    conf.write_text(
        "experiment_name = mem\ninstances_to_run = 3\nscenario_file = exp.scenario\nexperiment_time = 10\n",
        encoding="utf-8",
    )
    # The runner is big when it starts the peers (a runner that compiled a big plan was 6 GB).
    runner = bytearray(400 * MIB)
    runner[::4096] = b"r" * len(runner[::4096])
    prepared = prepare_run(RunOptions(conf=conf, output=tmp_path / "out", plots=False, python=sys.executable))
    assert prepared.run is not None
    outcome = asyncio.run(execute_run(prepared.run))
    assert outcome.status == "ok", outcome.message
    assert len(runner) == 400 * MIB  # kept alive until here
    peers = outcome.summary.peers
    assert len(peers) == 3
    for peer in peers:
        result = json.loads((tmp_path / "out" / str(peer.peer) / "result.json").read_text())
        # Its own 40 MiB of ballast and the interpreter: well above 40, far below the runner's 400.
        assert 40 * MIB < result["peak_rss_bytes"] < 150 * MIB
        assert peer.peak_rss_mib is not None and 40 < peer.peak_rss_mib < 150
        # The guard read its PSS while it ran: its pages shared with the fork server count in part.
        assert peer.peak_pss_mib is not None and 40 < peer.peak_pss_mib <= peer.peak_rss_mib
    data = json.loads(outcome.summary_path.read_text()) if outcome.summary_path else {}
    assert all(p["peak_pss_mib"] for p in data["peers"])


def test_memory_readers_see_this_process() -> None:
    memory = read_memory(os.getpid())
    peak = read_peak_rss()
    assert memory is not None and peak is not None
    assert 0 < memory.uss <= memory.pss <= memory.rss <= peak
