"""The slurm launcher on a real SLURM cluster (scripts/slurm-local.sh start): overhead and scale.

    python bench/slurm_bench.py overhead [--rounds 3]
        the 16-peer example (examples/synchronized_instances_das) with `--launcher local` and with
        the slurm launcher, in turn; wall time of each `gscen run`, and the difference (target: < 5 s)
    python bench/slurm_bench.py scale [--peers 200] [--nodes 4]
        the same experiment with 200 peers over 4 nodes: wall time, the spread of the peers' actual
        start instants (result.json `started_at`, max - min; target < 20 ms), every peer's output
        collected (sum_id.txt, one .out per process, one folder per peer), squeue empty afterwards,
        the runner's peak RSS and the largest peer's; the sync traffic (the all-vars bytes)
    python bench/slurm_bench.py floor [--peers 200]
        the machine's own floor for the spread: that many forked processes, each its own session as
        gscen's peers are, sleep to one instant and only read the clock when they wake (max - min)
    python bench/slurm_bench.py sync-cost [--peers 1000] [--nodes 20]
        no cluster: the sync of that many peers as gscen's peers on SLURM speak it (token, compact
        form, request-id by node rank, a published address), against the real sync server over TCP
        on 127.0.0.1; counts the connections and the bytes each way, exactly as sent on the wire

Every peer runs on this machine (the nodes of the local cluster share it), so the clocks agree. The
machine has 2 cores: 200 peers share them, which is what the spread measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "synchronized_instances_das"


def experiment(folder: Path, nodes: int) -> Path:
    shutil.copytree(EXAMPLE, folder)
    conf = folder / "synchronized_instances_das.conf"
    text = conf.read_text().replace("node_amount = 2", f"node_amount = {nodes}")
    conf.write_text(text)
    return conf


def gscen_run(conf: Path, out: Path, *extra: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    argv = [sys.executable, "-m", "scenario_lang.cli", "run", str(conf), "-o", str(out), "--no-plots"]
    began = time.perf_counter()
    result = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"gscen run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return wall, result


def squeue_names() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def overhead(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conf = experiment(Path(tmp) / "exp", 2)
        local: list[float] = []
        slurm: list[float] = []
        for i in range(rounds):
            local.append(gscen_run(conf, Path(tmp) / f"local{i}", "--launcher", "local")[0])
            slurm.append(gscen_run(conf, Path(tmp) / f"slurm{i}")[0])
            for kind in ("local", "slurm"):
                total = (Path(tmp) / f"{kind}{i}" / "sum_id.txt").read_text().strip()
                assert total == "136", (kind, total)
    diffs = [s - loc for s, loc in zip(slurm, local, strict=True)]
    print(f"16 peers, 2 nodes, {rounds} rounds (each run: 9 s of scenario)")
    print(f"local wall s: {' '.join(f'{x:.2f}' for x in local)}  median {statistics.median(local):.2f}")
    print(f"slurm wall s: {' '.join(f'{x:.2f}' for x in slurm)}  median {statistics.median(slurm):.2f}")
    print(f"slurm - local s: median {statistics.median(diffs):.2f} (max {max(diffs):.2f}); target < 5")


def scale(peers: int, nodes: int, launcher: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conf = experiment(Path(tmp) / "exp", nodes)
        out = Path(tmp) / "out"
        wall, result = gscen_run(conf, out, "--instances", str(peers), "--launcher", launcher)
        runner_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        results = [json.loads((out / str(i) / "result.json").read_text()) for i in range(1, peers + 1)]
        started = [r["started_at"] for r in results]
        spread_ms = (max(started) - min(started)) * 1000
        late = sorted((r["started_at"] - r["start_time"]) * 1000 for r in results)
        total = int((out / "sum_id.txt").read_text())
        outs = len(list(out.glob("[0-9]*.out")))
        folders = sum(1 for i in range(1, peers + 1) if (out / str(i) / "id.txt").is_file())
        summary = json.loads((out / "summary.json").read_text())
        peer_peak = max(p["peak_rss_mib"] or 0 for p in summary["peers"])
        all_vars = (out / "1" / "all_vars.txt").stat().st_size
        left = [n for n in squeue_names() if n.startswith("gscen-")]
        where = f"on {nodes} nodes" if launcher == "slurm" else "locally (--launcher local)"
        print(f"{peers} peers {where} (2 cores)")
        print(f"wall time of gscen run: {wall:.2f} s (9 s of scenario)")
        print(f"start spread: {spread_ms:.1f} ms (target < 20)")
        p50, p90 = late[len(late) // 2], late[int(len(late) * 0.9)]
        shown = f"min {late[0]:.1f} p50 {p50:.1f} p90 {p90:.1f} max {late[-1]:.1f}"
        print(f"started after the start instant, ms: {shown}")
        expected = peers * (peers + 1) // 2
        print(f"collected: sum_id {total} (expected {expected}), {outs} .out files, {folders} peer folders")
        print(f"squeue after the run: {left or 'empty'}")
        print(f"peak RSS: runner {runner_peak:.0f} MiB, largest peer {peer_peak:.1f} MiB")
        print(f"all-vars line per peer: {all_vars} bytes (compact form)")
        assert total == peers * (peers + 1) // 2 and outs == peers and folders == peers and not left
        assert launcher == "local" or "slurm job" in result.stderr


# Run by a fresh interpreter that imports nothing else: children forked from this bench process would
# copy-on-write its pages as they wake, which is not the floor.
_FLOOR = """
import os, sys, time
peers = int(sys.argv[1])
start = time.time() + 1.0 + peers * 0.005
read, write = os.pipe()
children = []
for _ in range(peers):
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.setsid()
        time.sleep(max(0.0, start - time.time()))
        woke = time.time()
        os.write(write, b"%r\\n" % woke)
        time.sleep(2)  # an exit now would take CPU from the children still waking
        os._exit(0)
    children.append(pid)
