"""The real corpus through the whole front end, and arbitrary text through check: never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenario_strategies import scenario_texts

from scenario_lang.diagnostics import Diagnostic
from scenario_lang.plan import compile_plan
from scenario_lang.project import CheckOptions, analyze


def last_versions(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*.scenario") if p.stat().st_size < 1_000_000)


def test_every_corpus_scenario_checks_without_crashing(corpus: Path) -> None:
    files = last_versions(corpus)
    assert len(files) > 100
    for path in files:
        analysis = analyze(str(path), CheckOptions(environment={}))
        assert all(isinstance(d, Diagnostic) for d in analysis.diagnostics)
        compile_plan(analysis.program, allow_errors=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(scenario_texts, st.text(max_size=200)))
def test_arbitrary_text_never_raises_out_of_check(tmp_path: Path, text: str) -> None:
    path = tmp_path / "any.scenario"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if "\ud800" not in text else None
    if not path.exists():
        pytest.skip("unencodable text")
    analyze(str(path), CheckOptions(instances=5, environment={}))
