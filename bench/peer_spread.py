"""Start spread: N real `gscen peer` processes against a real sync server; how far apart they start.

Each peer records when it actually started (result.json `started_at`: its clock read as the start
hooks ran) and when its first event fired (`started_at`-relative, from events.csv). All processes run
on this machine, so their clocks agree and the spread is max - min. Target (issue 3): under 10 ms
for 100 peers.

    python bench/peer_spread.py [--peers 100] [--start-delay 2]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from scenario_lang.runtime.sync import SyncServer, SyncServerConfig, new_token

from scenario_lang.plan import compile_plan, write_plan_file
from scenario_lang.project import CheckOptions, analyze


async def run(
    peers: int, start_delay: float, folder: Path, immediate: bool
) -> tuple[list[float], list[float], float, list[float]]:
    head = "@! annotate started\n" if immediate else ""
    (folder / "spread.scenario").write_text(head + "@0:0.5 annotate half\n@0:1 stop\n")
    analysis = analyze(str(folder / "spread.scenario"), CheckOptions(instances=peers, find_conf=False))
    write_plan_file(compile_plan(analysis.program, peers), folder / "spread.plan")
    token = new_token()
    out = folder / "out"
    env = dict(os.environ, GSCEN_PLAN_FILE=str(folder / "spread.plan"), GSCEN_SYNC_TOKEN=token)
    env.update(OUTPUT_DIR=str(out), GUMBY_LOG_LEVEL="WARNING")
    gscen = shutil.which("gscen") or "gscen"
    config = SyncServerConfig(instances=peers, token=token, start_delay=start_delay)
    t0 = time.monotonic()
    async with SyncServer(config) as server:
        env["SYNC_PORT"] = str(server.port)
        procs = [await asyncio.create_subprocess_exec(gscen, "peer", env=env) for _ in range(peers)]
        await server.wait_go()
        ready = time.monotonic() - t0
        codes = [await p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"some peers failed: {sorted(set(codes))}")
    started = []
    half = []
    for i in range(1, peers + 1):
        result = json.loads((out / str(i) / "result.json").read_text())
        started.append(float(result["started_at"]))
        with (out / str(i) / "events.csv").open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["planned"] == "0.500000"]
        half.append(float(result["start_time"]) + float(rows[0]["actual"]))
    clients = json.loads((out / "1" / "all_vars.txt").read_text())["clients"]
    offsets = [float(v.get("time_offset", 0)) for v in clients.values()]
    return started, half, ready, offsets


def _spread90(instants: list[float]) -> float:
    """The narrowest window holding 90% of the instants."""
    values = sorted(instants)
    k = max(1, round(0.9 * len(values)))
    return min(values[i + k - 1] - values[i] for i in range(len(values) - k + 1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", type=int, default=100)
    parser.add_argument("--start-delay", type=float, default=2.0)
    parser.add_argument(
        "--no-immediate", action="store_true", help="no `@!` event: only the start hooks run at go"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gscen-spread-") as tmp:
        started, half, ready, offsets = asyncio.run(
            run(args.peers, args.start_delay, Path(tmp), not args.no_immediate)
        )
    print(
        f"{args.peers} gscen peer processes, load average {os.getloadavg()[0]:.1f}: all got go "
        f"{ready:.1f} s after launch; start spread {(max(started) - min(started)) * 1e3:.2f} ms "
        f"(90% within {_spread90(started) * 1e3:.2f} ms); "
        f"spread of the @0:0.5 event {(max(half) - min(half)) * 1e3:.2f} ms"
    )
    skewed = [o for o in offsets if o]
    if skewed:
        print(
            f"note: the sync server measured a clock offset for {len(skewed)} of {len(offsets)} peers "
            f"(all on this machine, one clock): {min(skewed):+.3f} .. {max(skewed):+.3f} s; go carries it"
        )


if __name__ == "__main__":
    main()
