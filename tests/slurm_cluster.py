"""The real SLURM cluster the SLURM tests run on (scripts/slurm-local.sh starts one on this machine).

`require_cluster()` answers once per process: the cluster's `SlurmCluster` (its environment for the
SLURM commands and its nodes) when `sinfo` reaches it with every node usable; otherwise the test is
skipped with the reason, or, under CI (CI=true), fails: CI starts the cluster, so an unreachable one
there is a broken set-up, not a reason to skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

DEFAULT_CONF = Path(os.environ.get("GSCEN_SLURM_DIR", "/tmp/gscen-slurm")) / "slurm.conf"
USABLE = ("idle", "mixed", "allocated", "completing")


@dataclass(frozen=True)
class SlurmCluster:
    env: dict[str, str]
    nodes: tuple[str, ...]

    def active_jobs(self, name: str | None = None) -> list[str]:
        """Job ids squeue lists as active (pending, running, completing...), of one name if given."""
        argv = ["squeue", "-h", "-o", "%i"] + (["-n", name] if name else [])
        out = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.split()


def _find() -> SlurmCluster | str:
    if shutil.which("sinfo") is None:
        return "no SLURM here (sinfo not on PATH): run `scripts/slurm-local.sh start` (as root)"
    env = dict(os.environ)
    if "SLURM_CONF" not in env and DEFAULT_CONF.is_file():
        env["SLURM_CONF"] = str(DEFAULT_CONF)
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %T"], env=env, capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 15 s"
    if out.returncode != 0:
        return f"no SLURM cluster reachable ({out.stderr.strip()}): run `scripts/slurm-local.sh start`"
    nodes = tuple(
        sorted(
            {
                line.split()[0]
                for line in out.stdout.splitlines()
                if line.split()[1:2] and line.split()[1].rstrip("*~#") in USABLE
            }
        )
    )
    if len(nodes) < 2:
        return f"the SLURM cluster has {len(nodes)} usable nodes, the tests need at least 2: {out.stdout!r}"
    return SlurmCluster(env, nodes)


@cache
def _cached() -> SlurmCluster | str:
    return _find()


def require_cluster() -> SlurmCluster:
    found = _cached()
    if isinstance(found, str):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true and the SLURM cluster is not reachable: {found}", pytrace=False)
        pytest.skip(found)
    return found