os.close(write)
data = b""
while chunk := os.read(read, 65536):
    data += chunk
for pid in children:
    os.waitpid(pid, 0)
woke = sorted(float(x) for x in data.split())
print(f"{peers} processes woken at one instant: spread {(woke[-1] - woke[0]) * 1000:.1f} ms")
"""


def floor(peers: int) -> None:
    subprocess.run([sys.executable, "-c", _FLOOR, str(peers)], check=True)


async def _raw_peer(port: int, token: str, peer_id: int, counts: list[int]) -> None:
    """One peer's whole sync as a gscen peer on SLURM sends it; bytes sent/received into counts."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
    sent = b"token:%s\r\naccept:compact-vars\r\nrequest-id:%d\r\ntime:%r\r\n" % (
        token.encode(),
        peer_id,
        time.time(),
    )
    writer.write(sent)
    received = await reader.readline()
    ready = b"set:host:127.0.0.1\r\nready\r\n"
    writer.write(ready)
    all_vars = await reader.readline()
    writer.write(b"vars_received\r\n")
    go = await reader.readline()
    assert received.startswith(b"id:%d" % peer_id) and go.startswith(b"go:"), (received, go)
    counts[0] += len(sent) + len(ready) + len(b"vars_received\r\n")
    counts[1] += len(received) + len(all_vars) + len(go)
    writer.close()


async def _sync_cost(peers: int) -> tuple[int, int, dict[str, int], float]:
    from scenario_lang.runtime.sync import SyncServer, SyncServerConfig, new_token

    token = new_token()
    config = SyncServerConfig(instances=peers, token=token, start_delay=0.1)
    counts = [0, 0]
    began = time.perf_counter()
    async with SyncServer(config) as server:
        await asyncio.gather(*(_raw_peer(server.port, token, i, counts) for i in range(1, peers + 1)))
        sizes = server.all_vars_sizes
    return counts[0], counts[1], sizes, time.perf_counter() - began


def sync_cost(peers: int, nodes: int) -> None:
    up, down, sizes, seconds = asyncio.run(_sync_cost(peers))
    print(f"{peers} peers on {nodes} nodes: {peers} connections to the sync server (one per peer)")
    print(f"peers -> server: {up} bytes ({up / peers:.0f} per peer)")
    print(f"server -> peers: {down} bytes ({down / peers:.0f} per peer; all-vars line {sizes})")
    print(f"sync on this machine: {seconds:.2f} s (every client in one process)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("overhead").add_argument("--rounds", type=int, default=3)
    s = sub.add_parser("scale")
    s.add_argument("--peers", type=int, default=200)
    s.add_argument("--nodes", type=int, default=4)
    s.add_argument("--launcher", choices=("slurm", "local"), default="slurm")
    sub.add_parser("floor").add_argument("--peers", type=int, default=200)
    c = sub.add_parser("sync-cost")
    c.add_argument("--peers", type=int, default=1000)
    c.add_argument("--nodes", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONSAFEPATH", "1")
    if args.what == "overhead":
        overhead(args.rounds)
    elif args.what == "floor":
        floor(args.peers)
    elif args.what == "sync-cost":
        sync_cost(args.peers, args.nodes)
    else:
        scale(args.peers, args.nodes, args.launcher)


if __name__ == "__main__":
    main()
