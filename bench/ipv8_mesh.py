"""IPv8 at scale on this machine: N peers (default 50) start, are introduced to each other, and each
sends one message to every other peer; all N*(N-1) must arrive within 30 s of go.

Runs `gscen run` on a generated experiment (bench/ipv8_mesh_module.py, Gumby's module API) and reads
the run's folder: messages delivered (hellos.txt per peer), the time from go (summary.json's
start_instant) to the last delivery, how many peers each had verified when it greeted (introduction
through the all-vars document), and per peer the peak RSS and CPU seconds (result.json).

    python bench/ipv8_mesh.py [--peers 50] [--keep DIR]

Prints one JSON object; exits 1 when a message is missing or the last one came later than 30 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCENARIO = """\
&module gumby.modules.base_ipv8_module.BaseIPv8Module
&module ipv8_mesh_module.MeshModule
@0:0 isolate_ipv8_overlay MeshCommunity
@0:0 start_session
@0:1 introduce_peers
@0:3 greet_everyone
@0:30 write_hellos
@0:31 stop_session
@0:32 stop
"""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", type=int, default=50)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="gscen-ipv8-mesh-"))
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "ipv8_mesh_module.py", folder / "ipv8_mesh_module.py")
    (folder / "mesh.scenario").write_text(SCENARIO)
    (folder / "mesh.conf").write_text(
        f"experiment_name = ipv8_mesh\ninstances_to_run = {args.peers}\nscenario_file = mesh.scenario\n"
        "experiment_time = 60\nsync_port = __unique_port__\n"
    )
    out = folder / "out"
    began = time.time()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "scenario_lang.cli",
            "run",
            str(folder / "mesh.conf"),
            "-o",
            str(out),
            "--no-plots",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.time() - began
    summary = json.loads((out / "summary.json").read_text())
    go = summary["start_instant"]
    n = args.peers
    delivered = 0
    last = 0.0
    verified = []
    rss, cpu = [], []
    for peer in range(1, n + 1):
        peer_dir = out / str(peer)
        lines = (peer_dir / "hellos.txt").read_text().split() if (peer_dir / "hellos.txt").exists() else []
        times = [float(t) for t in lines[0::2]]
        senders = {int(s) for s in lines[1::2]}
        delivered += len(senders - {peer})
        last = max([last, *times])
        if (peer_dir / "verified.txt").exists():
            verified.append(int((peer_dir / "verified.txt").read_text()))
        result = json.loads((peer_dir / "result.json").read_text())
        rss.append(result["peak_rss_bytes"] / 2**20)
        cpu.append(result["cpu_seconds"])
    report = {
        "peers": n,
        "status": summary["status"],
        "expected": n * (n - 1),
        "delivered": delivered,
        "go_to_last_delivery_s": round(last - go, 3) if go and last else None,
        "verified_peers_at_greeting": {
            "min": min(verified, default=None),
            "max": max(verified, default=None),
        },
        "peer_peak_rss_mib": {"median": round(statistics.median(rss), 1), "max": round(max(rss), 1)},
        "peer_cpu_s": {
            "median": round(statistics.median(cpu), 2),
            "max": round(max(cpu), 2),
            "sum": round(sum(cpu), 1),
        },
        "runner_cpu_s": summary.get("runner_cpu_seconds"),
        "wall_s": round(wall, 1),
        "output": str(out) if args.keep else None,
    }
    print(json.dumps(report, indent=1))
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    ok = run.returncode == 0 and delivered == n * (n - 1) and report["go_to_last_delivery_s"] is not None
    return 0 if ok and report["go_to_last_delivery_s"] <= 30 else 1


if __name__ == "__main__":
    sys.exit(main())
