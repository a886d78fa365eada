"""The formatter: canonical output, idempotent, and the formatted file compiles to the same plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from scenario_strategies import scenario_texts

from scenario_lang.diagnostics import Severity
from scenario_lang.fmt import FormatError, format_text
from scenario_lang.parse import parse, read_source
from scenario_lang.plan import Plan, compile_plan
from scenario_lang.resolve import ResolveConfig, resolve


def plan_of(text: str, path: str) -> Plan:
    tree, _ = parse(text, path)
    lines = tuple(text.splitlines())
    program = resolve(tree, lines, ResolveConfig(instances=8, environment={}, module_search=()))
    return compile_plan(program, allow_errors=True)


def test_formatting_normalises_spacing_times_peer_specs_and_keeps_comments() -> None:
    text = "  # note  \n&module   a.b.C\n@00:010  foo 'a b' k=v   { 1, 3-4 ,}\n0:5 bar\t{!2}\n\n"
    assert format_text(text) == "# note\n&module a.b.C\n@0:10 foo 'a b' k=v {1,3-4}\n@0:5 bar {!2}\n"


def test_formatting_refuses_a_file_with_syntax_errors() -> None:
    with pytest.raises(FormatError) as info:
        format_text("@0 210 x\n")
    assert [d.code for d in info.value.diagnostics] == ["SC101"]


@settings(max_examples=150, deadline=None)
@given(scenario_texts)
def test_formatting_is_idempotent_and_keeps_the_plan(text: str) -> None:
    _, diags = parse(text, "g.scenario")
    if any(d.severity is Severity.ERROR for d in diags):
        return
    once = format_text(text, "g.scenario")
    assert format_text(once, "g.scenario") == once
    assert plan_of(once, "g.scenario") == plan_of(text, "g.scenario")


def test_corpus_files_format_idempotently_and_keep_their_plan(corpus: Path) -> None:
    done = 0
    for path in sorted(corpus.rglob("*.scenario")):
        source, _ = read_source(str(path))
        assert source is not None
        if len(source.lines) > 5_000:
            continue  # the largest files are covered by the benchmark
        try:
            once = format_text(source.text, str(path))
        except FormatError:
            continue  # the pinned corpus typos
        assert format_text(once, str(path)) == once, path
        assert plan_of(once, str(path)) == plan_of(source.text, str(path)), path
        done += 1
    assert done > 100
