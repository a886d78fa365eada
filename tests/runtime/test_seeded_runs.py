"""Seeded runs: the seed comes from the .conf or --seed, or is picked and recorded; a module's own
`seeded_random` draws the same numbers in a run repeated with that seed (real `gscen run` processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scenario_lang.runtime.seeds import derive, seeded_random

MODULE = """\
from scenario_lang import ExperimentModule, experiment_callback


class Draw(ExperimentModule):
    @experiment_callback
    def draw(self) -> None:
        numbers = [self.seeded_random().random() for _ in range(3)]
        numbers.append(self.seeded_random("other").random())
        (self.output_dir / "draws.txt").write_text(repr(numbers))
"""


def experiment(folder: Path, seed_line: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mod.py").write_text(MODULE, encoding="utf-8")
    (folder / "exp.scenario").write_text("&module mod.Draw\n@0 draw\n@0.2 stop\n", encoding="utf-8")
    conf = folder / "exp.conf"
    conf.write_text(
        f"experiment_name = seeded\ninstances_to_run = 2\nscenario_file = exp.scenario\n{seed_line}",
        encoding="utf-8",
    )
    return conf


def run(conf: Path, out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scenario_lang.cli",
            "run",
            str(conf),
            "--output",
            str(out),
            "--no-plots",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "summary.json").read_text())
    assert isinstance(data, dict)
    return result, data


def draws(out: Path) -> dict[int, str]:
    return {peer: (out / str(peer) / "draws.txt").read_text() for peer in (1, 2)}


def test_derived_numbers_depend_on_the_seed_and_every_label_only() -> None:
    assert derive(7, "loss", 1, 2, 0) == derive(7, "loss", 1, 2, 0)
    assert len({derive(7, "loss", 1, 2, 0), derive(8, "loss", 1, 2, 0), derive(7, "loss", 2, 1, 0)}) == 3
    assert derive(7, 1) != derive(7, "1")  # a peer id is not the label "1"
    assert seeded_random(7, "x").random() == seeded_random(7, "x").random()


def test_conf_seed_is_recorded_and_repeats_every_modules_draws(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", "seed = 1234\n")
    result, data = run(conf, tmp_path / "a")
    assert data["seed"] == 1234 and "seed: 1234" in result.stderr
    first = draws(tmp_path / "a")
    assert first[1] != first[2]  # each peer has its own stream
    _, again = run(conf, tmp_path / "b")
    assert again["seed"] == 1234 and draws(tmp_path / "b") == first
    _, other = run(conf, tmp_path / "c", "--seed", "99")  # --seed wins over the .conf
    assert other["seed"] == 99 and draws(tmp_path / "c") != first


def test_a_run_without_a_seed_picks_one_that_repeats_it(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", "")
    result, data = run(conf, tmp_path / "a")
    seed = data["seed"]
    assert isinstance(seed, int) and f"--seed {seed}" in result.stderr
    _, again = run(conf, tmp_path / "b", "--seed", str(seed))
    assert again["seed"] == seed and draws(tmp_path / "b") == draws(tmp_path / "a")
