#!/usr/bin/env python3
"""gscen's sync server against the yardstick, interleaved: one run of each in turn, so a busy machine
slows both alike. Uses ../shared/bench/sync_load.py (the load generator and floor_sync_server.py).

    python3 bench/sync_compare.py --n 1000 --repeat 5
    python3 bench/sync_compare.py --n 4000 --procs 2 --repeat 5
    python3 bench/sync_compare.py --n 4000 --procs 2 --repeat 5 --gumby-form --same-bytes

Servers: `gscen` sends the all-vars document in the compact form gscen's peers ask for (forced: the
light clients cannot ask); `--gumby-form` adds gscen sending Gumby's form, as Gumby clients get it;
`--same-bytes` adds the floor changed to send a Gumby-shaped document as long as that.

Prints one JSON object: per server, the first-connect-to-last-go times (min, median), the JSON bytes
each client received, and each gscen server's ratio to the floor (min to min, median to median).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("GSCEN_SHARED_BENCH", HERE.parent.parent / "shared" / "bench"))
LOAD = SHARED / "sync_load.py"
GSCEN = "gscen sync-server --instances {n} --port {port} --start-delay {delay} --no-token"
# The load generator's clients cannot ask for the compact all-vars form as gscen's peers do, so the
# form gscen's peers get is forced; Gumby clients get Gumby's form (the default, "auto").
GSCEN_COMPACT = GSCEN + " --all-vars compact"

# The yardstick, changed only to send a Gumby-shaped all-vars line as long as gscen's (one encode).
SAME_BYTES_PATCH = (
    "    writers: list[asyncio.StreamWriter] = []\n",
    "    writers: list[asyncio.StreamWriter] = []\n"
    "    import json as _json\n"
    "    _clients = {str(i): {'time_offset': 0, 'port': 12000 + i, 'host': '127.0.0.1'}"
    " for i in range(1, n + 1)}\n"
    "    _doc = _json.dumps({'server': {'global_random': 1}, 'clients': _clients},"
    " separators=(',', ':')).encode() + b'\\r\\n'\n",
)


def one_run(server_cmd: str, n: int, procs: int) -> dict[str, float]:
    argv = [sys.executable, str(LOAD), "bench", "--n", str(n), "--repeat", "1", "--procs", str(procs)]
    out = subprocess.run(
        [*argv, "--server-cmd", server_cmd], capture_output=True, text=True, check=True
    ).stdout
    run = json.loads(out)["rows"][0]["runs"][0]
    return {"go_s": run["first_connect_to_last_go_s"], "json_bytes": run["json_bytes_per_client"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--same-bytes", action="store_true", help="also run the floor sending a Gumby-form document"
    )
    parser.add_argument("--gumby-form", action="store_true", help="also run gscen sending Gumby's form")
    args = parser.parse_args()

    servers = {
        "gscen": GSCEN_COMPACT,
        "floor": "{python} " + str(SHARED / "floor_sync_server.py") + " {n} {port} {delay}",
    }
    if args.gumby_form:
        servers["gscen_gumby_form"] = GSCEN
    with tempfile.TemporaryDirectory() as tmp:
        if args.same_bytes:
            source = (SHARED / "floor_sync_server.py").read_text()
            old, new = SAME_BYTES_PATCH
            patched = source.replace(old, new).replace("b'{\"clients\": {}}\\r\\n'", "_doc")
            assert patched.count("_doc") == 2, "floor_sync_server.py changed; update SAME_BYTES_PATCH"
            (Path(tmp) / "floor_same_bytes.py").write_text(patched)
            servers["floor_same_bytes"] = (
                "{python} " + str(Path(tmp) / "floor_same_bytes.py") + " {n} {port} {delay}"
            )
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        for i in range(args.repeat):
            for name, cmd in servers.items():
                run = one_run(cmd, args.n, args.procs)
                runs[name].append(run)
                print(f"run {i + 1}: {name:17} {run['go_s']:.3f} s", file=sys.stderr, flush=True)

    summary: dict[str, object] = {"n": args.n, "procs": args.procs, "repeat": args.repeat}
    for name, rs in runs.items():
        times = [r["go_s"] for r in rs]
        summary[name] = {
            "go_s_min": round(min(times), 3),
            "go_s_median": round(statistics.median(times), 3),
            "json_bytes_per_client": int(rs[0]["json_bytes"]),
        }
    floor = runs["floor"]
    for name in ("gscen", "gscen_gumby_form"):
        if name in runs:
            ours = [r["go_s"] for r in runs[name]]
            base = [r["go_s"] for r in floor]
            summary[f"{name}_ratio_min"] = round(min(ours) / min(base), 2)
            summary[f"{name}_ratio_median"] = round(statistics.median(ours) / statistics.median(base), 2)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
