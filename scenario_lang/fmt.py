"""Formatting: a parsed scenario -> its canonical text.

One statement per line, lines kept 1:1 (so every event keeps its line number and the plan stays
equal): no indentation, single spaces between fields, `@` on every time and no leading zeros in its
fields, peer specs without spaces (`{!1,3-6}`), `&module`/`&include` with one space, comments and
blank lines kept (trailing white space removed), `\\n` line ends and a final newline. Arguments are
kept exactly as written, quotes included. Formatting is idempotent.
"""

from __future__ import annotations

from .diagnostics import Diagnostic, Severity
from .nodes import (
    Argument,
    Blank,
    Bound,
    Comment,
    Event,
    IncludeDirective,
    ModuleDirective,
    PeerSpec,
    Statement,
    TimeSpec,
    VarRef,
)
from .parse import parse, split_lines


class FormatError(Exception):
    """The text has syntax errors; it is not formatted."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("the file has syntax errors")
        self.diagnostics = diagnostics


def _field(text: str) -> str:
    sign = "-" if text.startswith("-") else ""
    body = text.lstrip("-")
    whole, dot, frac = body.partition(".")
    if "e" in whole.lower():
        return text
    whole = whole.lstrip("0") or "0"
    return sign + whole + dot + frac


def format_time(t: TimeSpec) -> str:
    if t.seconds is None:
        return "@!"
    return "@" + ":".join(_field(f) for f in t.fields)


def _bound(b: Bound) -> str:
    return f"${b.name}" if isinstance(b, VarRef) else str(b)


def format_peers(p: PeerSpec) -> str:
    items = ",".join(_bound(i.low) + (f"-{_bound(i.high)}" if i.high is not None else "") for i in p.items)
    return "{" + ("!" if p.negated else "") + items + "}"


def format_statement(stmt: Statement) -> str:
    if isinstance(stmt, Event):
        parts = [format_time(stmt.time)]
        if stmt.loop is not None:
            lp = stmt.loop
            parts.append(f"for {lp.var.value} in {_bound(lp.start)} to {_bound(lp.stop)} call")
        parts.append(stmt.callback.value)
        parts.extend(_arg_text(a) for a in stmt.args)
        if stmt.peers is not None:
            parts.append(format_peers(stmt.peers))
        return " ".join(parts)
    if isinstance(stmt, ModuleDirective):
        return f"&module {stmt.target}"
    if isinstance(stmt, IncludeDirective):
        return f"&include {stmt.target}"
    if isinstance(stmt, Comment):
        return stmt.text.rstrip()
    assert isinstance(stmt, Blank)
    return ""


def _arg_text(arg: Argument) -> str:
    if arg.key is None:
        return arg.value.raw
    if (
        arg.value.raw.startswith(("'", '"'))
        and arg.key_span is not None
        and arg.key_span.column > arg.span.column
    ):
        # written quoted as a whole: 'key=value'
        q = arg.value.raw[0]
        return f"{q}{arg.key}={arg.value.raw[1:]}"
    return f"{arg.key}={arg.value.raw}"


def format_text(text: str, path: str = "<input>") -> str:
    """The canonical form of a scenario text; raises FormatError when it has syntax errors."""
    tree, diagnostics = parse(text, path)
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise FormatError(errors)
    lines = list(split_lines(text))
    by_line = {stmt.span.line: stmt for stmt in tree.statements}
    out = []
    for number, original in enumerate(lines, 1):
        stmt = by_line.get(number)
        out.append(format_statement(stmt) if stmt is not None else original.rstrip())
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""
