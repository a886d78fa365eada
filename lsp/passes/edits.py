"""The incremental check of an edit: runs the passes in order and returns what changed.

Takes an `EditContext`; returns an `Outcome` (per line checked: its entry, the entry to keep and
its diagnostics; the new scope, stops, program and included files' diagnostics when they
changed). Raises `FullCheckNeeded` when only the whole front end can answer.

A line's diagnostics depend on the line, the variables set before it, the callbacks of the
loaded modules, the configuration and the `stop` events. So an edit that touches no structural
line is checked alone (`recheck.check_lines`) and every other line keeps its diagnostics; edits
of `@! set` / `&include` lines go through `scope`, of `&module` lines through `modules`, and
SC506, grouped per `stop`, is worked out again by `stops` after every check of a file with one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from scenario_lang.diagnostics import Diagnostic
from scenario_lang.nodes import (
    IncludeDirective,
    ModuleDirective,
)
from scenario_lang.resolve import Call, Program, VariableDef

from ..analysis import Block, FullCheckNeeded, with_blocks, without_blocks
from ..lines import LineEntry, is_stop, positions_in
from .context import Checked, EditContext
from .modules import remodule
from .recheck import check_lines, first_unknown
from .scope import rescope
from .stops import regroup


@dataclass
class Outcome:
    """What an incremental check found (see `DocumentStore._incremental_checks`)."""

    results: list[Checked]
    scope: list[tuple[LineEntry, tuple[VariableDef, ...]]] | None
    unknown: dict[str, LineEntry]
    stops: list[tuple[LineEntry | None, Call]] | None
    program: Program | None
    other: dict[str, list[Diagnostic]] | None
    sc506: list[LineEntry] | None = None  # the root lines holding SC506 now (None: unchanged)
    resigned: set[str] = field(default_factory=set)  # callbacks whose callers were all checked again
    includes: list[IncludeDirective] = field(default_factory=list)  # new `&include` lines (no file found)
    # the included files' and their `stop`s' root `&include` lines, when files came in or went
    anchors: tuple[dict[str, LineEntry], dict[int, LineEntry]] | None = None


def incremental_checks(ctx: EditContext) -> Outcome:
    """Check the changed lines; with `rescope`, first recompute the variables the `@! set`
    lines define and add every line that uses a variable whose definition changed. Returns,
    per line checked, (its entry, the entry to keep: re-parsed when its line moved, its
    diagnostics), the new scope when it was recomputed, and where each unknown callback is
    now reported (at its first use in the file), the new `stop` list when it changed, and
    the diagnostics of the included files when SC506 changed there.

    Included files are blocks at their `&include` line, fixed: their `stop`s sit at that
    line in the file order, and an edit whose effect reaches into them (a variable they use,
    a callback they call, a module they load) raises `FullCheckNeeded`.

    With `restop` (a `stop` line changed), or when a `stop` moved to another line (its line is
    in the SC506 messages), the `stop` list is rebuilt. SC506 is grouped per `stop` (its first
    events marked, one summary), so `stops.regroup` works it out again at the end, for the file and
    the included ones.

    With `remodule` (a `&module` line changed), the `&module` lines are resolved again (the
    new program is returned) and the lines calling a callback whose signatures changed are
    checked again; raises `FullCheckNeeded` when that is most of the file. When a module is
    not found (or found again), calls to unknown callbacks stop being reported (or are
    reported again, at their first use): only the SC301 lines change.

    An `&include` line that loads a file comes in as a block at its line (`scope.include_block`,
    from `scope.rescope`): its files, calls, variables and `stop`s join the analysis; `gone` are
    the `&include` lines that loaded files and are gone (edited or deleted): theirs leave it.
    The new analysis pieces come back in the outcome (`anchors`, `program`, `other`)."""
    snapshot, targets = ctx.snapshot, ctx.targets
    program: Program | None = None
    module_results: list[tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]] = []
    also: set[str] = set()
    resigned: set[str] = set()
    callers: list[tuple[int, LineEntry, LineEntry]] = []
    stops_moved = False  # a `stop` of an included file came in or went
    modules_moved = False  # an included file's `&module` line came in or went
    if ctx.gone:
        count = len(ctx.analysis.stops)
        ctx.analysis, modules_moved = without_blocks(ctx.analysis, ctx.gone)
        program = ctx.analysis.program
        stops_moved = len(ctx.analysis.stops) != count
    analysis = ctx.analysis
    index = ctx.index = positions_in(
        snapshot,
        [e for e, _ in analysis.scope_entries]
        + [e for e, _ in analysis.stops if e]
        + list(analysis.stop_anchors.values())
        + list(analysis.unknown_first.values())
        + analysis.sc506
        + list(analysis.include_anchors.values()),
    )
    for n, e in targets:
        index[id(e)] = n
    scope = None
    # `stop` lines whose calls change: edited ones, and those using a variable that changed
    renewed = [(n, e, e) for n, e in targets if is_stop(e.stmt)] if ctx.restop else []
    blocks: list[Block] = []
    extra: list[tuple[int, LineEntry, LineEntry]] = []
    if ctx.rescope:
        # (what `&include` lines load does not depend on the callbacks: their calls are bound
        # again below when an included `&module` line came in or went)
        scope, extra, blocks, dropped = rescope(ctx)
        if dropped:  # files read a variable that changed: they come in again (`blocks`)
            ctx.analysis, had_modules = without_blocks(ctx.analysis, dropped)
            stops_moved = True
            modules_moved = modules_moved or had_modules
        if blocks:
            ctx.analysis = with_blocks(ctx.analysis, blocks)
            program = ctx.analysis.program
            stops_moved = stops_moved or any(c.callback == "stop" for b in blocks for c in b.calls)
            modules_moved = modules_moved or any(b.module_directives for b in blocks)
        for n, _old, fresh in extra:
            index[id(fresh)] = n
        renewed += [(n, fresh, fresh) for n, _old, fresh in extra if is_stop(fresh.stmt)]
    if ctx.remodule or modules_moved:
        program, module_results, callers, also, resigned, other_now = remodule(ctx)
        ctx.analysis = replace(ctx.analysis, program=program, other=other_now)
        targets = ctx.targets = [(n, e) for n, e in targets if type(e.stmt) is not ModuleDirective]
        for n, _old, e in callers:
            index[id(e)] = n
    analysis = ctx.analysis
    loaded = {id(b.entry) for b in blocks}  # (their own diagnostics come with the block)
    pairs = [(n, e, e) for n, e in targets if id(e) not in loaded] + callers + extra
    stale = {id(old) for _n, old, _fresh in extra if is_stop(old.stmt)} if ctx.rescope else set()
    scope_entries = scope if scope is not None else analysis.scope_entries
    ctx.scope_lines = [(index.get(id(e)), defs) for e, defs in scope_entries]
    placed: list[tuple[int, LineEntry | None, Call]] = []
    changed_times: list[float | None] = []
    for entry, call in analysis.stops:
        if entry is None:  # in an included file: at its `&include` line, in program order
            through = analysis.stop_anchors.get(id(call))
            at = index.get(id(through)) if through is not None else None
            if at is None:
                raise FullCheckNeeded
            placed.append((at, None, call))
            continue
        line = index.get(id(entry))
        if line is None or id(entry) in stale:  # a stop line gone, edited, or with other peers
            changed_times.append(call.time)
            continue
        if line != call.event.span.line:
            ev = call.event
            call = replace(call, event=replace(ev, span=replace(ev.span, line=line, end_line=line)))
            changed_times.append(call.time)
        placed.append((line, entry, call))
    if renewed:
        check_lines(ctx, renewed)  # resolves their calls
        for n, _old, e in renewed:
            for call in e.calls or ():
                placed.append((n, e, call))
                changed_times.append(call.time)
    if renewed or stops_moved:
        placed.sort(key=lambda t: (t[0], t[2].order))
    if stops_moved:
        changed_times.append(None)
    out = check_lines(ctx, pairs)
    out += [(b.entry, b.entry, b.own) for b in blocks]
    # the lines checked again for their calls' binding too, unless checked whole just now
    whole = {id(old) for _n, old, _e in pairs}
    out += [r for r in module_results if id(r[0]) not in whole]
    other: dict[str, list[Diagnostic]] | None = None
    # with a module not found, calls to unknown callbacks are not checked: no SC301 anywhere
    unchecked = analysis.program.unchecked_callbacks
    unknown = {} if unchecked else dict(analysis.unknown_first)
    if not unchecked:
        out += first_unknown(ctx, out, unknown, also)
    new_stops: list[tuple[LineEntry | None, Call]] | None = None
    if changed_times:
        new_stops = [(e, call) for _n, e, call in placed]
    started = time.perf_counter()
    sc506, other = regroup(ctx, out, placed)
    ctx.timings["sc506"] = time.perf_counter() - started
    includes = [e.stmt for _n, e in targets if type(e.stmt) is IncludeDirective and id(e) not in loaded]
    anchors = None
    if blocks or ctx.gone:
        anchors = (analysis.include_anchors, analysis.stop_anchors)
    if other is None and (blocks or ctx.gone or ctx.remodule or modules_moved):
        other = analysis.other
    return Outcome(out, scope, unknown, new_stops, program, other, sc506, resigned, includes, anchors)
