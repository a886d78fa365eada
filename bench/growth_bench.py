#!/usr/bin/env python3
"""How the front end grows with the file: check and compile the corpus' largest file repeated 1x, 3x, 9x.

Builds workspaces like bench/front_end_bench.py (social_act_processed.scenario, 118,770 lines, with
`&module social_module.SocialModule` on top and a `.conf` for 4,000 peers), the scenario body repeated
k times (9x: 1,068,930 lines and events). For each k, each in a fresh process, the best of --repeat:

  check     `gscen check --instances 4000 --no-cache`
  compile   what `gscen run` does before it starts anything: check, compile the plan for 4,000 peers
            and write the plan file
  dry run   `gscen run social.conf --dry-run` itself (the runner's preparation: .conf, check and
            compile in chunks, the run's steps; it prints the first events only)

and the peak RSS of the largest process (the runner or one of its chunk workers, from wait4).
Targets (issue 9): time and peak RSS grow at most linearly in k; at 9x the compile and the dry run stay
under 1 GB.

Usage: python3 bench/growth_bench.py [--corpus DIR] [--repeat 1] [--copies 1,3,9]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parent.parent / "shared" / "corpus" / "gumby"
SCENARIO = "experiments/dispersy/social_act_processed.scenario"

COMPILE = """
import sys
from scenario_lang.project import CheckOptions, analyze_and_plan
from scenario_lang.plan import write_plan_file
analysis, plan = analyze_and_plan(sys.argv[1], CheckOptions(instances=4000, parallel=True))
assert plan is not None, [d.message for d in analysis.diagnostics][:5]
write_plan_file(plan, sys.argv[2])
print(len(plan.events))
"""


def workspace(corpus: Path, into: Path, copies: int) -> Path:
    text = (corpus / SCENARIO).read_text(encoding="utf-8")
    into.mkdir()
    scenario = into / "social.scenario"
    scenario.write_text("&module social_module.SocialModule\n" + text * copies, encoding="utf-8")
    shutil.copy(HERE / "social_module.py", into / "social_module.py")
    (into / "social.conf").write_text(
        "experiment_name = social\nscenario_file = social.scenario\ninstances_to_run = 4000\n"
        "community_type = SocialCommunity\nexperiment_time = 3000\n",
        encoding="utf-8",
    )
    (into / "pyproject.toml").write_text("", encoding="utf-8")  # the module search stops here
    return scenario


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB of the largest process of the command's tree, stdout."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        # wait4's usage holds the largest RSS of the child and of every descendant it waited for.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{err.read().decode()[-2000:]}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--copies", default="1,3,9")
    args = ap.parse_args()
    gscen = shutil.which("gscen") or "gscen"
    copies = [int(c) for c in args.copies.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"), "NO_COLOR": "1"}
        for k in copies:
            scenario = workspace(args.corpus, root / f"x{k}", k)
            lines = scenario.read_text(encoding="utf-8").count("\n")
            check = [gscen, "check", "--instances", "4000", "--no-cache", str(scenario)]
            compile_ = [sys.executable, "-c", COMPILE, str(scenario), str(root / f"x{k}" / "plan")]
            best_check = min((measure(check, env, root) for _ in range(args.repeat)), key=lambda r: r[0])
            best_compile = min((measure(compile_, env, root) for _ in range(args.repeat)), key=lambda r: r[0])
            dry = [gscen, "run", str(scenario.with_suffix(".conf")), "--dry-run", "--no-plots"]
            best_dry = min((measure(dry, env, root) for _ in range(args.repeat)), key=lambda r: r[0])
            rows.append((k, lines, int(best_compile[2]), best_check, best_compile, best_dry))
    head = ("copies", "lines", "events", "check s", "check MiB", "compile s", "compile MiB")
    head += ("dry s", "dry MiB")
    print("{:>6} {:>10} {:>10} {:>8} {:>9} {:>9} {:>11} {:>7} {:>8}".format(*head))
    for k, lines, events, (cs, cm, _), (ps, pm, _), (ds, dm, _) in rows:
        row = f"{k:>6} {lines:>10,} {events:>10,} {cs:>8.2f} {cm:>9.0f} {ps:>9.2f} {pm:>11.0f}"
        print(f"{row} {ds:>7.2f} {dm:>8.0f}")
    base = rows[0]
    for k, _, _, (cs, cm, _), (ps, pm, _), (ds, dm, _) in rows[1:]:
        f = k / base[0]
        print(
            f"{k}x against {base[0]}x (linear = {f:.0f}): check time {cs / base[3][0]:.2f}, "
            f"check RSS {cm / base[3][1]:.2f}, compile time {ps / base[4][0]:.2f}, "
            f"compile RSS {pm / base[4][1]:.2f}, dry-run time {ds / base[5][0]:.2f}, "
            f"dry-run RSS {dm / base[5][1]:.2f}"
        )


if __name__ == "__main__":
    main()
