"""Checking a large file in parallel chunks gives exactly the diagnostics of checking it whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario_lang import project
from scenario_lang.project import CheckOptions, analyze

CASES = Path(__file__).parent / "cases"


@pytest.mark.parametrize(
    "case", ["callbacks", "variables", "peers_time", "clean", "syntax", "faults", "faults_without_ipv8"]
)
def test_chunked_check_equals_whole_check(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(project, "CHUNKED_MIN_LINES", 1)
    path = str(CASES / f"{case}.scenario")
    instances = 10 if case == "faults" else 4
    whole = analyze(path, CheckOptions(instances=instances, environment={}))
    chunked = analyze(path, CheckOptions(instances=instances, environment={}, parallel=True))
    assert chunked.diagnostics == whole.diagnostics
    if case.startswith("faults"):
        assert {"SC511", "SC310"} & {d.code for d in chunked.diagnostics}


def test_chunks_see_variables_and_stops_of_the_other_half(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(project, "CHUNKED_MIN_LINES", 1)
    (tmp_path / "m.py").write_text(
        "from scenario_lang import ExperimentModule, experiment_callback\n"
        "class M(ExperimentModule):\n    @experiment_callback\n    def go(self, n: int) -> None: ...\n",
        encoding="utf-8",
    )
    first = ["&module m.M", "@! set n 5", "@0:5 stop {1}"] + ["@0:1 go $n"] * 20
    second = ["@0:2 go $n", "@0:6 go 1 {1}", "@0:2 go $missing", "@! set n x", "@0:3 go $n"] * 5
    (tmp_path / "s.scenario").write_text("\n".join(first + second) + "\n", encoding="utf-8")
    path = str(tmp_path / "s.scenario")
    whole = analyze(path, CheckOptions(instances=2, environment={}))
    chunked = analyze(path, CheckOptions(instances=2, environment={}, parallel=True))
    assert not chunked.complete
    assert {d.code for d in whole.diagnostics} == {"SC401", "SC306", "SC506"}
    assert chunked.diagnostics == whole.diagnostics


@pytest.mark.parametrize("case", ["clean", "variables"])
def test_plan_compiled_in_chunks_equals_the_whole_plan(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from scenario_lang.project import analyze_and_plan

    path = str(CASES / f"{case}.scenario")
    options = CheckOptions(instances=6, environment={"HOME": "/"})
    _, whole = analyze_and_plan(path, options)
    monkeypatch.setattr(project, "CHUNKED_MIN_LINES", 1)
    analysis, chunked = analyze_and_plan(
        path, CheckOptions(instances=6, environment={"HOME": "/"}, parallel=True)
    )
    if case == "variables":  # has errors: no plan either way
        assert whole is None and chunked is None and not analysis.complete
    else:
        assert whole is not None and chunked == whole


def test_an_unknown_callback_is_reported_once_per_file_also_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.scenario").write_text("@0:1 nope\n@0:2 other\n" * 30, encoding="utf-8")
    path = str(tmp_path / "s.scenario")
    whole = analyze(path, CheckOptions(instances=2, environment={}))
    monkeypatch.setattr(project, "CHUNKED_MIN_LINES", 1)
    chunked = analyze(path, CheckOptions(instances=2, environment={}, parallel=True))
    assert [(d.code, d.span.line) for d in whole.diagnostics] == [("SC301", 1), ("SC301", 2)]
    assert chunked.diagnostics == whole.diagnostics


def test_sc506_is_grouped_per_stop_across_the_chunks_as_in_the_whole_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # both halves cut off events of each stop: the first 20 (all in the first half for the early
    # stop, some in each for the later one) keep their warning, and each stop sums up the rest
    lines = ["@0:1 stop {1}", "@0:40 stop {2}"]
    lines += [f"@0:{2 + i % 60} echo e{i} {{{1 + i % 2}}}" for i in range(400)]
    (tmp_path / "s.scenario").write_text("\n".join(lines) + "\n")
    path = str(tmp_path / "s.scenario")
    whole = analyze(path, CheckOptions(instances=2, environment={}))
    monkeypatch.setattr(project, "CHUNKED_MIN_LINES", 1)
    chunked = analyze(path, CheckOptions(instances=2, environment={}, parallel=True))
    assert not chunked.complete
    summaries = [d.span.line for d in whole.diagnostics if d.code == "SC506" and d.span.column > 1]
    assert summaries == [1, 2]
    assert sum(d.code == "SC506" for d in whole.diagnostics) == 2 + 2 * 20
    assert chunked.diagnostics == whole.diagnostics


def test_many_small_chunks_over_two_workers_give_the_whole_check_and_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More chunks than workers: each worker sends several results, which come back out of order
    # and are joined in file order (variables, stops, unknown callbacks and the plan's order alike).
    from scenario_lang.project import analyze_and_plan

    (tmp_path / "m.py").write_text(
        "from scenario_lang import ExperimentModule, experiment_callback\n"
        "class M(ExperimentModule):\n    @experiment_callback\n    def go(self, n: int) -> None: ...\n",
        encoding="utf-8",
    )
    lines = ["&module m.M", "@! set n 5"]
    lines += [f"@0:{(i * 7) % 50} go {i} {{{1 + i % 3}}}" for i in range(120)]
    lines += ["@0:30 stop {1}", "@! set n 7"]
    lines += [f"@0:{i % 40} go $n" for i in range(60)]
    (tmp_path / "s.scenario").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = str(tmp_path / "s.scenario")
    whole_analysis, whole_plan = analyze_and_plan(path, CheckOptions(instances=3, environment={}))
    monkeypatch.setattr(project, "CHUNKED_MIN_LINES", 1)
    monkeypatch.setattr(project, "CHUNK_LINES", 7)
    analysis, plan = analyze_and_plan(path, CheckOptions(instances=3, environment={}, parallel=True))
    assert not analysis.complete
    assert {d.code for d in whole_analysis.diagnostics} == {"SC506"}
    assert analysis.diagnostics == whole_analysis.diagnostics
    assert whole_plan is not None and plan == whole_plan
