"""A full disk during a run, on a real small tmpfs: one clear line per failed write, no traceback, no
partial or temporary file, the data written before kept, supervision going on, no process left.

Mounting needs root (CI runs as root); elsewhere these tests skip, saying why.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import pytest
from scenario_lang.runtime.guard import GuardConfig, StopReason, run_guard
from scenario_lang.runtime.output_files import write_atomically, write_failure
from scenario_lang.runtime.resource_log import read_resource_log

from scenario_lang.plan import write_plan_file
from scenario_lang.project import CheckOptions, analyze_and_plan


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (skips the test when mounting is not permitted)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> None:
    """Use up every free block of the file system `folder` is on."""
    with open(folder / "filler.bin", "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with open(folder / "filler-tail.bin", "wb", buffering=0) as f:  # the last partial chunk
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass


def is_running(process: psutil.Process) -> bool:
    """Alive and not a zombie (PID 1 here may not reap orphans at once)."""
    try:
        return process.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False


def no_temporary_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name or p.name.startswith(".latest-")]


# --------------------------------------------------------------------------------------------- the helper
def test_atomic_write_on_a_full_disk_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "256k") as disk:
        target = disk / "result.json"
        write_atomically(target, '{"old": true}\n')
        fill(disk)
        with pytest.raises(OSError) as raised:
            write_atomically(target, "x" * 300_000)
        assert raised.value.errno == errno.ENOSPC
        assert raised.value.filename == str(target)
        assert target.read_text() == '{"old": true}\n'
        assert no_temporary_files(disk) == []
        assert str(write_failure(target, raised.value)) == f"cannot write {target}: no space left on device"
        assert write_failure(target, raised.value).disk_full


def test_plan_file_on_a_full_disk_is_an_error_naming_it_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    lines = [f"@0:{i % 60}.{i // 60} echo event number {i} {{1-4}}" for i in range(3000)]
    (tmp_path / "big.scenario").write_text("\n".join(lines) + "\n")
    _, plan = analyze_and_plan(str(tmp_path / "big.scenario"), CheckOptions(instances=4))
    assert plan is not None and len(plan.events) == 3000
    with small_disk(tmp_path / "disk", "64k") as disk:
        target = disk / "plan.gscenplan"
        with pytest.raises(OSError) as raised:
            write_plan_file(plan, target)
        assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
        assert list(disk.iterdir()) == []


# --------------------------------------------------------------------------------------------- the guard
async def test_guard_keeps_supervising_when_its_resource_log_fills_the_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_disk(tmp_path / "disk", "256k") as disk:
        config = GuardConfig(
            commands=("sleep 60",) * 4,
            timeout=2.5,
            interval=0.05,
            grace=0.5,
            output_dir=disk,
            resource_dir=disk,
        )
        filler = asyncio.create_task(asyncio.sleep(0.3))
        with caplog.at_level(logging.WARNING, logger="scenario_lang.runtime.guard"):
            guarded = asyncio.create_task(run_guard(config))
            await filler
            await asyncio.to_thread(fill, disk)
            result = await asyncio.wait_for(guarded, 20)
        log_path = disk / "resource_usage.log"
        # The log stopped, with one warning naming it; the timeout still stopped every process.
        assert result.log_failure is not None and result.log_failure.disk_full
        assert result.log_failure.path == str(log_path)
        warnings = [r.getMessage() for r in caplog.records if "resource_usage.log" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].startswith(
            f"cannot write {log_path}: no space left on device"
        )
        assert result.reason is StopReason.TIMEOUT and result.error is None
        assert all(p.stopped_by_guard and p.returncode is not None for p in result.processes)
        assert not any(psutil.pid_exists(p.pid) for p in result.processes)
        # The rounds written before are kept whole.
        data = log_path.read_bytes()
        assert data.endswith(b"\n")
        assert json.loads(data.splitlines()[0])["pagesize"] > 0
        assert read_resource_log(log_path).processes


# --------------------------------------------------------------------------------------------- gscen run
MODULE = """\
from scenario_lang import ExperimentModule, experiment_callback


