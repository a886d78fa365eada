"""Start-up at scale: how long N peers take from the peers' step starting to all connected, and their memory.

Issue 9's targets: 200 peers connected within 3 s and 1,000 within 15 s (200 took 11 s when each peer
was a fresh interpreter), with a per-peer PSS no higher than before. One run of `gscen run`'s pipeline
in this process (prepare_run + execute_run, as the CLI does) on a trivial experiment (one module, a
stop at 1 s), through a launcher that wraps the local one to take the times:

- `cpu_to_connected`: CPU seconds spent until then by this process (guard, sync server), the peers
  and the fork server (with its intermediates): with the machine to itself, 2 cores need at least
  half of it in wall time. On a shared machine `connected` says more about the neighbours.
- `connected`: seconds from the peers' guard starting to every peer's folder existing. A peer creates
  OUTPUT_DIR/<id>/ as soon as it has its id, and the sync server hands out ids once all have joined, so
  this is all-connected plus one message; an upper bound.
- memory per peer at that moment, from /proc/PID/smaps_rollup of every peer: mean RSS, PSS and USS
  (MiB). RSS counts pages shared with the fork server in full, PSS divides them among their sharers.
- start spread (ms): max - min of the peers' `started_at` (when their start hooks ran); lateness: the
  median and worst over peers of each peer's worst event lateness (ms).
- the run's summary: mean of the peers' peak RSS (their own address space) and peak PSS (the guard's).

    python bench/peer_fleet.py --peers 200 [--shell] [--repeat 1]

`--shell` starts every peer through `/bin/sh -c exec python -m scenario_lang.runtime.peer_entry` (a
fresh interpreter per peer, the way before the fork server) instead of forking it.

Figures (2026-12, the 2-core shared machine: other work kept it at 0% idle, load average 10-60, and
1,000 peers add their own load; medians of 3 runs for 200, 2 runs for 1,000, whole-process figures
from an external timer):

    peers  how          connected  CPU to connected  whole run CPU / wall   RSS    PSS   per peer
    200    shell        16.0 s     25.6 s            38.7 s / 25.2 s        24.3   13.7  MiB
    200    fork server   4.0 s      1.6 s             5.5 s /  8.8 s        18.9    5.9  MiB
    1000   fork server  21.7-26.7   8.6-9.6 s        29.3 s / 38.4 s        19.4    6.4  MiB

With the machine to itself, 2 cores would need half the CPU figure in wall time (200: ~0.8 s, 1,000:
~4.5 s); here the run got about 0.4 of a core.

After forked peers waited for their reparenting on a pidfd instead of polling getppid() every 0.2 ms
(2026-12, same machine, load average 30-50 from other work before each call; medians of 3 runs for
200 after a warm-up, 2 runs for 1,000; whole-process figures from an external timer):

    peers  how          connected  CPU to connected  whole run CPU / wall   RSS    PSS   per peer
    200    fork server   2.0 s      1.2 s             5.1 s /  5.2 s        19.6    6.0  MiB
    1000   fork server   9.3-11.1   5.1-6.2 s        25.5 s / 18.8 s        20.1    6.6  MiB

Before that change, on the same day and a quieter machine (load average 1.5), one 1,000-peer run
took 14.2 s to connected and 12.1 CPU-s: the peers waiting to be reparented stayed runnable (0.08
CPU-s per second of wait each) and starved the intermediates and the guard they waited for.

Start spread and lateness are the same forked as through the shell (200 peers: spread 26-38 ms vs
36-49 ms, worst lateness 0.2-0.35 s both); 1,000 forked peers after the change: spread 129-162 ms,
median worst lateness 0.52-0.59 s (all 1,000 stop at once at 1 s on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from scenario_lang.runtime.guard import Guard, GuardResult, ProcessReport
from scenario_lang.runtime.launch import LaunchedPeers, PeerLaunch
from scenario_lang.runtime.procfs import read_memory, read_stat
from scenario_lang.runtime.run import RunOptions, execute_run, prepare_run

MIB = 2**20
MODULE = """\
from scenario_lang import ExperimentModule, experiment_callback


class Fleet(ExperimentModule):
    @experiment_callback
    def hello(self) -> None:
        pass
