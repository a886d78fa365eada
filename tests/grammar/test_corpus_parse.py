"""The real corpus: fast path and Lark agree on every line; no SC1xx error but the pinned typos."""

from __future__ import annotations

from pathlib import Path

from scenario_lang.parse import fast_path_matches, parse_lines, parse_with_lark_only, read_source

# Lines of the corpus that really are mistakes, each with the reason (pinned as expected errors).
PINNED = {
    # Gumby's own for-loop test file shows loops its own parser rejects: `{$}`, and `for` without
    # `in`, `to` or a bound.
    ("experiments/test_scenarios/for_loop/for_loop_edge_cases.scenario", 21, "SC107"),
    ("experiments/test_scenarios/for_loop/for_loop_edge_cases.scenario", 24, "SC106"),
    ("experiments/test_scenarios/for_loop/for_loop_edge_cases.scenario", 25, "SC106"),
    ("experiments/test_scenarios/for_loop/for_loop_edge_cases.scenario", 26, "SC106"),
    ("experiments/test_scenarios/for_loop/for_loop_edge_cases.scenario", 27, "SC106"),
    # `@0 210 commit_block_times`: a typo for `@0:210` (Gumby reads `210` as the callback's name).
    ("experiments/trustchain/noodles_direct_payments.scenario.v1", 16, "SC101"),
    ("experiments/trustchain/noodles_multi_hop_payments.scenario.v1", 17, "SC101"),
}


def scenario_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*.scenario*") if p.is_file())


def test_corpus_has_no_syntax_errors_but_the_pinned_typos(corpus: Path) -> None:
    found = set()
    for path in scenario_files(corpus):
        source, diags = read_source(str(path))
        assert source is not None, diags
        _, diags = parse_lines(source.lines, str(path))
        rel = str(path.relative_to(corpus))
        found |= {
            (rel, d.span.line, d.code)
            for d in diags
            if d.code.startswith("SC1") and d.severity.value == "error"
        }
    assert found == PINNED


def test_fast_path_and_lark_agree_on_corpus_lines(corpus: Path) -> None:
    """Every line of the small files, every 50th line of files over 2,000 lines."""
    checked = 0
    for path in scenario_files(corpus):
        source, _ = read_source(str(path))
        assert source is not None
        step = 50 if len(source.lines) > 2000 else 1
        for number in range(1, len(source.lines) + 1, step):
            line = source.lines[number - 1]
            if fast_path_matches(line):
                fast, _ = parse_lines([line], str(path))
                lark, _ = parse_with_lark_only(line, str(path), 1)
                assert fast.statements[0] == lark, f"{path}:{number}"
                checked += 1
    assert checked > 5_000
