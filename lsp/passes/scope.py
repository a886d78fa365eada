"""The `@! set` / `&include` pass: the variables in scope again after such lines changed.

Takes an `EditContext`; returns the new scope (entries and the variables they define), the
unchanged lines to check again (those using a variable whose definition changed, or an undefined
one), the blocks the changed `&include` lines load (`include_block`, resolved with the variables
in scope on their line), and the `&include` lines whose files read a variable that changed.
"""

from __future__ import annotations

import os
from dataclasses import replace

from scenario_lang.check import (
    check,
)
from scenario_lang.diagnostics import Diagnostic, sort_unique
from scenario_lang.nodes import (
    Event,
    IncludeDirective,
    ScenarioFile,
    Span,
)
from scenario_lang.resolve import VariableDef, resolve

from ..analysis import Block, FullCheckNeeded, included_reads
from ..lines import LineEntry, binds, parse_entry, positions_in, refers_to, used_names
from .context import EditContext
from .recheck import set_event


def rescope(
    ctx: EditContext,
) -> tuple[
    list[tuple[LineEntry, tuple[VariableDef, ...]]],
    list[tuple[int, LineEntry, LineEntry]],
    list[Block],
    list[LineEntry],
]:
    """The variables in scope after `@! set` or `&include` lines changed, the unchanged lines
    to check again: those using a variable whose definition changed, and those with an
    undefined variable (whose did-you-mean may change); the files the changed `&include`
    lines load, resolved with the variables in scope on their line (see `_include_block`),
    and those of unchanged `&include` lines whose files read a variable that changed above
    them; and the latter lines (their files, as they were, leave the analysis)."""
    path, snapshot, index, analysis, targets = ctx.path, ctx.snapshot, ctx.index, ctx.analysis, ctx.targets
    changed = {id(e) for _, e in targets}
    affected: set[str] = set()
    candidates: list[tuple[int, LineEntry, tuple[VariableDef, ...]]] = []
    for e, defs in analysis.scope_entries:
        n = index.get(id(e))
        if n is None:
            affected.update(v.name for v in defs)  # a set line that is gone (or an `&include`)
        else:
            candidates.append((n, e, defs))
    for n, e in targets:
        if binds(e.stmt) or type(e.stmt) is IncludeDirective:
            candidates.append((n, e, ()))
    candidates.sort(key=lambda c: c[0])
    scope: list[tuple[LineEntry, tuple[VariableDef, ...]]] = []
    lines: list[tuple[int, tuple[VariableDef, ...]]] = []  # the same, at their lines
    extra: list[tuple[int, LineEntry, LineEntry]] = []
    blocks: list[Block] = []
    dropped: list[LineEntry] = []  # `&include` lines in place whose files are resolved again
    # the `&include` lines that load files (some define no variable), and what their files read
    reads = included_reads(analysis)
    listed = {id(e) for _n, e, _defs in candidates}
    for e in reads:
        n = index.get(id(e))
        if n is None:
            raise FullCheckNeeded  # (a line that loads files is gone only through `gone`)
        if id(e) not in listed:
            candidates.append((n, e, ()))
    candidates.sort(key=lambda c: c[0])
    for n, e, defs in candidates:
        block_reads = reads.get(e) if id(e) not in changed else None
        if block_reads is not None:
            # a block in place: resolved again when a variable it reads (or, for a did-you-mean,
            # any variable) changed above it
            names, undefined = block_reads
            stale = not affected.isdisjoint(names) or not affected.isdisjoint(used_names(e.stmt))
            if not (stale or (affected and undefined)):
                if defs:
                    scope.append((e, defs))
                    lines.append((n, defs))
                continue
            dropped.append(e)  # (kept as it is, parsed where it was: its own spans say so)
            changed.add(id(e))
        if id(e) in changed or refers_to(e.stmt, affected):
            if id(e) not in changed:
                fresh = e if e.parsed_line == n else parse_entry(e.text, path, n)
                extra.append((n, e, fresh))
                changed.add(id(e))
                e = fresh
            affected.update(v.name for v in defs)
            if type(e.stmt) is IncludeDirective:
                block = include_block(ctx, n, e, lines)
                if block is None and block_reads is not None:
                    raise FullCheckNeeded  # its file no longer found: a missed include
                defs = block.defs if block is not None else ()
                if block is not None:
                    blocks.append(block)
            else:
                defs = set_defs(ctx, e, scope)
            affected.update(v.name for v in defs)
        if defs:
            scope.append((e, defs))
            lines.append((n, defs))
    if affected and any(
        target is None and d.span.path == path and not affected.isdisjoint(used_names(d))
        for d, target in analysis.program.includes
    ):
        raise FullCheckNeeded  # an `&include` line that missed its file may find one now
    # one quick pass over the text, then a closer look at the few lines it keeps
    users = analysis.var_users
    where = positions_in(snapshot, users)
    for e in sorted(users, key=lambda u: where.get(id(u), 0)):
        n = where.get(id(e), 0)
        if n == 0 or id(e) in changed or e.stmt is None:
            continue
        if refers_to(e.stmt, affected) or any(d.code == "SC401" for d in e.check_diags or ()):
            fresh = e if e.parsed_line == n else parse_entry(e.text, path, n)
            extra.append((n, e, fresh))
    return scope, extra, blocks, dropped


