"""A real Gumby on the module path is used as it is: gscen's Gumby API answers only what is missing.

The test writes a small stand-in for a Gumby checkout (its own `gumby.experiment.experiment_callback`,
which marks methods the way Gumby does, and an `ExperimentModule` that registers itself with
`experiment.register`, as Gumby's does) beside an experiment, then checks and runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

STAND_IN = {
    "gumby/__init__.py": "",
    "gumby/experiment.py": (
        "def experiment_callback(name=None):\n"
        "    def mark(f):\n"
        "        f.register_as_callback = name if isinstance(name, str) else f.__name__\n"
        "        return f\n"
        "    return mark(name) if callable(name) else mark\n"
    ),
    "gumby/modules/__init__.py": "",
    "gumby/modules/experiment_module.py": (
        "class ExperimentModule:\n"
        "    def __init__(self, experiment):\n"
        "        self.experiment = experiment\n"
        "        experiment.register(self)\n"
        "    @property\n"
        "    def my_id(self):\n"
        "        return self.experiment.my_id\n"
    ),
    "idmod.py": (
        "import gumby.modules.experiment_module as base\n"
        "from gumby.experiment import experiment_callback\n"
        "from gumby.modules.experiment_module import ExperimentModule\n"
        "class IdModule(ExperimentModule):\n"
        "    @experiment_callback\n"
        "    def write_peer_id(self):\n"
        "        with open('id.txt', 'w') as f:\n"
        "            f.write(f'{self.my_id} {base.__file__}')\n"
    ),
    "ids.scenario": "&module idmod.IdModule\n@0:0.5 write_peer_id\n@0:1 stop\n",
    "ids.conf": "experiment_name = ids\ninstances_to_run = 2\nscenario_file = ids.scenario\n",
}


def test_a_real_gumby_on_the_path_is_the_one_modules_get(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    for name, text in STAND_IN.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    gscen = [sys.executable, "-m", "scenario_lang.cli"]
    check = subprocess.run(
        [*gscen, "check", "--no-cache", str(folder / "ids.scenario")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    out = tmp_path / "out"
    run = subprocess.run(
        [*gscen, "run", str(folder / "ids.conf"), "--output", str(out), "--no-plots"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    for peer in (1, 2):
        written = (out / str(peer) / "id.txt").read_text().split()
        assert written == [str(peer), str(folder / "gumby" / "modules" / "experiment_module.py")]
    assert json.loads((out / "summary.json").read_text())["status"] == "ok"
