"""The grammar and the parser: strict LALR build, spans, error codes, fast path = Lark path."""

from __future__ import annotations

from importlib.resources import files

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Lark
from scenario_strategies import event_lines, scenario_lines

from scenario_lang.nodes import Event, ModuleDirective, PeerSpec, Span, VarRef
from scenario_lang.parse import fast_path_matches, parse, parse_line, parse_with_lark_only


def test_grammar_builds_in_strict_mode_without_conflicts_or_collisions() -> None:
    text = files("scenario_lang.grammar").joinpath("scenario.lark").read_text(encoding="utf-8")
    Lark(text, start="line", parser="lalr", strict=True)


def test_event_nodes_carry_one_based_end_exclusive_spans() -> None:
    stmt, diags = parse_line("@0:10 start_queries $key n=5 {2-5}", "f.scenario", 7)
    assert not diags and isinstance(stmt, Event)
    assert stmt.time.span == Span("f.scenario", 7, 1, 7, 6)
    assert stmt.callback.span == Span("f.scenario", 7, 7, 7, 20)
    key, named = stmt.args
    assert isinstance(key.value.parts[0], VarRef) and key.value.parts[0].span == Span(
        "f.scenario", 7, 21, 7, 25
    )
    assert named.key == "n" and named.key_span == Span("f.scenario", 7, 26, 7, 27)
    assert named.value.span == Span("f.scenario", 7, 28, 7, 29)
    assert isinstance(stmt.peers, PeerSpec) and stmt.peers.span == Span("f.scenario", 7, 30, 7, 35)


def test_time_forms_give_seconds_and_immediate() -> None:
    cases = {"@0:120": 120.0, "@1:2:3.5": 3723.5, "@0.0": 0.0, "5": 5.0, "@0:10.43": 10.43}
    for text, seconds in cases.items():
        stmt, diags = parse_line(f"{text} echo", "f", 1)
        assert not diags and isinstance(stmt, Event) and stmt.time.seconds == pytest.approx(seconds)
    stmt, _ = parse_line("@! echo", "f", 1)
    assert isinstance(stmt, Event) and stmt.time.immediate


def test_only_the_brace_group_ending_the_line_is_a_peer_spec() -> None:
    stmt, diags = parse_line('@0 foo {"a": 1} x {1, 3-4}', "f", 1)
    assert not diags and isinstance(stmt, Event) and stmt.peers is not None
    assert [a.value.raw for a in stmt.args] == ['{"a":', "1}", "x"]
    assert [(i.low, i.high) for i in stmt.peers.items] == [(1, None), (3, 4)]
    glued, _ = parse_line("@0:1 foo{4}", "f", 1)
    assert isinstance(glued, Event) and glued.callback.value == "foo" and glued.peers is not None


def test_quotes_escapes_and_variables_inside_words() -> None:
    stmt, diags = parse_line("@0 f 'a b' \"c $x d\" 10$key x\\$y 'k=v' ${n}s", "f", 1)
    assert not diags and isinstance(stmt, Event)
    values = [a.value.parts for a in stmt.args]
    assert values[0] == ("a b",)
    assert values[1][0] == "c " and isinstance(values[1][1], VarRef) and values[1][2] == " d"
    assert values[2][0] == "10" and isinstance(values[2][1], VarRef) and values[2][1].name == "key"
    assert values[3] == ("x$y",)
    assert stmt.args[4].key == "k" and stmt.args[4].value.literal == "v"
    assert isinstance(values[5][0], VarRef) and values[5][0].name == "n" and values[5][1] == "s"


def test_crlf_tabs_trailing_space_and_missing_final_newline_are_accepted() -> None:
    tree, diags = parse("@0:1 a\r\n@0:2 b   \r\n\r\n@0:3\tc\r\n@0:4 d", "f")
    assert [d.code for d in diags] == ["SC110"]  # the tab after a time is only a warning
    assert [s.span.line for s in tree.statements] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("@0 210 commit_block_times", "SC101"),
        ("@0 foo 'open", "SC102"),
        ("&modul x", "SC103"),
        ("&module", "SC104"),
        ("@0 for i 1 to 2 call x", "SC106"),
        ("@0 x {1-}", "SC107"),
        ("@!x foo", "SC108"),
        ("@0:1\tfoo", "SC110"),
        ("  &module a.B", "SC111"),
        ("#module a.B", "SC112"),
    ],
)
def test_syntax_problems_get_their_code(line: str, code: str) -> None:
    _, diags = parse_line(line, "f", 1)
    assert [d.code for d in diags] == [code]


def test_one_bad_line_never_hides_another() -> None:
    _, diags = parse("@0 210 x\n@0:1 ok\n@0 'open\n&bad\n", "f")
    assert [(d.span.line, d.code) for d in diags] == [(1, "SC101"), (3, "SC102"), (4, "SC103")]


def test_module_directive_target_and_span() -> None:
    stmt, _ = parse_line("&module experiments.dht.dht_module.DHTModule", "f", 2)
    assert isinstance(stmt, ModuleDirective) and stmt.target.endswith("DHTModule")
    assert stmt.target_span == Span("f", 2, 9, 2, 45)


@settings(max_examples=300, deadline=None)
@given(event_lines())
def test_fast_path_and_lark_give_the_same_ast(line: str) -> None:
    if fast_path_matches(line):
        assert parse_line(line, "f", 3) == parse_with_lark_only(line, "f", 3)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_raises_out_of_the_parser(text: str) -> None:
    parse(text, "f")


@settings(max_examples=80, deadline=None)
@given(st.lists(scenario_lines(), max_size=8))
def test_generated_lines_parse_to_one_statement_or_diagnostics_each(lines: list[str]) -> None:
    tree, diags = parse("\n".join(lines) + "\n", "f")
    lines_with_errors = {d.span.line for d in diags if d.severity.value == "error"}
    assert len(tree.statements) + len(lines_with_errors) >= len(lines)
