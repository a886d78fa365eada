"""The `&module` pass: the file's `&module` lines resolved again, alone, and calls bound again.

Takes an `EditContext`; returns the new program (modules, callbacks), the `&module` lines'
diagnostics, the lines to check whole again and those whose calls only need binding again
(`rebound`: one call per group of lines making the same call), and the included files'
diagnostics. Raises `FullCheckNeeded` when most of the file would be resolved again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from itertools import accumulate, chain

from scenario_lang.check import (
    CALL_CODES,
    check_call_bindings,
    check_modules,
)
from scenario_lang.diagnostics import Diagnostic, sort_unique
from scenario_lang.nodes import (
    Event,
    ModuleDirective,
    ScenarioFile,
    Span,
    Statement,
)
from scenario_lang.resolve import Call, Program, resolve
from scenario_lang.signatures import TypeSpec

from ..analysis import FullCheckNeeded, module_lines
from ..lines import LineEntry, first_int, parse_entry, positions_in
from .context import Checked, EditContext


def remodule(
    ctx: EditContext,
) -> tuple[
    Program,
    list[Checked],
    list[tuple[int, LineEntry, LineEntry]],
    set[str],
    set[str],
    dict[str, list[Diagnostic]],
]:
    """Resolve the `&module` lines again, alone (what they load does not depend on the other
    lines): the root's and the included files' (at their `&include` line, in program order).
    Returns the root lines' diagnostics, the new program (modules, callbacks), the lines to
    check again: those calling a callback whose signatures changed, and those reporting an
    unknown callback (SC301 lists the loaded modules and the names it might mean), the
    callbacks whose first use must be found again (every unknown one, when calls become
    checked again because every module is found: while one was missing, no SC301 was kept
    anywhere), and the included files' diagnostics (their `&module` lines', and their calls
    bound again)."""
    path, snapshot, analysis, targets = ctx.path, ctx.snapshot, ctx.analysis, ctx.targets
    old = analysis.program
    where = positions_in(snapshot, analysis.directives)
    lines = [(n, e) for e in analysis.directives if (n := where.get(id(e), 0))]
    lines += [(n, e) for n, e in targets if type(e.stmt) is ModuleDirective and id(e) not in where]
    fresh = [(n, e, e if e.parsed_line == n else parse_entry(e.text, path, n)) for n, e in lines]
    ordered: list[tuple[int, int, Statement]] = [(n, -1, f.stmt) for n, _e, f in fresh if f.stmt is not None]
    # the included files' `&module` lines, at the root line that includes them, in program order
    anchors = positions_in(snapshot, list(analysis.include_anchors.values()))
    included_lines: dict[str, set[int]] = {}
    targets_of = {id(d): t for d, t in old.includes}
    for directive, target in old.includes:
        if directive.span.path != path or target is None:
            continue
        at = anchors.get(id(analysis.include_anchors.get(os.path.normpath(target))))
        if at is None:
            raise FullCheckNeeded  # where its lines come in the file order is unknown
        for k, loaded in enumerate(module_lines(old, target, targets_of)):
            ordered.append((at, k, loaded))
            included_lines.setdefault(loaded.span.path, set()).add(loaded.span.line)
    ordered.sort(key=lambda t: (t[0], t[1]))
    stmts = tuple(stmt for _n, _k, stmt in ordered)
    mini = resolve(ScenarioFile(Span(path, 1, 1, 1, 1), path, stmts), (), analysis.config)
    if analysis.callers.get("isolate_ipv8_overlay") and _overlays(old) != _overlays(mini):
        # SC309 (`isolate_ipv8_overlay` naming an overlay no launcher loads) reads every module's
        # overlays over the whole program: the whole front end answers it, as `gscen check` does
        raise FullCheckNeeded
    before, after = old.callbacks.by_name, mini.callbacks.by_name
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    also: set[str] = set()
    if old.unchecked_callbacks and not mini.unchecked_callbacks:
        also = {name for name in analysis.callers if name not in after}
    by_line: dict[int, list[Diagnostic]] = {}
    other = dict(analysis.other)
    for p in included_lines:  # their `&module` lines' diagnostics are worked out again
        other[p] = [d for d in other.get(p, []) if d.span.line not in included_lines[p]]
    for d in (*mini.diagnostics, *check_modules(mini)):
        if d.span.path == path:
            by_line.setdefault(d.span.line, []).append(d)
        else:
            other.setdefault(d.span.path, []).append(d)
    results = [(e, f, tuple(sort_unique([*f.parse_diags, *by_line.get(n, [])]))) for n, e, f in fresh]
    wanted: list[LineEntry] = []
    every: set[str] = set()  # callbacks all of whose calls are checked again
    resigned: set[str] = set()
    for name in changed:
        if mini.unchecked_callbacks and name not in after:
            # unknown now, and calls are not checked (a module is not found): the line's check
            # binds nothing, so a line without diagnostics stays so (a typo in the only
            # `&module` line of a file then checks only the lines with diagnostics)
            wanted += [e for e in analysis.callers.get(name, ()) if e.check_diags != ()]
        elif after.get(name) == analysis.verdict_sig(name):
            # back to the signatures its callers were checked with (the typo fixed): only
            # those checked since with other ones
            wanted += analysis.off_verdict.get(name, {}).values()
        else:
            prior = analysis.verdict_sig(name)
            if prior is not None and name in after and binding_key(prior) == binding_key(after[name]):
                # the same parameters (another class defining the callback alike): a clean
                # call stays clean. Lines with diagnostics (their messages show the signature
                # and where it is defined) and those checked since with other ones change.
                wanted += [e for e in analysis.callers.get(name, ()) if e.check_diags]
                wanted += analysis.off_verdict.get(name, {}).values()
            else:
                every.add(name)
            resigned.add(name)
    wanted += analysis.unknown_first.values()  # SC301 lists the modules and did-you-means
    # every call of a callback defined now is bound again, in no particular order (only an
    # unknown callback's first call matters: SC301), from what each line keeps: one call per
    # group of lines making the same call, the lines not grouped one by one, and the lines
    # with diagnostics (which may lose them)
    defined = {name for name in every if name in after}
    wanted += [e for name in every if name not in after for e in analysis.callers.get(name, ())]
    seen: set[int] = {id(e) for _n, e in targets}
    grouped = [table for name in defined if (table := analysis.groups.get(name))]
    single = [
        e
        for e in analysis.ungrouped.values()
        if type(stmt := e.stmt) is Event and stmt.callback.value in defined
    ]
    single += [e for name in defined for e in analysis.callers.get(name, ()) if e.check_diags]
    # (a line also checked whole below, or in `wanted`, may be bound here too: see `whole` in
    # `_incremental_checks`; the same line bound twice gets the same diagnostics)
    free = [e for e in single if e.calls is not None and e.check_diags is not None]
    if len(free) < len(single):
        wanted += [e for e in single if e.calls is None or e.check_diags is None]  # (to check whole)
    found = positions_in(snapshot, wanted)
    callers: list[tuple[int, LineEntry, LineEntry]] = []
    rebind: list[tuple[int, LineEntry]] = []
    for e in wanted:
        at = found.get(id(e))
        if at is not None and id(e) not in seen:
            seen.add(id(e))
            if e.calls is not None and e.check_diags is not None and type(e.stmt) is Event:
                rebind.append((at, e))  # its calls are known: only their binding changes
            else:
                callers.append((at, e, e if e.parsed_line == at else parse_entry(e.text, path, at)))
    rebind.sort(key=first_int)
    if len(callers) > len(snapshot) // 4:
        raise FullCheckNeeded  # most of the file to resolve again: the whole front end is as quick
    program = replace(
        old,
        modules=mini.modules,
        module_directives=mini.module_directives,
        callbacks=mini.callbacks,
        unchecked_callbacks=mini.unchecked_callbacks,
        missed_files=mini.missed_files or any(target is None for _d, target in old.includes),
        files_read=old.files_read | mini.files_read,
    )
    results += rebound(program, [e for _n, e in rebind], free, grouped, analysis.converts)
    # the included files' calls, bound again (their SC301 lists the modules too)
    calls = [c for made in analysis.included_calls() for c in made] if old.includes else []
    found_calls = check_call_bindings(program, calls, analysis.converts)
    bound: dict[str, list[Diagnostic]] = {c.event.span.path: [] for c in calls}
    for k, ds in found_calls.items():
        bound[calls[k].event.span.path] += ds
    for p, ds in bound.items():
        other[p] = [*(d for d in other.get(p, []) if d.code not in CALL_CODES), *ds]
    for p in included_lines.keys() | bound.keys():
        other[p] = sort_unique(other.get(p, []))
    return program, results, callers, also, resigned, {p: ds for p, ds in other.items() if ds}


def rebound(
    program: Program,
    ordered: list[LineEntry],
    free: list[LineEntry],
    grouped: Sequence[dict[tuple[object, ...], tuple[Call, list[LineEntry]]]],
    converts: dict[TypeSpec, dict[str, bool]] | None = None,
) -> list[Checked]:
    """Lines whose calls are known (some may be gone since), checked again against `program`'s
    signatures (only their SC301-SC307 change: see `check_call_bindings`): those whose
    diagnostics changed. `ordered` are in line order (SC301 goes on the first call of an
    unknown callback among them); `free` call only callbacks `program` defines; so do the
    `grouped` lines (`Analysis.groups`): one call per group is bound, and a group's lines are
    bound one by one only when it has diagnostics (a clean call is clean on each of them)."""
    reps = [(call, lines) for table in grouped for call, lines in table.values()]
    verdicts = check_call_bindings(program, [call for call, _lines in reps], converts)
    entries = list(ordered)
    seen = {id(e) for e in entries}
    for e in (*free, *(e for k in verdicts for e in reps[k][1])):
        if id(e) not in seen:
            seen.add(id(e))
            entries.append(e)
    groups = [e.calls or () for e in entries]
    firsts = list(accumulate(map(len, groups), initial=0))  # the index of each line's first call
    found = check_call_bindings(program, chain.from_iterable(groups), converts)
    out: list[Checked] = []
    for j, e in enumerate(entries):
        old = e.check_diags
        assert old is not None
        new = [d for k in range(firsts[j], firsts[j + 1]) for d in found.get(k, ())]
        if not new and not old:
            continue
        after = tuple(sort_unique([*(d for d in old if d.code not in CALL_CODES), *new]))
        if after != old:
            out.append((e, e, after))
    return out


def binding_key(sigs: object) -> object:
    """What decides whether a call binds to a callback's signatures cleanly (not their texts, nor
    where they are defined)."""
    if not isinstance(sigs, list):
        return sigs
    return tuple(
        (tuple((p.name, p.kind, p.type, p.has_default) for p in sig.params), sig.varargs, sig.varkw)
        for sig in sigs
    )


def _overlays(program: Program) -> frozenset[str] | None:
    """The overlay names the loaded modules' launchers load (what SC309 reads; None: one unknown)."""
    if any(info.overlays is None for info in program.modules):
        return None
    return frozenset(name for info in program.modules for name in info.overlays or ())
