"""`find_experiment_config`: the `.conf` beside a scenario whose `scenario_file` names it."""

from __future__ import annotations

import shutil
from pathlib import Path

from scenario_lang.conf import find_experiment_config

FINDER = Path(__file__).parent / "data" / "finder"


def test_conf_named_like_the_scenario_wins_over_others_and_broken_ones() -> None:
    # candidates: 0_broken.conf (SC602), a_first.conf, exp.conf; logger.conf is not an experiment file
    assert find_experiment_config(FINDER / "exp.scenario") == FINDER / "exp.conf"


def test_without_a_name_match_the_first_clean_conf_by_name_wins(tmp_path: Path) -> None:
    for name in ("exp.scenario", "a_first.conf", "0_broken.conf", "logger.conf"):
        shutil.copy(FINDER / name, tmp_path / name)
    assert find_experiment_config(tmp_path / "exp.scenario") == tmp_path / "a_first.conf"


def test_a_conf_with_errors_is_still_found_when_it_is_the_only_one(tmp_path: Path) -> None:
    for name in ("exp.scenario", "0_broken.conf"):
        shutil.copy(FINDER / name, tmp_path / name)
    assert find_experiment_config(tmp_path / "exp.scenario") == tmp_path / "0_broken.conf"


def test_scenario_no_conf_names_gives_none() -> None:
    assert find_experiment_config(FINDER / "other.scenario") is None


def test_missing_folder_gives_none(tmp_path: Path) -> None:
    assert find_experiment_config(tmp_path / "nowhere" / "x.scenario") is None
