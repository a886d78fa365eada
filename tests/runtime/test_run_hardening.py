"""`gscen run` under a demanding user, as real processes: runs started together, hung peers, spaces in
paths, the interpreter on PATH, interrupts before the start, runs too big for the machine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def gscen(*args: str) -> list[str]:
    return [sys.executable, "-m", "scenario_lang.cli", *args]


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def summary(out: Path) -> dict[str, object]:
    data = json.loads((out / "summary.json").read_text())
    assert isinstance(data, dict)
    return data


def test_runs_started_together_each_get_a_fresh_output_folder(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    write(
        folder,
        {
            "exp.conf": "experiment_name = e\nexperiment_server_cmd = ''\n"
            "local_instance_cmd = sh -c 'echo $$ > $OUTPUT_DIR/mine.txt'\n"
        },
    )
    # Start together just after a second begins, so that the runs pick their folders in one second.
    time.sleep(1.05 - time.time() % 1)
    procs = [
        subprocess.Popen(
            gscen("run", str(folder / "exp.conf"), "--no-plots"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    folders = sorted(p for p in (folder / "output").iterdir() if not p.is_symlink())
    assert len(folders) == 4
    assert all((f / "mine.txt").is_file() and summary(f)["status"] == "ok" for f in folders)
