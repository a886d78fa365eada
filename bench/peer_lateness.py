"""Event lateness of the peer: N events spread over S seconds, real clock, optional CPU load.

By default a real `gscen peer` process runs a compiled scenario of N events (a module callback that
does nothing) at random times over S seconds against a real sync server, with `--busy K` processes
spinning on the CPU meanwhile ("the other core busy"); the figures come from its result.json and
events.csv. `--in-process` runs the `Scheduler` with the real `LoopClock` in this process instead (no
sync, no events.csv), to separate the scheduler from the process. Prints the lateness (actual -
planned) distribution in milliseconds. Target (issue 3): p99 under 2 ms and max under 20 ms for
1,000 events over 10 s with the other core busy.

    python bench/peer_lateness.py [--events 1000] [--seconds 10] [--busy 1] [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenario_lang.runtime.loader import CallbackRegistry, Target
from scenario_lang.runtime.scheduler import EventLog, LoopClock, Scheduler


@dataclass(frozen=True, slots=True)
class _Event:
    callback: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    path: str
    line: int


class _Timeline:
    def __init__(self, times: list[float]) -> None:
        self._times = times

    def __len__(self) -> int:
        return len(self._times)

    def time(self, k: int) -> float | None:
        return self._times[k]

    def event(self, k: int) -> _Event:
        return _Event("tick", (k,), {}, "bench.scenario", k + 1)


def _sleep_floor(times: list[float]) -> list[float]:
    """The same timeline with plain `time.sleep` in a loop: what this machine allows any process."""
    start = time.monotonic() + 0.1
    lateness = []
    for t in times:
        rest = start + t - time.monotonic()
        if rest > 0:
            time.sleep(rest)
        lateness.append(time.monotonic() - start - t)
    return lateness


def _spin(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x += 1


async def _run(times: list[float]) -> EventLog:
    registry = CallbackRegistry()
    registry.add(Target.of("tick", "bench", lambda k: None))
    clock = LoopClock()
    events = EventLog(None)
    scheduler = Scheduler(_Timeline(times), registry, clock, events, exit_when_done=True)
    await scheduler.run(clock.now() + 0.2)
    return events


MODULE = """
from scenario_lang import ExperimentModule, experiment_callback


class Ticker(ExperimentModule):
    @experiment_callback
    def tick(self, k: int) -> None:
        pass
"""


async def _run_process(times: list[float]) -> list[float]:
    from scenario_lang.runtime.sync import SyncServer, SyncServerConfig, new_token

    from scenario_lang.plan import compile_plan, write_plan_file
    from scenario_lang.project import CheckOptions, analyze

    with tempfile.TemporaryDirectory(prefix="gscen-lateness-") as tmp:
        folder = Path(tmp)
        (folder / "ticker.py").write_text(MODULE)
        lines = ["&module ticker.Ticker"] + [f"@{t:.6f} tick {k}" for k, t in enumerate(times)]
        lines.append(f"@{times[-1] + 0.5:.6f} stop")
        (folder / "tick.scenario").write_text("\n".join(lines) + "\n")
        analysis = analyze(str(folder / "tick.scenario"), CheckOptions(instances=1, find_conf=False))
        write_plan_file(compile_plan(analysis.program, 1), folder / "tick.plan")
        token = new_token()
        env = dict(os.environ, GSCEN_PLAN_FILE=str(folder / "tick.plan"), GSCEN_SYNC_TOKEN=token)
        env.update(OUTPUT_DIR=str(folder / "out"), EXPERIMENT_DIR=str(folder), GUMBY_LOG_LEVEL="WARNING")
        async with SyncServer(SyncServerConfig(instances=1, token=token, start_delay=0.5)) as server:
            env["SYNC_PORT"] = str(server.port)
            gscen = shutil.which("gscen") or "gscen"
            proc = await asyncio.create_subprocess_exec(gscen, "peer", env=env)
            await proc.wait()
        if proc.returncode != 0:
            raise SystemExit(f"the peer exited {proc.returncode}")
        with (folder / "out" / "1" / "events.csv").open(newline="") as f:
            return [float(r["lateness"]) for r in csv.DictReader(f) if r["callback"] == "tick"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--busy", type=int, default=1, help="CPU-spinning processes beside the peer")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--in-process", action="store_true", help="the scheduler alone, in this process")
    parser.add_argument("--no-floor", action="store_true", help="skip the time.sleep floor measurement")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    times = sorted(rng.uniform(0, args.seconds) for _ in range(args.events))
    until = time.time() + (args.seconds + 3) * (1 if args.no_floor else 2)
    spinners = [multiprocessing.Process(target=_spin, args=(until,)) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    try:
        if args.in_process:
            values = sorted(asyncio.run(_run(times)).lateness)
        else:
            values = sorted(asyncio.run(_run_process(times)))
        floor = [] if args.no_floor else sorted(_sleep_floor(times))
    finally:
        for p in spinners:
            p.terminate()
            p.join()
    for label, data in (
        (("scheduler in process" if args.in_process else "gscen peer process"), values),
        ("time.sleep floor", floor),
    ):
        if not data:
            continue
        n = len(data)

        def q(f: float, data: list[float] = data, n: int = n) -> float:
            return data[min(n - 1, max(0, math.ceil(f * n) - 1))] * 1e3

        print(
            f"{label}: {n} events over {args.seconds:g} s, {args.busy} busy process(es), "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}: "
            f"lateness p50 {q(0.5):.3f} ms, p99 {q(0.99):.3f} ms, max {data[-1] * 1e3:.3f} ms"
        )


if __name__ == "__main__":
    main()
