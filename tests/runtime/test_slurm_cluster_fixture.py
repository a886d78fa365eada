"""The `slurm_cluster` fixture skips without a cluster, and fails instead under CI=true."""

from __future__ import annotations

import pytest
import slurm_cluster
from slurm_cluster import DEFAULT_CONF, SlurmCluster


def test_no_cluster_skips_with_the_reason_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(slurm_cluster, "_cached", slurm_cluster._find)
    with pytest.raises(pytest.skip.Exception, match="sinfo not on PATH"):
        slurm_cluster.require_cluster()


def test_no_cluster_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(slurm_cluster, "_cached", slurm_cluster._find)
    with pytest.raises(pytest.fail.Exception, match="CI=true and the SLURM cluster is not reachable"):
        slurm_cluster.require_cluster()


def test_an_unreachable_controller_is_no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=x\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=9\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    found = slurm_cluster._find()
    if isinstance(found, slurm_cluster.SlurmCluster):
        pytest.fail("a controller on port 9 was reported reachable")
    assert "no SLURM cluster reachable" in found or "not on PATH" in found


def test_starting_the_running_cluster_again_is_harmless(slurm_cluster: object) -> None:
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "slurm-local.sh"
    assert isinstance(slurm_cluster, SlurmCluster)
    conf = slurm_cluster.env.get("SLURM_CONF") or str(DEFAULT_CONF)
    run = Path(conf).parent / "run"
    if not run.is_dir():
        pytest.skip("this cluster was not started by scripts/slurm-local.sh")
    before = {p.name: p.read_text() for p in run.glob("*.pid")}
    started = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    assert {p.name: p.read_text() for p in run.glob("*.pid")} == before  # the same daemons
    status = subprocess.run(["bash", str(script), "status"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "cluster: up" in status.stdout