"""


def _cpu_ticks(pid: int, children: bool) -> int:
    """utime + stime of a process (and of its reaped children), in clock ticks; 0 when gone."""
    stat = read_stat(pid)
    if stat is None:
        return 0
    words = stat.line[stat.line.rfind(b")") + 2 :].split()
    return stat.cpu_ticks + (int(words[13]) + int(words[14]) if children else 0)


class TimedPeers:
    """The local guard, with a watcher thread that notes when every peer has its folder."""

    def __init__(self, guard: Guard, peers: int, output: Path) -> None:
        self.guard = guard
        self.peers = peers
        self.output = output
        self.connected: float | None = None
        self.spawned: float | None = None
        self.cpu_to_connected: float | None = None
        self.memory: list[tuple[int, int, int]] = []
        self._watcher: threading.Thread | None = None

    async def start(self) -> None:
        began = time.monotonic()
        self._watcher = threading.Thread(target=self._watch, args=(began,), daemon=True)
        self._watcher.start()
        await self.guard.start()
        self.spawned = time.monotonic() - began

    def _watch(self, began: float) -> None:
        runner = resource.getrusage(resource.RUSAGE_SELF)
        deadline = began + 300
        while time.monotonic() < deadline:
            count = sum(1 for name in os.listdir(self.output) if name.isdigit())
            if count >= self.peers:
                self.connected = time.monotonic() - began
                break
            time.sleep(0.01)
        # CPU spent until then: the runner's (this process: guard, sync server), every peer's, and
        # the fork server's with its reaped intermediates (before any peer is reaped by the runner).
        now = resource.getrusage(resource.RUSAGE_SELF)
        ticks = 0
        pids = [r.pid for r in self.guard.reports()]
        server = self.guard._fork_server  # the bench looks inside on purpose
        for pid in pids:
            ticks += _cpu_ticks(pid, children=False)
        if server is not None and server.pid is not None:
            ticks += _cpu_ticks(server.pid, children=True)
        self.cpu_to_connected = (
            now.ru_utime + now.ru_stime - runner.ru_utime - runner.ru_stime + ticks / os.sysconf("SC_CLK_TCK")
        )
        for pid in pids:
            memory = read_memory(pid)
            if memory is not None:
                self.memory.append((memory.rss, memory.pss, memory.uss))

    async def wait_done(self) -> GuardResult:
        return await self.guard.wait_done()

    async def aclose(self) -> GuardResult:
        return await self.guard.aclose()

    def reports(self) -> tuple[ProcessReport, ...]:
        return self.guard.reports()

    @property
    def running(self) -> int:
        return self.guard.running


class TimedLauncher:
    name = "local (timed)"

    def __init__(self, peers: int, output: Path, shell: bool) -> None:
        self.peers, self.output, self.shell = peers, output, shell
        self.opened: TimedPeers | None = None

    def open(self, launch: PeerLaunch) -> LaunchedPeers:
        config = dataclasses.replace(launch.config, peer_python=None) if self.shell else launch.config
        self.opened = TimedPeers(Guard(config), self.peers, self.output)
        return self.opened


def one_run(peers: int, shell: bool, folder: Path) -> dict[str, object]:
    (folder / "fleet.py").write_text(MODULE, encoding="utf-8")
    (folder / "fleet.scenario").write_text("&module fleet.Fleet\n@0:0.5 hello\n@0:1 stop\n", encoding="utf-8")
    conf = folder / "fleet.conf"
    conf.write_text(
        f"experiment_name = fleet\ninstances_to_run = {peers}\nscenario_file = fleet.scenario\n"
        "experiment_time = 30\nsync_experiment_start_delay = 1\n",
        encoding="utf-8",
    )
    output = folder / "out"
    launcher = TimedLauncher(peers, output, shell)
    options = RunOptions(conf=conf, output=output, plots=False, launcher=launcher, sync_timeout=300)
    prepared = prepare_run(options)
    assert prepared.run is not None, prepared.refusal
    before = resource.getrusage(resource.RUSAGE_SELF)
    outcome = asyncio.run(execute_run(prepared.run))
    after = resource.getrusage(resource.RUSAGE_SELF)
    timed = launcher.opened
    assert timed is not None
    rows = outcome.summary.peers
    mean = statistics.fmean
    started = []
    for peer in output.iterdir():
        if peer.name.isdigit() and (peer / "result.json").is_file():
            value = json.loads((peer / "result.json").read_text()).get("started_at")
            if isinstance(value, float):
                started.append(value)
    late = [p.lateness_ms.get("max") for p in rows]
    late_max = [v for v in late if v is not None]
    return {
        "peers": peers,
        "how": "shell" if shell else "fork server",
        "status": outcome.status,
        "spawned_s": None if timed.spawned is None else round(timed.spawned, 2),
        "connected_s": None if timed.connected is None else round(timed.connected, 2),
        "cpu_to_connected_s": None if timed.cpu_to_connected is None else round(timed.cpu_to_connected, 2),
        "rss_mib": round(mean(m[0] for m in timed.memory) / MIB, 1) if timed.memory else None,
        "pss_mib": round(mean(m[1] for m in timed.memory) / MIB, 1) if timed.memory else None,
        "uss_mib": round(mean(m[2] for m in timed.memory) / MIB, 1) if timed.memory else None,
        "peer_cpu_ms": round(mean(p.cpu_seconds or 0 for p in rows) * 1000, 1) if rows else None,
        "runner_cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "start_spread_ms": round((max(started) - min(started)) * 1000, 1) if started else None,
        "lateness_max_ms_median": round(statistics.median(late_max), 1) if late_max else None,
        "lateness_max_ms_worst": round(max(late_max), 1) if late_max else None,
        "peak_rss_mib": round(mean(p.peak_rss_mib or 0 for p in rows), 1) if rows else None,
        "peak_pss_mib": round(mean(p.peak_pss_mib or 0 for p in rows), 1) if rows else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=200)
    parser.add_argument("--shell", action="store_true", help="start peers through the shell, not forked")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="gscen-fleet-") as tmp:
            print(json.dumps(one_run(args.peers, args.shell, Path(tmp))), flush=True)


if __name__ == "__main__":
    sys.exit(main())
