"""Shared test configuration: the corpus location (and whether its absence fails), the golden-file
update flag."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Test helper modules (scenario_strategies) live beside this file; --import-mode=importlib does not
# put this folder on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Python processes the tests start from the checkout must import the installed package, not the
# checkout's scenario_lang/ folder (which lacks the mapped runtime/ and lsp/): no cwd on sys.path.
os.environ.setdefault("PYTHONSAFEPATH", "1")

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("GSCEN_CORPUS", REPO.parent / "shared" / "corpus" / "gumby"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slurm: needs the real SLURM cluster (scripts/slurm-local.sh start); skipped without one, "
        "failing instead under CI=true",
    )


@pytest.fixture
def slurm_cluster() -> object:
    """The real SLURM cluster (tests/slurm_cluster.py): skip without one, fail under CI=true."""
    from slurm_cluster import require_cluster

    return require_cluster()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files (rendered diagnostics, plans, fmt output) instead of comparing",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The Gumby corpus. Without it the corpus tests are skipped, except under CI=true, where they
    fail: there a missing corpus means the checkout is incomplete, and skipping would hide it."""
    if not CORPUS.is_dir():
        reason = f"the Gumby corpus is not at {CORPUS} (set GSCEN_CORPUS)"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
        pytest.skip(reason)
    return CORPUS


@pytest.fixture
def tutorials() -> Path:
    """Gumby's tutorial files in the corpus, read in place (never copied); missing fails under CI=true."""
    folder = CORPUS / "docs" / "tutorials"
    if not (folder / "ping_pong_module.py").is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Gumby's tutorials are not at {folder} (set GSCEN_CORPUS)")
        pytest.skip(f"Gumby's tutorials are not at {folder} (set GSCEN_CORPUS)")
    return folder


@pytest.fixture
def ping_pong() -> Iterator[Any]:
    """The ping-pong example's module (examples/simple_ipv8/ping_pong.py), imported with Gumby's names."""
    from scenario_lang.runtime.gumby_api import install

    install()
    example = str(REPO / "examples" / "simple_ipv8")
    sys.path.insert(0, example)
    try:
        import ping_pong

        yield ping_pong
    finally:
        sys.path.remove(example)


@pytest.fixture(autouse=True)
def _restore_package_logger() -> object:
    """Commands run in-process (CliRunner) install their terminal log handler on the `scenario_lang`
    logger and stop propagation, as an entry point should; undo it so later tests' caplog sees logs."""
    import logging

    logger = logging.getLogger("scenario_lang")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]