class Mod(ExperimentModule):
    @experiment_callback
    def hello(self, name: str) -> None:
        with open(self.output_dir / "hello.txt", "a", encoding="utf-8") as f:
            f.write(name + "\\n")

    @experiment_callback
    def fill(self) -> None:
        with open(self.output_dir / "big.bin", "ab") as f:
            f.write(b"x" * (8 * 2**20))
"""

SCENARIO = """\
&module mod.Mod
@0:0 annotate start
@0:0 hello world
@0:1 fill {1}
@0:2 hello again
@0:9 stop
"""


def test_full_disk_during_run_fails_cleanly_keeping_what_was_written(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "mod.py").write_text(MODULE, encoding="utf-8")
    (folder / "exp.scenario").write_text(SCENARIO, encoding="utf-8")
    conf = folder / "exp.conf"
    conf.write_text(
        "experiment_name = full\ninstances_to_run = 3\nscenario_file = exp.scenario\nexperiment_time = 30\n",
        encoding="utf-8",
    )
    with small_disk(tmp_path / "disk", "1m") as disk:
        out = disk / "run"
        # The command's output goes to files on the test's own disk (pipes could fill while we poll).
        out_file, err_file = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        with open(out_file, "wb") as stdout_f, open(err_file, "wb") as stderr_f:
            proc = subprocess.Popen(
                [sys.executable, "-m", "scenario_lang.cli", "run", str(conf), "--output", str(out)],
                stdout=stdout_f,
                stderr=stderr_f,
            )
        seen: dict[int, psutil.Process] = {}
        try:
            parent = psutil.Process(proc.pid)
            deadline = time.monotonic() + 90
            while proc.poll() is None and time.monotonic() < deadline:
                with suppress(psutil.NoSuchProcess):
                    seen.update((p.pid, p) for p in parent.children(recursive=True))
                time.sleep(0.1)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stdout, stderr = out_file.read_text(), err_file.read_text()
        alive = [p for p in seen.values() if is_running(p)]
        assert not alive, f"still running: {alive}"
        assert len(seen) >= 3  # the peers were seen

        # Exit 1, the cause named once in the final message, the table still shown.
        assert proc.returncode == 1, stderr
        assert stderr.count("the output folder's disk is full") == 1, stderr
        final = [line for line in stderr.splitlines() if line.startswith("run failed")]
        assert final and "the output folder's disk is full: cannot write" in final[0], stderr
        assert "no space left on device" in final[0]
        assert "peers of full" in stdout and all(f"│    {i} │" in stdout for i in (1, 2, 3)), stdout
        # The guard said once that its log stopped, and went on.
        log_path = out / "resource_usage.log"
        assert stderr.count(f"cannot write {log_path}: no space left on device") == 1, stderr

        # No traceback anywhere, and each peer that could not write its result said so in one line.
        assert "Traceback" not in stdout + stderr
        texts = {p: p.read_text(errors="replace") for p in out.rglob("*.err")}
        assert len([p for p in texts if p.parent == out]) == 3
        for path, text in texts.items():
            assert "Traceback" not in text, f"{path}:\n{text}"
        for i in (1, 2, 3):
            result_line = f"cannot write {out / str(i) / 'result.json'}: no space left on device"
            assert any(result_line in text for text in texts.values()), texts

        # No temporary or partial file; what was written before is kept.
        assert no_temporary_files(out) == []
        assert not (out / "summary.json").exists() and not (out / "annotations.csv").exists()
        for i in (1, 2, 3):
            peer = out / str(i)
            assert (peer / "hello.txt").read_text().splitlines() == ["world", "again"]
            assert (peer / "annotations.csv").read_text().endswith(",start\n")
            assert (peer / "all_vars.txt").stat().st_size > 0
            rows = (peer / "events.csv").read_text().splitlines()
            assert any(",hello,Mod.hello," in row and ",ok," in row for row in rows), rows
            assert not (peer / "result.json").exists()
        data = log_path.read_bytes()
        assert data.endswith(b"\n") and len(data.splitlines()) > 3
        assert read_resource_log(log_path).processes
