"""The VS Code TextMate grammar agrees with gscen's parser: on the shortest line of every shape in the
Gumby corpus (and a few tricky ones), what the parser reads as a time, callback, loop variable, named
argument key, variable, peer spec, directive or comment gets the matching scope, tokenized by the
engine VS Code uses (vscode-textmate, from editors/vscode/node_modules)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from editor_harness import EDITORS, SCENARIO_SOURCE

from scenario_lang.nodes import (
    Comment,
    Event,
    IncludeDirective,
    ModuleDirective,
    Node,
    Span,
    VarRef,
    iter_children,
)
from scenario_lang.parse import parse_line

NODE = shutil.which("node")
VSCODE = EDITORS / "vscode"
TOKENIZER = Path(__file__).with_name("tmgrammar_scopes.js")

pytestmark = pytest.mark.skipif(
    NODE is None or not (VSCODE / "node_modules" / "vscode-textmate").is_dir(),
    reason="node or editors/vscode/node_modules is missing (.ci/editors.sh runs npm ci there)",
)

TRICKY_LINES = [
    "@0:2 query $key 5 rate=1e-3 {2-5}",
    "@! for j in $first to ${last} call set v$j 1",
    "@1:02:03.5 query 'it''s $x' \"a \\\"q\\\" $y\" plain\\ space {!3}",
    "@0:1 query {not} {1}",
    "@0:1 query a#b x=${y}z 'k=v' \"n=$x\"",
    "  @0:5 indented_call",
    "&include common.scenario",
]


@dataclass(frozen=True)
class Expectation:
    """Characters [start, end) of `line` (0-based, UTF-16) must carry `scope`."""

    line: int
    start: int
    end: int
    scope: str
    what: str


def utf16(text: str, column: int) -> int:
    """The UTF-16 offset of 1-based code point `column` in `text`."""
    return len(text[: column - 1].encode("utf-16-le")) // 2


def walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(iter_children(current))


def expectations_for(index: int, text: str) -> Iterator[Expectation]:
    statement, _ = parse_line(text, "<corpus>", 1)

    def on(span: Span, scope: str, what: str) -> Expectation:
        return Expectation(index, utf16(text, span.column), utf16(text, span.end_column), scope, what)

    if isinstance(statement, Comment):
        yield on(statement.span, "comment.line.number-sign.scenario", "comment")
    elif isinstance(statement, ModuleDirective):
        yield Expectation(
            index,
            text.index("&"),
            text.index("&") + 7,
            "keyword.control.directive.module.scenario",
            "&module",
        )
        yield on(statement.target_span, "entity.name.type.module.scenario", "module path")
    elif isinstance(statement, IncludeDirective):
        yield Expectation(
            index,
            text.index("&"),
            text.index("&") + 8,
            "keyword.control.directive.include.scenario",
            "&include",
        )
        yield on(statement.target_span, "string.unquoted.path.scenario", "included file")
    elif isinstance(statement, Event):
        time_scope = (
            "keyword.operator.immediate.scenario"
            if statement.time.immediate
            else "constant.numeric.time.scenario"
        )
        yield on(statement.time.span, time_scope, "time")
        yield on(statement.callback.span, "entity.name.function.callback.scenario", "callback")
        if statement.loop is not None:
            yield on(statement.loop.var.span, "variable.other.loop.scenario", "loop variable")
        for argument in statement.args:
            if argument.key_span is not None:
                yield on(argument.key_span, "variable.parameter.named.scenario", "named argument key")
        if statement.peers is not None:
            yield on(statement.peers.span, "meta.peerspec.scenario", "peer spec")
        for node in walk(statement):
            if isinstance(node, VarRef) and "\\$" not in text:
                yield on(node.span, "variable.other.scenario", "variable")


def line_shape(text: str) -> str:
    """`text` with numbers folded, and runs of numbers (`1,2,3`, `0:10`) folded into one."""
    return re.sub(r"(?:9[,.:;\- ]?){2,}", "9…", re.sub(r"[0-9]+", "9", text))


def representative_lines(corpus: Path) -> list[str]:
    """The shortest line of each shape across the corpus, in a stable order."""
    by_shape: dict[str, str] = {}
    for path in sorted(corpus.rglob("*.scenario")):
        for text in path.read_text(encoding="utf-8", errors="replace").splitlines():
            shape = line_shape(text)
            if shape not in by_shape or len(text) < len(by_shape[shape]):
                by_shape[shape] = text
    return sorted(by_shape.values())


def tokenize(lines: list[str]) -> list[list[tuple[int, int, list[str]]]]:
    assert NODE is not None
    completed = subprocess.run(
        [NODE, str(TOKENIZER), str(VSCODE)],
        input=json.dumps(lines),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    tokens: list[list[tuple[int, int, list[str]]]] = json.loads(completed.stdout)
    return tokens


def disagreements(lines: list[str]) -> list[str]:
    tokens = tokenize(lines)
    problems = []
    for index, text in enumerate(lines):
        scopes_at: list[set[str]] = [set() for _ in range(len(text.encode("utf-16-le")) // 2)]
        for start, end, scopes in tokens[index]:
            for offset in range(start, end):
                scopes_at[offset].update(scopes)
        for expected in expectations_for(index, text):
            missing = [o for o in range(expected.start, expected.end) if expected.scope not in scopes_at[o]]
            if missing:
                problems.append(f"{text!r}: {expected.what} at {expected.start}: no {expected.scope}")
    return problems


def test_grammar_scopes_match_the_parser_on_every_corpus_line_shape(corpus: Path) -> None:
    lines = representative_lines(corpus)
    assert len(lines) > 500
    problems = disagreements(lines)
    assert problems == [], f"{len(problems)} disagreements, first ones:\n" + "\n".join(problems[:15])


def test_grammar_scopes_match_the_parser_on_tricky_lines() -> None:
    lines = [*TRICKY_LINES, *SCENARIO_SOURCE.splitlines()]
    assert disagreements(lines) == []
