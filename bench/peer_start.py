"""Peer start on the largest corpus scenario: compile once, then what each peer process pays to be ready.

Issue 3's targets, on experiments/dispersy/social_act_processed.scenario (118,770 lines; 86,778 events
for peer 17), compiled for 4,000 peers with bench/social_module.py standing in for its Dispersy client:
- one peer process loads its part of the plan and has every event scheduled within 50 ms of getting
  the plan, at most 60 MB peak RSS for the whole process;
- the total CPU to prepare a 1,000-peer run (compile once + 1,000 peer loads), against Gumby's
  43 CPU-minutes (2.6 s and 221 MB per peer, each parsing the whole file).

Three measurements, each in fresh processes:
1. compile: the front end + `compile_plan` + `write_plan_file`, CPU seconds and peak RSS;
2. peer load (`--loads N` processes): a child that runs the peer's own preparation code (import
   `scenario_lang.runtime.peer`, open the plan, import and instantiate the module, select peer 17's
   events), reporting the time from opening the plan to having the timeline, the process's CPU
   seconds (interpreter start included) and peak RSS, and whether lark/rich/matplotlib got imported;
3. end to end (`--e2e`): a real sync server and 17 real `gscen peer` processes on the compiled plan,
   stopped by EXPERIMENT_TIME after 1 s; peer 17's result.json (plan_load_seconds, peak_rss_bytes).

    python bench/peer_start.py [--corpus DIR] [--loads 20] [--e2e]
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

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parent.parent / "shared" / "corpus" / "gumby"
SCENARIO = "experiments/dispersy/social_act_processed.scenario"
PEER = 17
INSTANCES = 4000


def prepare(folder: Path, corpus: Path) -> Path:
    """The wrapper experiment: the module, a scenario that includes the corpus file, a .conf."""
    shutil.copy(HERE / "social_module.py", folder / "social_module.py")
    (folder / "social_act.scenario").write_text(
        f"&module social_module.SocialModule\n&include {corpus / SCENARIO}\n", encoding="utf-8"
    )
    (folder / "social_act.conf").write_text(
        'experiment_name = "bench_social_act"\nscenario_file = "social_act.scenario"\n'
        f'instances_to_run = {INSTANCES}\ncommunity_type = "SocialCommunity"\n',
        encoding="utf-8",
    )
    return folder / "social_act.scenario"


def child_compile(scenario: str, plan: str) -> None:
    from scenario_lang.plan import compile_plan, write_plan_file
    from scenario_lang.project import CheckOptions, analyze

    conf = str(Path(scenario).with_suffix(".conf"))
    analysis = analyze(scenario, CheckOptions(conf=conf, instances=INSTANCES))
    compiled = compile_plan(analysis.program)
    write_plan_file(compiled, plan)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "events": len(compiled.events),
                "cpu": usage.ru_utime + usage.ru_stime,
                "rss_mb": usage.ru_maxrss / 1024,
                "diagnostics": len(analysis.diagnostics),
            }
        )
    )


def child_load(plan_path: str, experiment_dir: str) -> None:
    t_import = time.perf_counter()
    from scenario_lang.runtime.builtin_callbacks import BuiltinCallbacks
    from scenario_lang.runtime.loader import load_modules
    from scenario_lang.runtime.peer import PeerState

    from scenario_lang.plan_file import PlanFileReader

    imported = time.perf_counter()
    sys.path.insert(0, experiment_dir)
    t0 = time.perf_counter()
    plan = PlanFileReader(plan_path)
    t1 = time.perf_counter()
    state = PeerState(output_root=Path(experiment_dir))
    modules = load_modules(plan.modules, state, BuiltinCallbacks(state))
    t2 = time.perf_counter()
    timeline = plan.timeline(PEER)
    t3 = time.perf_counter()
    first = timeline.event(0)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "events": len(timeline),
                "first": first.callback,
                "targets": len(modules.registry.names()),
                "import_ms": (imported - t_import) * 1e3,
                "header_ms": (t1 - t0) * 1e3,
                "modules_ms": (t2 - t1) * 1e3,
                "select_ms": (t3 - t2) * 1e3,
                "plan_ms": (t1 - t0 + t3 - t2) * 1e3,
                "ready_ms": (t3 - t0) * 1e3,
                "cpu": usage.ru_utime + usage.ru_stime,
                "rss_mb": usage.ru_maxrss / 1024,
                "heavy": sorted(
                    m for m in ("lark", "rich", "matplotlib", "click", "psutil") if m in sys.modules
                ),
            }
        )
    )


def run_child(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


async def end_to_end(plan: Path, folder: Path) -> dict[str, object]:
    from scenario_lang.runtime.sync import SyncServer, SyncServerConfig, new_token

    token = new_token()
    out = folder / "out"
    gscen = shutil.which("gscen") or "gscen"
    env = dict(os.environ, GSCEN_PLAN_FILE=str(plan), GSCEN_SYNC_TOKEN=token, OUTPUT_DIR=str(out))
    env.update(EXPERIMENT_TIME="1", EXPERIMENT_DIR=str(folder), GUMBY_LOG_LEVEL="WARNING")
    async with SyncServer(SyncServerConfig(instances=PEER, token=token, start_delay=0.5)) as server:
        env["SYNC_PORT"] = str(server.port)
        procs = [
            await asyncio.create_subprocess_exec(gscen, "peer", env=env, stderr=asyncio.subprocess.PIPE)
            for _ in range(PEER)
        ]
        errors = await asyncio.gather(*(p.communicate() for p in procs))
    codes = [p.returncode for p in procs]
    if any(codes):
        raise SystemExit(
            f"peers failed: {codes}\n{errors[codes.index(next(c for c in codes if c))][1].decode()}"
        )
    result: dict[str, object] = json.loads((out / str(PEER) / "result.json").read_text())
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-compile":
        child_compile(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-load":
        child_load(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--loads", type=int, default=20, help="peer-load processes to average over")
    parser.add_argument("--e2e", action="store_true", help="also run 17 real peers against a sync server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gscen-bench-") as tmp:
        folder = Path(tmp)
        scenario = prepare(folder, args.corpus.resolve())
        plan = folder / "social.plan"
        compiled = run_child("--child-compile", str(scenario), str(plan))
        size = plan.stat().st_size / 1e6
        print(
            f"compile: {compiled['events']} events in {compiled['cpu']:.2f} CPU s, "
            f"peak RSS {compiled['rss_mb']:.0f} MB, plan file {size:.1f} MB"
        )
        loads = [run_child("--child-load", str(plan), str(folder)) for _ in range(args.loads)]

        def med(key: str) -> float:
            return statistics.median(float(x[key]) for x in loads)  # type: ignore[arg-type]

        def top(key: str) -> float:
            return max(float(x[key]) for x in loads)  # type: ignore[arg-type]

        print(
            f"peer {PEER} load ({args.loads} processes, median / max): {loads[0]['events']} events; "
            f"plan header {med('header_ms'):.1f} ms, module import {med('modules_ms'):.1f} ms, "
            f"event selection {med('select_ms'):.1f} ms; plan->ready {med('ready_ms'):.1f} / "
            f"{top('ready_ms'):.1f} ms; runtime imports {med('import_ms'):.1f} ms; process CPU "
            f"{med('cpu'):.3f} s; peak RSS {med('rss_mb'):.1f} / {top('rss_mb'):.1f} MB; "
            f"heavy modules imported: {loads[0]['heavy'] or 'none'}"
        )
        total = float(compiled["cpu"]) + 1000 * med("cpu")  # type: ignore[arg-type]
        print(
            f"1,000-peer preparation: {total:.1f} CPU s = {total / 60:.2f} CPU min "
            f"(compile {compiled['cpu']:.1f} s + 1,000 x {med('cpu'):.3f} s) vs Gumby's 43 CPU min"
        )
        if args.e2e:
            result = asyncio.run(end_to_end(plan, folder))
            print(
                f"end to end, peer {PEER} of {PEER} real `gscen peer` processes: "
                f"plan load {float(result['plan_load_seconds']) * 1e3:.1f} ms wall "  # type: ignore[arg-type]
                f"({float(result['plan_load_cpu_seconds']) * 1e3:.1f} ms CPU; 17 peers select at once), "  # type: ignore[arg-type]
                f"peak RSS {int(result['peak_rss_bytes']) / 2**20:.1f} MB, "  # type: ignore[call-overload]
                f"events fired {result['events_fired']} of {result['events_planned']} in 1 s, "
                f"cpu {result['cpu_seconds']} s, exit {result['exit_reason']}"
            )


if __name__ == "__main__":
    main()
