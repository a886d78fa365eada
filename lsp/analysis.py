"""`Analysis`: the last full check of a document, and what the incremental passes reuse of it.

Takes a full check's program, configuration and diagnostics (`build_analysis`) and keeps, beside
them, an index (timed events sorted by time, lines that may use a variable, `&module` lines,
events per callback, calls grouped by their values) so that no incremental pass scans the whole
file (but SC506 after an early `stop`). Included files are fixed blocks at their `&include`
line (`Block`): `with_blocks` / `without_blocks` return the analysis with such blocks added or
taken out. `FullCheckNeeded` is what a pass raises when only the whole front end can answer.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from scenario_lang.check import (
    StopRule,
)
from scenario_lang.diagnostics import Diagnostic
from scenario_lang.nodes import (
    Event,
    IncludeDirective,
    ModuleDirective,
    ScenarioFile,
)
from scenario_lang.resolve import Call, Program, ResolveConfig, VariableDef
from scenario_lang.signatures import ModuleInfo, TypeSpec

from .lines import LineEntry, callback_of, used_names


@dataclass
class Analysis:
    """The last full check of a document, and what the incremental check reuses from it."""

    version: int | None
    program: Program
    config: ResolveConfig
    conf_path: str | None
    # root entries that bind variables, in line order: `@! set` lines and `&include` lines
    scope_entries: list[tuple[LineEntry, tuple[VariableDef, ...]]]
    stops: list[tuple[LineEntry | None, Call]]
    unknown_first: dict[str, LineEntry]  # unknown callback -> the line it is reported on
    other: dict[str, list[Diagnostic]]
    loose: list[Diagnostic]
    deps: frozenset[str]
    incremental_ok: bool
    duration: float
    _calls_by_event: dict[int, list[Call]] | None = None
    # the checked entries (some gone since) holding a timed event, sorted by time (`times` aligned),
    # and those whose text may use a variable: what `stop` and `@! set` edits look at, instead of
    # every line of the file
    times: list[float] = field(default_factory=list)
    timed: list[LineEntry] = field(default_factory=list)
    var_users: list[LineEntry] = field(default_factory=list)
    directives: list[LineEntry] = field(default_factory=list)  # `&module` lines
    callers: dict[str, list[LineEntry]] = field(default_factory=dict)  # callback -> its events
    # a `stop` in an included file -> the root `&include` line it comes in through (by id of the call)
    stop_anchors: dict[int, LineEntry] = field(default_factory=dict)
    # an included file -> the root `&include` line its events come in through (normalized path)
    include_anchors: dict[str, LineEntry] = field(default_factory=dict)
    # the root entries holding SC506 (the first events a `stop` cuts off, and a `stop`'s summary)
    sc506: list[LineEntry] = field(default_factory=list)
    # the signatures each callback's callers were checked with: `verdict_sigs` when an `&module`
    # edit re-checked all of them, else those of the last full check's program; and per callback,
    # its callers checked since with other ones (by id; some may be gone). A module found again
    # after a typo, with the signatures its callers were checked with, re-checks only the latter.
    full_sigs: Mapping[str, object] = field(default_factory=dict)
    verdict_sigs: dict[str, object] = field(default_factory=dict)
    off_verdict: dict[str, dict[int, LineEntry]] = field(default_factory=dict)
    # per parameter type, whether each value converts to it (for `&module` edits re-binding calls)
    converts: dict[TypeSpec, dict[str, bool]] = field(default_factory=dict)
    # the full check's lines making one call, per callback, grouped by the call's values: (one of
    # the calls, the lines). An `&module` edit binds each group once (`rebound`). Only lines
    # without `$` are grouped: their calls change only with their text (then they are new
    # entries). New entries, loops, lines with `$` (a variable's value may change; an unresolved
    # one is not checked) or an empty named value are `ungrouped`, by id: bound one by one.
    groups: dict[str, dict[tuple[object, ...], tuple[Call, list[LineEntry]]]] = field(default_factory=dict)
    ungrouped: dict[int, LineEntry] = field(default_factory=dict)
    _included: list[list[Call]] | None = None
    _rule: tuple[tuple[object, ...], StopRule] | None = None

    def stop_rule(self, stops: list[Call]) -> StopRule:
        """SC506's rule for these `stop`s: the last one (its verdicts worked out already) while
        the stops are at the same times with the same peer sets, in the same order (they cut off
        the same calls; only their lines, in the messages, may change)."""
        key = tuple(x for s in stops for x in (s.time, id(s.peers)))
        kept = self._rule
        if kept is not None and kept[0] == key:
            kept[1].relabel(stops)
            return kept[1]
        rule = StopRule(stops, self.program.config.instances)
        self._rule = (key, rule)
        return rule

    def verdict_sig(self, name: str) -> object:
        """The signatures `name`'s callers not in `off_verdict` were checked with (None: unknown)."""
        if name in self.verdict_sigs:
            return self.verdict_sigs[name]
        return self.full_sigs.get(name)

    def note_checked(self, results: Iterable[tuple[LineEntry, LineEntry, object]]) -> None:
        """Keep `off_verdict` up to date with lines just checked against the current program."""
        by_name = self.program.callbacks.by_name
        off = self.off_verdict
        for old, e, _diags in results:
            stmt = e.stmt
            if type(stmt) is not Event:
                continue
            name = stmt.callback.value
            bucket = off.get(name)
            if bucket is not None:
                bucket.pop(id(old), None)
                bucket.pop(id(e), None)
            if by_name.get(name) != self.verdict_sig(name):
                off.setdefault(name, {})[id(e)] = e

    def included_calls(self) -> list[list[Call]]:
        """The calls the included files make, per event, in program order (worked out once per
        program: blocks coming in or going make a new analysis)."""
        if self._included is None:
            root = self.program.root
            per_event: dict[int, list[Call]] = {}
            for c in self.program.calls:
                if c.event.span.path != root:
                    per_event.setdefault(id(c.event), []).append(c)
            self._included = list(per_event.values())
        return self._included

    def index(self, entries: Iterable[LineEntry]) -> None:
        """Add checked entries (new ones: a full check's, an incremental check's results)."""
        for e in entries:
            if e.indexed:
                continue
            e.indexed = True
            text = e.text
            if "$" in text or " for " in text:
                self.var_users.append(e)
            stmt = e.stmt
            if type(stmt) is ModuleDirective:
                self.directives.append(e)
            if type(stmt) is Event:
                self.callers.setdefault(stmt.callback.value, []).append(e)
                self.ungrouped[id(e)] = e
                seconds = stmt.time.seconds
                if seconds is not None and seconds == seconds:  # not NaN
                    at = bisect_right(self.times, seconds)
                    self.times.insert(at, seconds)
                    self.timed.insert(at, e)

    def build_index(self, entries: list[LineEntry]) -> None:
        """The index of a full check's entries, at once."""
        pairs: list[tuple[float, LineEntry]] = []
        users: list[LineEntry] = []
        directives: list[LineEntry] = []
        callers: dict[str, list[LineEntry]] = {}
        groups: dict[str, dict[tuple[object, ...], tuple[Call, list[LineEntry]]]] = {}
        ungrouped: dict[int, LineEntry] = {}
        for e in entries:
            e.indexed = True
            text = e.text
            if "$" in text or " for " in text:
                users.append(e)
            stmt = e.stmt
            if type(stmt) is ModuleDirective:
                directives.append(e)
            elif type(stmt) is Event:
                name = stmt.callback.value
                callers.setdefault(name, []).append(e)
                calls = e.calls
                if calls is not None and len(calls) == 1 and "$" not in text:
                    call = calls[0]
                    if not call.kwargs or all(v for _k, v in call.kwargs):
                        table = groups.setdefault(name, {})
                        key = (call.args, call.kwargs)
                        group = table.get(key)
                        if group is None:
                            table[key] = (call, [e])
                        else:
                            group[1].append(e)
                    else:
                        ungrouped[id(e)] = e
                elif calls:
                    ungrouped[id(e)] = e
                seconds = stmt.time.seconds
                if seconds is not None and seconds == seconds:
                    pairs.append((seconds, e))
        pairs.sort(key=_first)
        self.times = [t for t, _e in pairs]
        self.timed = [e for _t, e in pairs]
        self.var_users = users
        self.directives = directives
        self.callers = callers
        self.groups = groups
        self.ungrouped = ungrouped

    def calls_of(self, event: Event) -> list[Call]:
        """The calls the last full check made of an event node (loops give several)."""
        if self._calls_by_event is None:
            table: dict[int, list[Call]] = {}
            for c in self.program.calls:
                table.setdefault(id(c.event), []).append(c)
            self._calls_by_event = table
        return [c for c in self._calls_by_event.get(id(event), []) if c.event is event]


