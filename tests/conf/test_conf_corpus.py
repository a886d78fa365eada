"""Every Gumby experiment file of the corpus loads; the known-bad ones give the expected errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import CORPUS

from scenario_lang.conf import find_experiment_config, load_experiment_config
from scenario_lang.diagnostics import Severity


@pytest.fixture(autouse=True)
def _needs_the_corpus(corpus: Path) -> None:
    """Skipped without the corpus, failed under CI=true (see conftest.py)."""


def manifest() -> list[tuple[str, str]]:
    path = CORPUS / "MANIFEST.tsv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["file"], row["kind"]) for row in csv.DictReader(handle, delimiter="\t")]


GUMBY = [path for path, kind in manifest() if kind == "gumby-configobj"]
OTHER_CONF = [path for path, kind in manifest() if kind not in ("gumby-configobj", "scenario")]

# Errors the corpus really has, with the reason:
EXPECTED_ERRORS: dict[str, list[tuple[str, int]]] = {
    # README: the two deliberate negative cases; ConfigObj rejects them with "Duplicate keyword name".
    "experiments/tribler_idle_run/experiment.conf.v2": [("SC603", 8)],
    "experiments/tribler_idle_run/iter_revisions.conf.v1": [("SC603", 17), ("SC603", 19), ("SC603", 23)],
    # scenario_file names a scenario that never existed in Gumby's history (the corpus holds every
    # scenario path of every commit; these three are not among them), so the run cannot start.
    "experiments/burrow/burrow_experiment.conf": [("SC605", 26)],
    "experiments/burrow/burrow_surfnet_experiment.conf": [("SC605", 26)],
    "experiments/market/market_experiment.conf": [("SC605", 26)],
}


def test_corpus_lists_the_gumby_experiment_files() -> None:
    assert len(GUMBY) == 140
    assert set(EXPECTED_ERRORS) <= set(GUMBY)


@pytest.mark.parametrize("name", GUMBY)
def test_corpus_experiment_file_loads_without_unexpected_errors(name: str) -> None:
    result = load_experiment_config(CORPUS / name, {})
    assert result.config is not None
    errors = [(d.code, d.span.line) for d in result.diagnostics if d.severity is Severity.ERROR]
    assert errors == EXPECTED_ERRORS.get(name, [])


def test_duplicate_key_points_at_the_key_column() -> None:
    result = load_experiment_config(CORPUS / "experiments/tribler_idle_run/experiment.conf.v2", {})
    [d] = result.diagnostics
    assert (d.code, d.span.line, d.span.column, d.span.end_column) == ("SC603", 8, 1, 16)


def test_corpus_warnings_are_few() -> None:
    warned = {
        name
        for name in GUMBY
        if any(d.severity is Severity.WARNING for d in load_experiment_config(CORPUS / name, {}).diagnostics)
    }
    # only the pre-2021 remote-run files (head_nodes) are warned about
    assert len(warned) <= 11


@pytest.mark.parametrize("name", OTHER_CONF)
def test_other_conf_kinds_load_without_crashing(name: str) -> None:
    result = load_experiment_config(CORPUS / name, {})
    assert result.config is not None


def test_tutorial_config_is_typed() -> None:
    result = load_experiment_config(CORPUS / "docs/tutorials/synchronized_instances.conf", {})
    config = result.config
    assert config is not None and not result.diagnostics
    assert config.instances_to_run == 5
    assert config.experiment_time == 20.0
    assert config.sync_host == "localhost"
    assert config.sync_port is not None and config.ports == {"sync_port": config.sync_port}
    assert config.scenario_path == CORPUS / "docs/tutorials/write_ids.scenario"
    command = config.environment({}, {"OUTPUT_DIR": "/out"})["LOCAL_INSTANCE_CMD"]
    assert command == "process_guard.py -c launch_scenario.py -n 5 -t 20 -m /out -o /out "


def test_conf_beside_a_corpus_scenario_is_found() -> None:
    scenario = CORPUS / "docs/tutorials/write_ids.scenario"
    assert find_experiment_config(scenario) == CORPUS / "docs/tutorials/synchronized_instances.conf"