def include_block(
    ctx: EditContext, line: int, entry: LineEntry, scope_lines: list[tuple[int, tuple[VariableDef, ...]]]
) -> Block | None:
    """What an `&include` line loads, resolved as the whole check would, with the variables
    in scope on its line replayed first, and checked (SC506 aside: see `_regroup`); None
    when it loads no file. Raises `FullCheckNeeded` when what it loads comes in twice (a
    file another line includes too), or includes the root file. (Its `&module` lines are
    resolved with the others afterwards, and its calls bound again: `_remodule`.)"""
    path, analysis = ctx.path, ctx.analysis
    replay = [
        set_event(
            var,
            Span(path, n, var.span.column, n, var.span.end_column) if var.span.path == path else var.span,
        )
        for n, defs in scope_lines
        for var in defs
    ]
    stmt = entry.stmt
    assert type(stmt) is IncludeDirective
    tree = ScenarioFile(Span(path, 1, 1, 1, 1), path, (*replay, stmt))
    mini = resolve(tree, (), analysis.config)
    targets = [os.path.normpath(t) for _d, t in mini.includes if t is not None]
    if not any(d is stmt and t is not None for d, t in mini.includes):
        return None
    root = os.path.normpath(path)
    files = {p: f for p, f in mini.files.items() if os.path.normpath(p) != root}
    if root in targets or any(analysis.include_anchors.get(t, entry) is not entry for t in targets):
        raise FullCheckNeeded
    calls = tuple(c for c in mini.calls if c.event.span.path != path)
    resolved = tuple(d for d in mini.diagnostics if d.span.path != path)
    own = tuple(
        sort_unique(
            [
                *entry.parse_diags,
                *(d for d in mini.diagnostics if d.span.path == path and d.span.line == stmt.span.line),
            ]
        )
    )
    program = replace(
        analysis.program,
        files=files,
        lines={**analysis.program.lines, **mini.lines},
        calls=calls,
        diagnostics=resolved,
    )
    found: dict[str, list[Diagnostic]] = {}
    for d in check(program, stops=(), modules=False):
        found.setdefault(d.span.path, []).append(d)
    defs = tuple(sorted(mini.variables[len(replay) :], key=lambda v: v.order))
    return Block(
        line,
        entry,
        files,
        {p: t for p, t in mini.lines.items() if p in files},
        tuple((d, t) for d, t in mini.includes if d.span.path != path or d is stmt),
        calls,
        defs,
        resolved,
        found,
        own,
        mini.files_read,
        mini.missed_files,
        mini.module_directives,
    )


def set_defs(
    ctx: EditContext, entry: LineEntry, scope: list[tuple[LineEntry, tuple[VariableDef, ...]]]
) -> tuple[VariableDef, ...]:
    """The variables an `@! set` line defines, resolved with the variables set above it."""
    path, config = ctx.path, ctx.analysis.config
    stmt = entry.stmt
    if type(stmt) is not Event or stmt.time.seconds is not None:
        return ()
    replay = [set_event(var, var.span) for _e, defs in scope for var in defs]
    tree = ScenarioFile(Span(path, 1, 1, 1, 1), path, (*replay, stmt))
    mini = resolve(tree, (), config)
    return tuple(v for v in mini.variables if v.span is stmt.span)