@dataclass
class Block:
    """An `&include` line of the root file that loads a file, resolved in scope on its line
    (`DocumentStore._include_block`): the files it loads (nested ones too), their `&include`
    lines and the root's, calls, the variables they set (in order), resolution diagnostics,
    diagnostics per file (SC506 aside), the root line's own, the files read, whether a nested
    `&include` missed its file, and their `&module` lines (see `DocumentStore._remodule`)."""

    line: int
    entry: LineEntry  # (one in place, resolved again, keeps the line it was parsed on)
    files: dict[str, ScenarioFile]
    lines: dict[str, tuple[str, ...]]
    includes: tuple[tuple[IncludeDirective, str | None], ...]
    calls: tuple[Call, ...]
    defs: tuple[VariableDef, ...]
    resolved: tuple[Diagnostic, ...]
    diagnostics: dict[str, list[Diagnostic]]
    own: tuple[Diagnostic, ...]
    files_read: frozenset[str]
    missed: bool
    module_directives: tuple[tuple[ModuleDirective, ModuleInfo | None], ...]


class FullCheckNeeded(Exception):
    """An incremental check found that only the whole front end can answer."""


def build_analysis(
    path: str,
    entries: list[LineEntry],
    program: Program,
    config: ResolveConfig,
    conf_path: str | None,
    other: dict[str, list[Diagnostic]],
    loose: list[Diagnostic],
    diags_by_line: dict[int, list[Diagnostic]],
) -> Analysis:
    def entry_at(line: int) -> LineEntry | None:
        return entries[line - 1] if 1 <= line <= len(entries) else None

    # which root `&include` line each included file's variables come in through
    anchor: dict[str, int] = {}
    incremental_ok = True
    for directive, target in program.includes:
        if target is None:
            continue
        parent = directive.span.path
        at = directive.span.line if parent == path else anchor.get(os.path.normpath(parent))
        if at is None:
            continue
        key = os.path.normpath(target)
        if key in anchor and anchor[key] != at:
            incremental_ok = False  # included twice: the scope of a line is not one anchor
        anchor[key] = at
    by_line: dict[int, list[VariableDef]] = {}
    for var in program.variables:
        where = var.span.line if var.span.path == path else anchor.get(os.path.normpath(var.span.path))
        if where is None:
            incremental_ok = False
            continue
        by_line.setdefault(where, []).append(var)
    for directive, _target in program.includes:
        if directive.span.path == path:
            by_line.setdefault(directive.span.line, [])
    scope_entries: list[tuple[LineEntry, tuple[VariableDef, ...]]] = []
    for line in sorted(by_line):
        e = entry_at(line)
        if e is None:
            incremental_ok = False
            continue
        scope_entries.append((e, tuple(sorted(by_line[line], key=lambda v: v.order))))
    stops: list[tuple[LineEntry | None, Call]] = []
    stop_anchors: dict[int, LineEntry] = {}
    for call in program.calls:
        if call.callback == "stop":
            span = call.event.span
            if span.path == path:
                stops.append((entry_at(span.line), call))
                continue
            stops.append((None, call))
            at = anchor.get(os.path.normpath(span.path))
            through = entry_at(at) if at is not None else None
            if through is None:
                incremental_ok = False  # where it comes in the file order is unknown
            else:
                stop_anchors[id(call)] = through
    unknown_first: dict[str, LineEntry] = {}
    sc506: list[LineEntry] = []
    for n, found in diags_by_line.items():
        e = entry_at(n)
        if e is not None and any(d.code == "SC506" for d in found):
            sc506.append(e)
        name = callback_of(e.stmt) if e is not None else None
        if name is not None and any(d.code == "SC301" for d in found):
            unknown_first[name] = e  # type: ignore[assignment]
    include_anchors: dict[str, LineEntry] = {}
    for key, at in anchor.items():
        through = entry_at(at)
        if through is not None:
            include_anchors[key] = through
    deps = {os.path.normpath(p) for p in (*program.files, *program.files_read)}
    if conf_path:
        deps.add(os.path.normpath(os.path.abspath(conf_path)))
    deps.discard(os.path.normpath(path))
    return Analysis(
        version=None,
        program=program,
        config=config,
        conf_path=conf_path,
        scope_entries=scope_entries,
        stops=stops,
        unknown_first=unknown_first,
        other=other,
        loose=loose,
        deps=frozenset(deps),
        incremental_ok=incremental_ok,
        duration=0.0,
        stop_anchors=stop_anchors,
        include_anchors=include_anchors,
        sc506=sc506,
        full_sigs=program.callbacks.by_name,
    )


