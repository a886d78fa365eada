"""What firing costs per event: peer 17's 86,778 events of the largest corpus scenario, fast-forwarded.

Compiles social_act_processed.scenario for 4,000 peers (as bench/peer_start.py does), then runs the
real `Scheduler` over peer 17's timeline on a `VirtualClock` (no waiting), with the real module
(bench/social_module.py) and the real events.csv writer, and reports the CPU per fired event: decoding
the event from the plan file, converting its arguments, calling the target, writing its row.

    python bench/peer_fire.py [--corpus DIR] [--events-log all|problems]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from peer_start import DEFAULT_CORPUS, PEER, prepare, run_child
from scenario_lang.runtime.builtin_callbacks import BuiltinCallbacks
from scenario_lang.runtime.loader import load_modules
from scenario_lang.runtime.peer import PeerState
from scenario_lang.runtime.scheduler import EventLog, Scheduler, VirtualClock

from scenario_lang.plan_file import PlanFileReader


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--events-log", choices=("all", "problems"), default="all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gscen-fire-") as tmp:
        folder = Path(tmp)
        scenario = prepare(folder, args.corpus.resolve())
        plan_path = folder / "social.plan"
        run_child("--child-compile", str(scenario), str(plan_path))
        sys.path.insert(0, str(folder))
        plan = PlanFileReader(plan_path)
        state = PeerState(output_root=folder / "out", my_id=PEER)
        state.output_dir.mkdir(parents=True)
        modules = load_modules(plan.modules, state, BuiltinCallbacks(state))
        timeline = plan.timeline(PEER)
        with (folder / "events.csv").open("w", newline="") as stream:
            events = EventLog(stream, only_problems=args.events_log == "problems")
            clock = VirtualClock()
            scheduler = Scheduler(timeline, modules.registry, clock, events, exit_when_done=True)
            state.scheduler = scheduler
            c0 = time.process_time()
            reason = asyncio.run(scheduler.run(clock.now()))
            cpu = time.process_time() - c0
        size = (folder / "events.csv").stat().st_size / 1e6
    print(
        f"peer {PEER}: {events.events_fired} events fired ({reason}), {events.calls} calls, "
        f"{events.calls_failed} failed; {cpu:.2f} CPU s = {cpu / max(1, events.events_fired) * 1e6:.1f} us "
        f"per event; events.csv ({args.events_log}) {size:.1f} MB"
    )


if __name__ == "__main__":
    main()
