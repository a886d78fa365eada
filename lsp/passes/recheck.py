"""Lines resolved and checked apart from the rest of the file (`check_lines`), with the
variables in scope on each replayed first (`set_event`), and an unknown callback's first use found
again (`first_unknown`: SC301 is reported there only). Takes an `EditContext`; returns, per line,
(its entry, the entry to keep, its diagnostics). SC506 is left to `stops.regroup`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from scenario_lang.check import (
    check,
)
from scenario_lang.diagnostics import Diagnostic, sort_unique
from scenario_lang.nodes import (
    Argument,
    Event,
    Name,
    ScenarioFile,
    Span,
    Statement,
    TimeSpec,
    Word,
)
from scenario_lang.resolve import Call, VariableDef, resolve

from ..analysis import FullCheckNeeded
from ..lines import LineEntry, callback_of, parse_entry, timing_of
from .context import EditContext


def set_event(var: VariableDef, span: Span) -> Event:
    """An `@! set NAME VALUE` event replaying a variable's value literally (for incremental checks)."""
    name = Argument(span, None, None, Word(span, var.name, (var.name,)))
    value = Argument(span, None, None, Word(span, var.value, (var.value,)))
    return Event(span, TimeSpec(span, "@!", (), None), None, Name(span, "set"), (name, value), None)


def check_lines(
    ctx: EditContext, pairs: list[tuple[int, LineEntry, LineEntry]]
) -> list[tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]]:
    """Resolve and check lines apart from the rest of the file, each with the variables in scope
    on it replayed first (lines with the same variables in scope together). SC506 is left to
    `stops.regroup` (it depends on the other events a `stop` cuts off)."""
    path, analysis, scope_lines = ctx.path, ctx.analysis, ctx.scope_lines
    out: list[tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]] = []
    groups: dict[int, list[tuple[int, LineEntry, LineEntry]]] = {}
    for n, old, e in sorted(pairs, key=lambda t: t[0]):
        before = sum(1 for line, _ in scope_lines if line is not None and line < n)
        groups.setdefault(before, []).append((n, old, e))
    for count, group in groups.items():
        replay: list[Statement] = []
        for line, defs in scope_lines[:count]:
            for var in defs:
                span = var.span
                if line is not None and span.path == path:
                    span = Span(path, line, span.column, line, span.end_column)
                replay.append(set_event(var, span))
        stmts = [e.stmt for _, _, e in group if e.stmt is not None]
        tree = ScenarioFile(Span(path, 1, 1, 1, 1), path, (*replay, *stmts))
        mini = resolve(tree, (), analysis.config)
        if any(target is not None for _d, target in mini.includes):
            raise FullCheckNeeded  # an `&include` line that loads a file: its lines come in
        wanted = {id(s) for s in stmts}
        lines = {n for n, _, _ in group}
        calls = tuple(c for c in mini.calls if id(c.event) in wanted)
        per_stmt: dict[int, list[Call]] = {}
        for c in calls:
            per_stmt.setdefault(id(c.event), []).append(c)
        for _n, _old, e in group:
            e.calls = tuple(per_stmt.get(id(e.stmt), ()))
            e.timing = timing_of(e.stmt, e.calls)
        resolved = tuple(d for d in mini.diagnostics if d.span.path == path and d.span.line in lines)
        program = replace(
            analysis.program,
            calls=calls,
            files={path: ScenarioFile(tree.span, path, tuple(stmts))},
            diagnostics=resolved,
        )
        by_line: dict[int, list[Diagnostic]] = {}
        for d in check(program, stops=(), modules=False):
            if d.span.path == path and d.span.line in lines:
                by_line.setdefault(d.span.line, []).append(d)
        for n, old, e in group:
            out.append((old, e, tuple(sort_unique([*e.parse_diags, *by_line.get(n, [])]))))
    return out


def first_unknown(
    ctx: EditContext,
    out: list[tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]],
    unknown: dict[str, LineEntry],
    also: Iterable[str] = (),
) -> list[tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]]:
    """An unknown callback is reported at its first use in the file only: after lines calling
    one changed (or for the names in `also`), find its first use again (the first line that
    makes a call of it: a loop whose bounds are in error makes none), check that line, and
    keep SC301 there alone (in `out` and in what this returns: the lines checked for it).
    Updates `unknown`."""
    path, snapshot, analysis, index = ctx.path, ctx.snapshot, ctx.analysis, ctx.index
    known = analysis.program.callbacks.by_name
    checked = {id(old) for old, _e, _d in out} | {id(e) for _old, e, _d in out}
    names: set[str] = set(also)
    for _old, e, _d in out:
        name = callback_of(e.stmt)
        if name is not None and name not in known:
            names.add(name)
    for name, entry in unknown.items():
        if index.get(id(entry)) is None or id(entry) in checked:
            names.add(name)
    if not names:
        return []
    kept = {id(old): e for old, e, _d in out}
    first: dict[str, tuple[int, LineEntry]] = {}
    # one quick pass for the lines that may call one of them (a changed line keeps its callback)
    hits = [
        n for n, e in enumerate(snapshot, 1) if type(stmt := e.stmt) is Event and stmt.callback.value in names
    ]
    for n in hits:
        e = kept.get(id(snapshot[n - 1]), snapshot[n - 1])
        name = callback_of(e.stmt)
        if name in names and name not in first and (e.calls is None or e.calls):
            first[name] = (n, e)
            if len(first) == len(names):
                break
    more: list[tuple[int, LineEntry, LineEntry]] = []
    for name in names:
        if name in first:
            n, e = first[name]
            if id(e) not in checked:
                fresh = e if e.parsed_line == n else parse_entry(e.text, path, n)
                more.append((n, e, fresh))
                checked.add(id(e))
        previous = unknown.get(name)
        if previous is not None and id(previous) not in checked:
            n_prev = index.get(id(previous))
            if n_prev is not None:
                fresh = (
                    previous if previous.parsed_line == n_prev else parse_entry(previous.text, path, n_prev)
                )
                more.append((n_prev, previous, fresh))
                checked.add(id(previous))
    extra = check_lines(ctx, more) if more else []
    renewed = {id(old): fresh for _n, old, fresh in more}
    first = {name: (n, renewed.get(id(e), e)) for name, (n, e) in first.items()}
    holders = {id(e) for _n, e in first.values()}
    for name in names:
        if name in first:
            unknown[name] = first[name][1]
        else:
            unknown.pop(name, None)

    def keep(e: LineEntry, diags: tuple[Diagnostic, ...]) -> tuple[Diagnostic, ...]:
        name = callback_of(e.stmt)
        if name not in names or id(e) in holders:
            return diags
        return tuple(d for d in diags if d.code != "SC301")

    out[:] = [(old, e, keep(e, d)) for old, e, d in out]
    for k, (old, e, d) in enumerate(extra):
        fixed = keep(e, d)
        if fixed is not d:
            extra[k] = (old, e, fixed)
    return extra