def with_blocks(analysis: Analysis, blocks: list[Block]) -> Analysis:
    """The analysis with the files `&include` lines now load (see `Block`) at their lines."""
    program = analysis.program
    anchors = dict(analysis.include_anchors)
    stop_anchors = dict(analysis.stop_anchors)
    stops = list(analysis.stops)
    other = dict(analysis.other)
    for b in blocks:
        for p in b.files:
            key = os.path.normpath(p)
            if key in anchors:
                raise FullCheckNeeded  # the same file through two lines: one anchor per file
            anchors[key] = b.entry
        for c in b.calls:
            if c.callback == "stop":
                stops.append((None, c))
                stop_anchors[id(c)] = b.entry
        other.update(b.diagnostics)
        program = replace(
            program,
            files={**program.files, **b.files},
            lines={**program.lines, **b.lines},
            calls=program.calls + b.calls,
            variables=program.variables + b.defs,
            includes=program.includes + b.includes,
            diagnostics=program.diagnostics + b.resolved,
            module_directives=program.module_directives + b.module_directives,
            files_read=program.files_read | b.files_read,
            missed_files=program.missed_files or b.missed,
        )
    return replace(
        analysis,
        program=program,
        stops=stops,
        stop_anchors=stop_anchors,
        include_anchors=anchors,
        other=other,
        _calls_by_event=None,
        _included=None,
        _rule=None,
    )


