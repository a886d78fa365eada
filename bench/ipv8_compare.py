"""Per-peer cost of an IPv8 ping-pong run, read the same way for gscen and for Gumby: from the
`resource_usage.log` each one's process guard writes (one `/proc/<pid>/stat` line per process per
sample, in the same format), and the pongs in the peers' logs.

    python bench/ipv8_compare.py OUTPUT_DIR [OUTPUT_DIR...]

For each folder: peers (processes sampled), pongs logged, per-peer CPU seconds (utime + stime at the
last sample) and peak RSS (MiB) as median and max. How the two runs were made is in
bench/ipv8_bench.md.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def per_process(log: Path) -> dict[int, tuple[float, float]]:
    """pid -> (CPU seconds at its last sample, peak RSS MiB), peers only (python processes)."""
    lines = log.read_text(errors="replace").splitlines()
    header = json.loads(lines[0])
    tick, page = float(header["sc_clk_tck"]), int(header["pagesize"])
    found: dict[int, tuple[float, float]] = {}
    for line in lines[1:]:
        _when, rest = line.split(" ", 1)
        # comm may hold spaces: the fields after it start behind the last ')'
        head, tail = rest.rsplit(")", 1)
        pid = int(head.split(" ", 1)[0])
        if "python" not in head:
            continue
        fields = tail.split()
        cpu = (int(fields[11]) + int(fields[12])) / tick  # utime, stime: stat fields 14 and 15
        rss = int(fields[21]) * page / 2**20  # stat field 24
        last = found.get(pid, (0.0, 0.0))
        found[pid] = (cpu, max(rss, last[1]))
    return found


def main(folders: list[str]) -> None:
    for folder in map(Path, folders):
        procs = per_process(folder / "resource_usage.log")
        cpu = [c for c, _ in procs.values()]
        rss = [r for _, r in procs.values()]
        pongs = sum(p.read_text(errors="replace").count("Received pong") for p in folder.glob("*.err"))
        print(
            json.dumps(
                {
                    "output": str(folder),
                    "peers": len(procs),
                    "pongs": pongs,
                    "peer_cpu_s": {"median": round(statistics.median(cpu), 2), "max": round(max(cpu), 2)},
                    "peer_peak_rss_mib": {
                        "median": round(statistics.median(rss), 1),
                        "max": round(max(rss), 1),
                    },
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1:])