def without_blocks(analysis: Analysis, gone: Sequence[LineEntry]) -> tuple[Analysis, bool]:
    """The analysis without what the `&include` lines `gone` loaded: their files (nested ones
    too), with their calls, variables, `&include` lines, `&module` lines, `stop`s and
    diagnostics; and whether `&module` lines went (the modules are then resolved again: see
    `DocumentStore._remodule`)."""
    ids = {id(e) for e in gone}
    dropped = {p for p, through in analysis.include_anchors.items() if id(through) in ids}
    old = analysis.program
    raw = {p for p in (*old.files, *analysis.other) if os.path.normpath(p) in dropped}
    roots = {id(e.stmt) for e in gone}
    program = replace(
        old,
        files={p: f for p, f in old.files.items() if p not in raw},
        lines={p: t for p, t in old.lines.items() if p not in raw},
        calls=tuple(c for c in old.calls if c.event.span.path not in raw) if raw else old.calls,
        variables=tuple(v for v in old.variables if v.span.path not in raw),
        includes=tuple((d, t) for d, t in old.includes if d.span.path not in raw and id(d) not in roots),
        diagnostics=tuple(d for d in old.diagnostics if d.span.path not in raw),
        module_directives=tuple((d, i) for d, i in old.module_directives if d.span.path not in raw),
    )
    stop_anchors = {k: through for k, through in analysis.stop_anchors.items() if id(through) not in ids}
    had_modules = len(program.module_directives) != len(old.module_directives)
    return replace(
        analysis,
        program=program,
        stops=[(e, c) for e, c in analysis.stops if e is not None or id(c) in stop_anchors],
        stop_anchors=stop_anchors,
        include_anchors={p: through for p, through in analysis.include_anchors.items() if p not in dropped},
        other={p: ds for p, ds in analysis.other.items() if p not in raw},
        _calls_by_event=None,
        _included=None,
        _rule=None,
    ), had_modules


def included_reads(analysis: Analysis) -> dict[LineEntry, tuple[set[str], bool]]:
    """Per root `&include` line that loads files: the variable names its files use, and whether
    one of them has an undefined variable (its did-you-mean picks from every name in scope)."""
    program = analysis.program
    undefined = {d.span.path for d in program.diagnostics if d.code == "SC401"}
    out: dict[LineEntry, tuple[set[str], bool]] = {}
    for p, tree in program.files.items():
        through = analysis.include_anchors.get(os.path.normpath(p))
        if through is None or p == program.root:
            continue
        names, missing = out.get(through, (set(), False))
        for stmt in tree.statements:
            names |= used_names(stmt)
        out[through] = (names, missing or p in undefined)
    return out


def module_lines(program: Program, path: str, targets_of: dict[int, str | None]) -> list[ModuleDirective]:
    """The `&module` lines of an included file and of those it includes, in program order."""
    tree = program.files.get(path)
    out: list[ModuleDirective] = []
    for stmt in tree.statements if tree is not None else ():
        if type(stmt) is ModuleDirective:
            out.append(stmt)
        elif type(stmt) is IncludeDirective:
            target = targets_of.get(id(stmt))
            if target is not None and target != path:
                out += module_lines(program, target, targets_of)
    return out


def _first(pair: tuple[float, LineEntry]) -> float:
    return pair[0]
