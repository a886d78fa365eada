"""The document store: open scenario documents, their per-line parse results and their last check.

Takes text edits from the editor and returns, for every feature, a `Document`: its lines, one
`LineEntry` per line (the statement `parse_line` made of it and its parse diagnostics), the last
`Analysis` (the resolved program of the last full check and what the incremental check needs), and
the diagnostics per line. Edits re-parse only the lines they touch; checking runs off the event
loop in one worker thread, debounced, and publishes diagnostics that carry the document version.

Incremental checking: a line's diagnostics depend on the line, the variables set before it, the
callbacks of the loaded modules, the configuration and the `stop` events. So an edit that touches
no structural line is checked alone: the changed lines are resolved with the variables in scope
replayed before them and checked against the last program's callbacks and stops, and every other
line keeps its diagnostics. An edit of `@! set` lines recomputes the variables in scope and
re-checks the lines that use a variable whose definition changed; an edit of `stop` lines rebuilds
the stop list; SC506, grouped per `stop`, is worked out again after every check of a file with a
`stop`, in one pass from what each line keeps of its call; an edit of `&module` lines resolves
those lines again and re-checks the lines calling a callback whose signatures changed, and, when a
module is not found (or found again), the lines where an unknown callback is (or is again)
reported. The analysis keeps an index (timed events sorted by time, lines that may use a variable,
`&module` lines, events per callback) so that none of these scans the whole file (but SC506 after
an early `stop`, which goes over the lines after it). Included files are fixed blocks at their `&include`
line (their stops sit there in the file order; a `stop` edit recomputes their SC506 too); an edit
whose effect reaches into them (a variable they read, a callback they call, a module they load)
runs the whole front end again (`configure`, `resolve`, `check`: what `gscen check` runs), as do
an `&include` edit and a change of an included document, a module source or a `.conf`.

Lines inserted or deleted above an entry leave its spans with an old line number (re-parsing the
rest of a 118k-line file on every Enter would cost seconds): an entry records the line it was
parsed at, features read spans through `Document.line_of`, and a full check re-parses stale
entries first so that what it resolves is exactly what `gscen check` would.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import logging
import math
import os
import re
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import accumulate, chain
from pathlib import Path
from typing import Any, TypeVar, cast

from scenario_lang import cache
from scenario_lang.check import (
    CALL_CODES,
    SC506_SHOWN,
    StopRule,
    check,
    check_call_bindings,
    check_modules,
    stop_summary,
)
from scenario_lang.diagnostics import Diagnostic, sort_unique
from scenario_lang.nodes import (
    Argument,
    Event,
    IncludeDirective,
    ModuleDirective,
    Name,
    ScenarioFile,
    Span,
    Statement,
    TimeSpec,
    VarRef,
    Word,
)
from scenario_lang.parse import bulk_allocation, parse_line, parse_lines, read_source
from scenario_lang.project import CheckOptions, analyze, configure
from scenario_lang.resolve import Call, LoadedFile, Program, ResolveConfig, VariableDef, resolve
from scenario_lang.signatures import PROCESS_BUILTINS, ModuleInfo, ModuleReader, TypeSpec

logger = logging.getLogger(__name__)

_NEWLINE = re.compile(r"\r\n|\r|\n")
_INCLUDE_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")  # as the resolver expands `&include` targets
# `set` and `stop` change other lines' diagnostics; so do the process faults (SC511 follows them in
# time order over the whole file): a line that is or was one is checked with the whole front end
STRUCTURAL_CALLBACKS = frozenset({"set", "stop"}) | PROCESS_BUILTINS
EARLY_MIN_LINES = 20_000  # below this, the full check is quick enough to be the first answer


# --------------------------------------------------------------------------- lines


class LineEntry:
    """One line of a document: its text, the statement parsed from it (spans at `parsed_line`),
    its parse diagnostics, its check diagnostics once checked (None until then), and the calls the
    last check resolved of it (None when unknown; what SC506 is recomputed from when `stop`s change)."""

    __slots__ = (
        "calls",
        "check_diags",
        "encoded",
        "indexed",
        "parse_diags",
        "parsed_line",
        "stmt",
        "text",
        "timing",
    )

    def __init__(
        self, text: str, stmt: Statement | None, parse_diags: tuple[Diagnostic, ...], parsed_line: int
    ) -> None:
        self.text = text
        self.stmt = stmt
        self.parse_diags = parse_diags
        self.parsed_line = parsed_line
        self.check_diags: tuple[Diagnostic, ...] | None = None
        self.calls: tuple[Call, ...] | None = None
        # what SC506 reads of its calls (`_timing`): None when no `stop` can cut them off
        self.timing: tuple[float, int, Call] | None = _SLOW
        self.indexed = False  # in its analysis' `times` / `var_users` (see `Analysis.index`)
        # its diagnostics as published (`features.diagnostics`): the tuple they came from, the
        # encoding, a template of the line number (None for a span over lines), the line, the JSON
        self.encoded: tuple[tuple[Diagnostic, ...], str, str | None, int, str] | None = None


def parse_entry(text: str, path: str, line: int) -> LineEntry:
    stmt, diags = parse_line(text, path, line)
    return LineEntry(text, stmt, tuple(diags), line)


def parse_entries(lines: Sequence[str], path: str) -> list[LineEntry]:
    """Entries for a whole text, through the front end's bulk parser."""
    tree, diags = parse_lines(list(lines), path)
    empty: tuple[Diagnostic, ...] = ()
    out = [LineEntry(text, None, empty, n) for n, text in enumerate(lines, 1)]
    for stmt in tree.statements:  # one per parsed line, on its own line
        out[stmt.span.line - 1].stmt = stmt
    by_line: dict[int, list[Diagnostic]] = {}
    for d in diags:
        by_line.setdefault(d.span.line, []).append(d)
    for n, found in by_line.items():
        if 1 <= n <= len(out):
            out[n - 1].parse_diags = tuple(found)
    return out


def is_structural(stmt: Statement | None) -> bool:
    """Whether a statement can change other lines' diagnostics."""
    if stmt is None:
        return False
    t = type(stmt)
    if t is Event:
        return stmt.callback.value in STRUCTURAL_CALLBACKS  # type: ignore[union-attr]
    return t is ModuleDirective or t is IncludeDirective


def is_stop(stmt: Statement | None) -> bool:
    """Whether a statement is a `stop` (it may change the SC506 verdicts of the events after it)."""
    return type(stmt) is Event and stmt.callback.value == "stop"


def binds(stmt: Statement | None) -> bool:
    """Whether a statement is a `set` (it may define a variable for the lines after it)."""
    return type(stmt) is Event and stmt.callback.value == "set"


def refers_to(stmt: Statement | None, names: set[str]) -> bool:
    """Whether an event uses one of `names` (`$name`, or as its loop variable)."""
    if type(stmt) is not Event:
        return False
    ev: Event = stmt
    bounds: list[object] = []
    if ev.loop is not None:
        if ev.loop.var.value in names:
            return True
        bounds += [ev.loop.start, ev.loop.stop]
    if ev.peers is not None:
        for item in ev.peers.items:
            bounds += [item.low, item.high]
    if any(isinstance(b, VarRef) and b.name in names for b in bounds):
        return True
    return any(isinstance(p, VarRef) and p.name in names for a in ev.args for p in a.value.parts)


def used_names(stmt: Statement | None) -> set[str]:
    """The variable names a statement uses (`$name` anywhere, its loop variable, `$name` in an
    `&include` target)."""
    t = type(stmt)
    if t is IncludeDirective:
        return {m[1] or m[2] for m in _INCLUDE_VAR.finditer(stmt.target)}  # type: ignore[union-attr]
    if t is not Event:
        return set()
    ev: Event = stmt  # type: ignore[assignment]
    out: set[str] = set()
    bounds: list[object] = []
    if ev.loop is not None:
        out.add(ev.loop.var.value)
        bounds += [ev.loop.start, ev.loop.stop]
    if ev.peers is not None:
        for item in ev.peers.items:
            bounds += [item.low, item.high]
    out.update(b.name for b in bounds if isinstance(b, VarRef))
    out.update(p.name for a in ev.args for p in a.value.parts if isinstance(p, VarRef))
    return out


def split_text(text: str) -> list[str]:
    """The editor's lines of `text` (a final newline leaves an empty last line, as in the LSP)."""
    return _NEWLINE.split(text)


# --------------------------------------------------------------------------- analysis


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
    # the calls, the lines). An `&module` edit binds each group once (`_rebound`). Only lines
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
class Document:
    uri: str
    path: str
    version: int | None
    entries: list[LineEntry]
    analysis: Analysis | None = None
    dirty: list[LineEntry] = field(default_factory=list)
    full_needed: bool = True
    scope_changed: bool = False  # a `set` line changed: the variables in scope are recomputed
    stops_changed: bool = False  # a `stop` line changed: the stops and SC506 are recomputed
    modules_changed: bool = False  # a `&module` line changed: the callbacks are recomputed
    # `&include` lines replaced: incremental while neither they nor the new ones load a file
    gone_includes: list[LineEntry] = field(default_factory=list)
    needs_check: bool = False
    task: asyncio.Task[None] | None = None
    matches_disk: bool = False
    early: bool = False  # diagnostics were published before the first analysis (cache, early check)
    changed_at: float | None = None  # `time.perf_counter()` at the last edit (for the log)
    checked: asyncio.Event = field(default_factory=asyncio.Event)
    _index: dict[int, int] | None = None

    # ---- reading
    def line_count(self) -> int:
        return len(self.entries)

    def line_text(self, line: int) -> str:
        """The text of 1-based `line` ("" outside the document)."""
        if 1 <= line <= len(self.entries):
            return self.entries[line - 1].text
        return ""

    def entry(self, line: int) -> LineEntry | None:
        if 1 <= line <= len(self.entries):
            return self.entries[line - 1]
        return None

    def line_of(self, entry: LineEntry) -> int | None:
        """The current 1-based line of an entry, None once it is gone."""
        parsed = entry.parsed_line  # where it was parsed: still its line unless lines moved above it
        if 0 < parsed <= len(self.entries) and self.entries[parsed - 1] is entry:
            return parsed
        if self._index is None:
            self._index = {id(e): i for i, e in enumerate(self.entries, 1)}
        n = self._index.get(id(entry))
        if n is None or self.entries[n - 1] is not entry:
            return None
        return n

    def text(self) -> str:
        return "\n".join(e.text for e in self.entries)

    def front_end_lines(self) -> int:
        """How many lines the front end sees (`split_lines` drops the empty line after a final newline)."""
        n = len(self.entries)
        if n > 1 and self.entries[-1].text == "":
            return n - 1
        return n

    # ---- editing
    def replace_all(self, text: str) -> None:
        """New text: the lines are kept unparsed (parsed_line 0) for the worker's full check to parse,
        so that opening a 118k-line file does not hold the event loop for seconds."""
        self.entries = [LineEntry(t, None, (), 0) for t in split_text(text)]
        self.dirty = []
        self.full_needed = True
        self._index = None

    def apply_edit(self, start: tuple[int, int], end: tuple[int, int], new_text: str) -> None:
        """Replace the text between two (0-based line, code-point column) points."""
        n = len(self.entries)
        sl, sc = start
        el, ec = end
        if (el, ec) < (sl, sc):
            sl, sc, el, ec = el, ec, sl, sc
        if sl >= n:
            sl, sc = n - 1, len(self.entries[n - 1].text)
        if el >= n:
            el, ec = n - 1, len(self.entries[n - 1].text)
        sl, el = max(sl, 0), max(el, 0)
        prefix = self.entries[sl].text[: max(sc, 0)]
        suffix = self.entries[el].text[max(ec, 0) :]
        texts = split_text(prefix + new_text + suffix)
        old = self.entries[sl : el + 1]
        if len(texts) == len(old) and all(o.text == t for o, t in zip(old, texts, strict=True)):
            return
        new = [parse_entry(t, self.path, sl + 1 + i) for i, t in enumerate(texts)]
        self.entries[sl : el + 1] = new
        if len(new) != len(old):
            self._index = None
        elif self._index is not None:
            for i, e in enumerate(new, sl + 1):
                self._index[id(e)] = i
        for e in (*old, *new):
            if binds(e.stmt):
                self.scope_changed = True
            elif is_stop(e.stmt):
                self.stops_changed = True
            elif type(e.stmt) is ModuleDirective:
                self.modules_changed = True
            elif type(e.stmt) is IncludeDirective:
                # what it loads (variables, events, `stop`s) comes in at its line: see `_include_block`
                self.scope_changed = True
            elif is_structural(e.stmt):
                self.full_needed = True
        self.gone_includes.extend(o for o in old if type(o.stmt) is IncludeDirective)
        self.dirty.extend(new)


# --------------------------------------------------------------------------- checking


@dataclass
class FullResult:
    entries: list[LineEntry]  # the snapshot's entries, stale ones re-parsed at their line
    snapshot: list[LineEntry]
    diags: dict[int, tuple[Diagnostic, ...]]  # 1-based line -> diagnostics
    analysis: Analysis
    cacheable: bool
    # the document's position index once these entries are installed (when it was not edited since)
    index: dict[int, int] = field(default_factory=dict)


def _set_event(var: VariableDef, span: Span) -> Event:
    """An `@! set NAME VALUE` event replaying a variable's value literally (for incremental checks)."""
    name = Argument(span, None, None, Word(span, var.name, (var.name,)))
    value = Argument(span, None, None, Word(span, var.value, (var.value,)))
    return Event(span, TimeSpec(span, "@!", (), None), None, Name(span, "set"), (name, value), None)


class DocumentStore:
    """Every open document, the worker thread that checks them, and the module readers."""

    def __init__(
        self,
        publish: Callable[[Document], None],
        publish_other: Callable[[str, list[Diagnostic]], None],
        clear: Callable[[str], None],
        report: Callable[[str], None],
        options: CheckOptions | None = None,
        debounce: float = 0.015,
    ) -> None:
        self.docs: dict[str, Document] = {}
        self.publish = publish
        self.publish_other = publish_other
        self.clear = clear
        self.report = report
        self.options = options or CheckOptions()
        self.debounce = debounce
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gscen-check")
        self._readers: dict[tuple[str, ...], ModuleReader] = {}
        self._feature_readers: dict[tuple[str, ...], ModuleReader] = {}
        self._files: dict[str, tuple[tuple[float, int], LoadedFile]] = {}
        self._others: dict[str, tuple[Diagnostic, ...]] = {}
        self.timings: dict[str, float] = {}
        self.counts = {"full": 0, "incremental": 0}  # checks done, of each kind
        self.closed = False

    # ---- documents
    def open(self, uri: str, path: str, version: int | None, text: str) -> Document:
        doc = Document(uri, path, version, [])
        doc.replace_all(text)
        doc.matches_disk = _disk_text(path) == text
        self.docs[uri] = doc
        self._dependents_changed(path)
        if doc.matches_disk:
            self._publish_cached(doc)
        self.schedule(doc)
        return doc

    def close(self, uri: str) -> None:
        doc = self.docs.pop(uri, None)
        if doc is None:
            return
        if doc.task is not None:
            doc.task.cancel()
        self.clear(uri)
        self._others.pop(doc.path, None)
        self._set_others()
        self._dependents_changed(doc.path)

    def get(self, uri: str) -> Document | None:
        return self.docs.get(uri)

    def changed(self, doc: Document, version: int | None) -> None:
        doc.version = version
        doc.changed_at = time.perf_counter()
        doc.matches_disk = False
        self._dependents_changed(doc.path, missed=False)
        self.schedule(doc)

    def saved(self, doc: Document) -> None:
        """On save, check the whole file again (as `gscen check` would now, module sources read
        afresh) and the files that include it; an unchanged file also refreshes the check cache."""
        doc.matches_disk = _disk_text(doc.path) == doc.text()
        doc.full_needed = True
        self.schedule(doc)
        self._dependents_changed(doc.path)

    def files_changed(self, paths: Iterable[str]) -> None:
        """Files changed on disk (a module source, an included scenario, a `.conf`)."""
        changed = {os.path.normpath(p) for p in paths}
        for p in changed:
            self._files.pop(p, None)
        any_conf = any(p.endswith(".conf") for p in changed)
        for doc in self.docs.values():
            a = doc.analysis
            if any_conf or a is None or a.program.missed_files or not changed.isdisjoint(a.deps):
                doc.full_needed = True
                self.schedule(doc)

    def _dependents_changed(self, path: str, missed: bool = True) -> None:
        """Re-check the open documents that read `path` (and, with `missed`, those that missed a
        module or an include: a file that appears or is saved may be it)."""
        norm = os.path.normpath(path)
        for other in self.docs.values():
            if other.path == path or other.analysis is None:
                continue
            if norm in other.analysis.deps or (missed and other.analysis.program.missed_files):
                other.full_needed = True
                self.schedule(other)

    # ---- scheduling
    def schedule(self, doc: Document) -> None:
        if self.closed:
            return
        doc.needs_check = True
        doc.checked.clear()
        if doc.task is None or doc.task.done():
            doc.task = asyncio.get_running_loop().create_task(self._run(doc))

    async def _run(self, doc: Document) -> None:
        while doc.needs_check and self.docs.get(doc.uri) is doc and not self.closed:
            await asyncio.sleep(self.debounce)
            doc.needs_check = False
            try:
                if doc.analysis is None or doc.full_needed or not doc.analysis.incremental_ok:
                    await self._full(doc)
                else:
                    await self._incremental(doc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: tell the client, keep serving (and start afresh)
                if self.closed:
                    return
                doc.full_needed = True
                logger.exception("checking %s failed", doc.uri)
                self.report(f"gscen: checking {doc.path} failed: {type(exc).__name__}: {exc}")
        if not doc.needs_check:
            doc.checked.set()

    async def wait_ready(self, uri: str, timeout: float = 30.0) -> None:
        """Wait until an open document has been parsed and checked once (right after didOpen of a
        large file, the worker is still at it)."""
        doc = self.docs.get(uri)
        if doc is None or doc.analysis is not None:
            return
        try:
            async with asyncio.timeout(timeout):
                await doc.checked.wait()
        except TimeoutError:
            return

    # ---- the full check
    async def _full(self, doc: Document) -> None:
        loop = asyncio.get_running_loop()
        if (
            doc.analysis is None
            and not doc.early
            and doc.matches_disk
            and len(doc.entries) >= EARLY_MIN_LINES
        ):
            # a large file, unchanged on disk, not in the check cache: `gscen check`'s own parallel
            # check (diagnostics only) answers first; the analysis features need follows
            doc.early = True
            version = doc.version
            found = await loop.run_in_executor(self.executor, self._early_work, doc.path)
            if found is not None and doc.version == version and doc.analysis is None and not doc.dirty:
                self._publish_early(doc, found)
        snapshot = list(doc.entries)
        dirty, doc.dirty = doc.dirty, []
        doc.full_needed = False
        doc.scope_changed = False
        doc.stops_changed = False
        doc.modules_changed = False
        doc.gone_includes = []
        version = doc.version
        try:
            result = await loop.run_in_executor(
                self.executor, self._full_work, doc.path, snapshot, doc.matches_disk
            )
        except BaseException:
            doc.dirty = dirty + doc.dirty
            doc.full_needed = True
            raise
        for i, e in enumerate(result.entries):
            e.check_diags = result.diags.get(i + 1, e.parse_diags)
        index: dict[int, int] | None = None
        if doc.entries == snapshot:
            doc.entries[: len(result.entries)] = result.entries
            index = result.index
        else:
            # edited meanwhile: install the parsed entries that are still there (maybe moved)
            where = {id(e): i for i, e in enumerate(doc.entries)}
            for old, new in zip(snapshot, result.entries, strict=False):
                j = where.get(id(old))
                if j is not None and old is not new:
                    doc.entries[j] = new
        doc._index = index
        # entries past the front end's lines (the empty line after a final newline)
        for e in snapshot[len(result.entries) :]:
            e.check_diags = e.parse_diags
        doc.analysis = result.analysis
        self._set_others()
        if doc.version == version and not doc.dirty:
            self.publish(doc)
        if result.cacheable and doc.matches_disk:
            self.executor.submit(self._store_cache, doc.path, result.analysis, result.diags)

    def _index_work(self, path: str, entries: list[LineEntry], analysis: Analysis) -> None:
        """What the incremental checks of `stop`, `@! set` and `&module` edits read: the calls of
        each line and the analysis' index."""
        try:
            _record_calls(path, entries, analysis.program.calls)
            analysis.build_index(entries)
        except Exception:
            logger.exception("indexing %s failed", path)
            analysis.incremental_ok = False  # without the index, only the whole check is right

    def _early_work(self, path: str) -> list[Diagnostic] | None:
        started = time.perf_counter()
        try:
            result = analyze(path, replace(self.options, parallel=True))
        except Exception:  # only an accelerator: the full check follows
            logger.exception("the early check of %s failed", path)
            return None
        self.timings["early"] = time.perf_counter() - started
        found = list(result.diagnostics)
        program = result.program
        if not program.missed_files:  # as `gscen check` does: the next open finds it in the cache
            files = set(program.files_read) | {os.path.abspath(result.conf_path or path)}
            env = {n: self.options.environment.get(n) for n in program.environment_names}
            try:
                cache.store(path, self._cache_options(), files, env, found)
            except Exception:
                logger.exception("writing the check cache failed")
        return found

    def _configure(self, path: str) -> tuple[ResolveConfig, list[Diagnostic], str | None]:
        config, conf_diags, _experiment, conf_path = configure(path, self.options, loader=self._load)
        search = config.module_search or ()
        reader = self._readers.get(search)
        if reader is None:
            reader = self._readers[search] = ModuleReader(search)
        return replace(config, module_reader=reader), conf_diags, conf_path

    def feature_reader(self, config: ResolveConfig) -> ModuleReader:
        """A module reader for features on the event loop (the worker's is not shared across threads)."""
        search = config.module_search or ()
        reader = self._feature_readers.get(search)
        if reader is None:
            reader = self._feature_readers[search] = ModuleReader(search)
        return reader

    def _load(self, path: str) -> LoadedFile:
        """The resolver's loader: open documents from the editor buffer, others from disk (cached)."""
        norm = os.path.normpath(path)
        for doc in list(self.docs.values()):
            if os.path.normpath(doc.path) == norm:
                entries = _normalized(list(doc.entries)[: doc.front_end_lines()], path)
                lines = tuple(e.text for e in entries)
                tree = _tree(path, entries)
                diags = tuple(d for e in entries for d in e.parse_diags)
                return LoadedFile(tree, lines, diags)
        try:
            st = os.stat(path)
            key = (st.st_mtime, st.st_size)
        except OSError:
            key = (0.0, -1)
        cached = self._files.get(norm)
        if cached is not None and cached[0] == key:
            return cached[1]
        source, read_diags = read_source(path)
        if source is None:
            loaded = LoadedFile(None, (), tuple(read_diags))
        else:
            tree, parse_diags = parse_lines(source.lines, path)
            loaded = LoadedFile(tree, source.lines, tuple(read_diags + parse_diags))
        self._files[norm] = (key, loaded)
        return loaded

    def _full_work(self, path: str, snapshot: list[LineEntry], matches_disk: bool) -> FullResult:
        started = time.perf_counter()
        n = len(snapshot)
        if n > 1 and snapshot[-1].text == "":
            n -= 1
        with bulk_allocation():
            entries = _normalized(snapshot[:n], path)
            tree = _tree(path, entries)
            lines = tuple(e.text for e in entries)
            config, conf_diags, conf_path = self._configure(path)
            program = resolve(tree, lines, config)
            parse_diags = [d for e in entries for d in e.parse_diags]
            everything = sort_unique([*parse_diags, *check(program), *conf_diags])
        by_line: dict[int, list[Diagnostic]] = {}
        other: dict[str, list[Diagnostic]] = {}
        loose: list[Diagnostic] = []
        for d in everything:
            if d.span.path == path:
                if 1 <= d.span.line <= n:
                    by_line.setdefault(d.span.line, []).append(d)
                else:
                    loose.append(d)
            else:
                other.setdefault(d.span.path, []).append(d)
        analysis = _analysis(path, entries, program, config, conf_path, other, loose, by_line)
        # (~0.2 s on 118k lines: here, not in a later job, so that no edit's check waits for it;
        # the collector paused: it makes 100,000s of small objects)
        with bulk_allocation():
            self._index_work(path, entries, analysis)
        if program.includes:
            analysis.included_calls()
        analysis.duration = time.perf_counter() - started
        self.timings["full"] = analysis.duration
        self.counts["full"] += 1
        # the nodes just built live as long as the document: keep the cyclic GC from rescanning them
        gc.collect(0)
        gc.freeze()
        return FullResult(
            entries,
            snapshot,
            {k: tuple(v) for k, v in by_line.items()},
            analysis,
            cacheable=not program.missed_files and matches_disk,
            # (built here, not by the first `Document.line_of` after an edit on the event loop)
            index={id(e): i for i, e in enumerate([*entries, *snapshot[len(entries) :]], 1)},
        )

    # ---- the incremental check
    async def _incremental(self, doc: Document) -> None:
        analysis = doc.analysis
        assert analysis is not None
        targets: list[tuple[int, LineEntry]] = []
        fe_lines = doc.front_end_lines()
        live = [e for e in doc.dirty if doc.line_of(e) is not None]
        doc.dirty = []
        seen: set[int] = set()
        for e in live:
            if id(e) in seen:
                continue
            seen.add(id(e))
            n = doc.line_of(e)
            assert n is not None
            if n > fe_lines:
                e.check_diags = e.parse_diags
                continue
            if e.parsed_line != n:
                fresh = parse_entry(e.text, doc.path, n)
                doc.entries[n - 1] = fresh
                if doc._index is not None:
                    doc._index[id(fresh)] = n
                e = fresh
            targets.append((n, e))
        version = doc.version
        rescope, doc.scope_changed = doc.scope_changed, False
        restop, doc.stops_changed = doc.stops_changed, False
        remodule, doc.modules_changed = doc.modules_changed, False
        gone, doc.gone_includes = doc.gone_includes, []
        loading = {id(e) for e in analysis.include_anchors.values()}
        gone = [e for e in gone if id(e) in loading]  # `&include` lines whose files go with them
        if targets or rescope or restop or remodule or gone:
            snapshot = list(doc.entries)
            loop = asyncio.get_running_loop()
            started = time.perf_counter()
            try:
                # (the cyclic garbage collector paused: a check may make many short-lived objects)
                outcome = await loop.run_in_executor(
                    self.executor,
                    _gc_paused,
                    self._incremental_checks,
                    doc.path,
                    snapshot,
                    analysis,
                    targets,
                    rescope,
                    restop,
                    remodule,
                    gone,
                )
            except _FullCheckNeeded:
                doc.full_needed = True
                doc.needs_check = True  # `_run` goes round again, to the full check
                return
            except BaseException:
                doc.full_needed = True  # what this check would have done is lost: start afresh
                raise
            self.timings["incremental"] = time.perf_counter() - started
            logger.info(
                "checked %s version %s incrementally in %.1f ms (SC506 in %.1f ms)",
                doc.uri,
                version,
                self.timings["incremental"] * 1000,
                self.timings.get("sc506", 0.0) * 1000,
            )
            self.counts["incremental"] += 1
            program = outcome.program
            if program is not None:
                analysis.program = program
                analysis._calls_by_event = None
                analysis.deps = analysis.deps | {os.path.normpath(p) for p in program.files_read}
            if outcome.includes:
                # they load nothing (or the check would have been a full one): the program only
                # learns of them (a missed file, and the variables their paths use)
                analysis.program = replace(
                    analysis.program,
                    includes=(*analysis.program.includes, *((d, None) for d in outcome.includes)),
                    missed_files=True,
                )
                analysis._included = None
            if outcome.anchors is not None:
                analysis.include_anchors, analysis.stop_anchors = outcome.anchors
                analysis._included = None
            if outcome.scope is not None:
                analysis.scope_entries = outcome.scope
            if outcome.stops is not None:
                analysis.stops = outcome.stops
            if outcome.sc506 is not None:
                analysis.sc506 = outcome.sc506
            analysis.unknown_first = outcome.unknown
            if outcome.other is not None:
                analysis.other = outcome.other
                self._set_others()
            if remodule:  # (typing an `&module` line makes a new entry per keystroke)
                analysis.directives = [e for e in analysis.directives if doc.line_of(e) is not None]
            results = outcome.results
            if program is not None:
                for name in outcome.resigned:
                    analysis.verdict_sigs[name] = program.callbacks.by_name.get(name)
                    analysis.off_verdict.pop(name, None)
            analysis.note_checked(results)
            analysis.index(e for _old, e, _diags in results)
            for old, e, diags in results:
                e.check_diags = diags
                if old is not e:
                    n = doc.line_of(old)
                    if n is not None:
                        doc.entries[n - 1] = e
                        if doc._index is not None:
                            doc._index[id(e)] = n
        if doc.version == version and not doc.dirty:
            self.publish(doc)

    def _incremental_checks(
        self,
        path: str,
        snapshot: list[LineEntry],
        analysis: Analysis,
        targets: list[tuple[int, LineEntry]],
        rescope: bool,
        restop: bool = False,
        remodule: bool = False,
        gone: Sequence[LineEntry] = (),
    ) -> _Outcome:
        """Check the changed lines; with `rescope`, first recompute the variables the `@! set`
        lines define and add every line that uses a variable whose definition changed. Returns,
        per line checked, (its entry, the entry to keep: re-parsed when its line moved, its
        diagnostics), the new scope when it was recomputed, and where each unknown callback is
        now reported (at its first use in the file), the new `stop` list when it changed, and
        the diagnostics of the included files when SC506 changed there.

        Included files are blocks at their `&include` line, fixed: their `stop`s sit at that
        line in the file order, and an edit whose effect reaches into them (a variable they use,
        a callback they call, a module they load) raises `_FullCheckNeeded`.

        With `restop` (a `stop` line changed), or when a `stop` moved to another line (its line is
        in the SC506 messages), the `stop` list is rebuilt. SC506 is grouped per `stop` (its first
        events marked, one summary), so `_regroup` works it out again at the end, for the file and
        the included ones.

        With `remodule` (a `&module` line changed), the `&module` lines are resolved again (the
        new program is returned) and the lines calling a callback whose signatures changed are
        checked again; raises `_FullCheckNeeded` when that is most of the file. When a module is
        not found (or found again), calls to unknown callbacks stop being reported (or are
        reported again, at their first use): only the SC301 lines change.

        An `&include` line that loads a file comes in as a block at its line (`_include_block`,
        from `_rescope`): its files, calls, variables and `stop`s join the analysis; `gone` are
        the `&include` lines that loaded files and are gone (edited or deleted): theirs leave it.
        The new analysis pieces come back in the outcome (`anchors`, `program`, `other`)."""
        program: Program | None = None
        module_results: list[tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]] = []
        also: set[str] = set()
        resigned: set[str] = set()
        callers: list[tuple[int, LineEntry, LineEntry]] = []
        stops_moved = False  # a `stop` of an included file came in or went
        modules_moved = False  # an included file's `&module` line came in or went
        if gone:
            count = len(analysis.stops)
            analysis, modules_moved = _without_blocks(analysis, gone)
            program = analysis.program
            stops_moved = len(analysis.stops) != count
        index = _positions(
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
        renewed = [(n, e, e) for n, e in targets if is_stop(e.stmt)] if restop else []
        blocks: list[_Block] = []
        extra: list[tuple[int, LineEntry, LineEntry]] = []
        if rescope:
            # (what `&include` lines load does not depend on the callbacks: their calls are bound
            # again below when an included `&module` line came in or went)
            scope, extra, blocks, dropped = self._rescope(path, snapshot, index, analysis, targets)
            if dropped:  # files read a variable that changed: they come in again (`blocks`)
                analysis, had_modules = _without_blocks(analysis, dropped)
                stops_moved = True
                modules_moved = modules_moved or had_modules
            if blocks:
                analysis = _with_blocks(analysis, blocks)
                program = analysis.program
                stops_moved = stops_moved or any(c.callback == "stop" for b in blocks for c in b.calls)
                modules_moved = modules_moved or any(b.module_directives for b in blocks)
            for n, _old, fresh in extra:
                index[id(fresh)] = n
            renewed += [(n, fresh, fresh) for n, _old, fresh in extra if is_stop(fresh.stmt)]
        if remodule or modules_moved:
            program, module_results, callers, also, resigned, other_now = self._remodule(
                path, snapshot, analysis, targets
            )
            analysis = replace(analysis, program=program, other=other_now)
            targets = [(n, e) for n, e in targets if type(e.stmt) is not ModuleDirective]
            for n, _old, e in callers:
                index[id(e)] = n
        loaded = {id(b.entry) for b in blocks}  # (their own diagnostics come with the block)
        pairs = [(n, e, e) for n, e in targets if id(e) not in loaded] + callers + extra
        stale = {id(old) for _n, old, _fresh in extra if is_stop(old.stmt)} if rescope else set()
        scope_entries = scope if scope is not None else analysis.scope_entries
        scope_lines = [(index.get(id(e)), defs) for e, defs in scope_entries]
        placed: list[tuple[int, LineEntry | None, Call]] = []
        changed_times: list[float | None] = []
        for entry, call in analysis.stops:
            if entry is None:  # in an included file: at its `&include` line, in program order
                through = analysis.stop_anchors.get(id(call))
                at = index.get(id(through)) if through is not None else None
                if at is None:
                    raise _FullCheckNeeded
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
            self._check_lines(path, analysis, renewed, scope_lines)  # resolves their calls
            for n, _old, e in renewed:
                for call in e.calls or ():
                    placed.append((n, e, call))
                    changed_times.append(call.time)
        if renewed or stops_moved:
            placed.sort(key=lambda t: (t[0], t[2].order))
        if stops_moved:
            changed_times.append(None)
        out = self._check_lines(path, analysis, pairs, scope_lines)
        out += [(b.entry, b.entry, b.own) for b in blocks]
        # the lines checked again for their calls' binding too, unless checked whole just now
        whole = {id(old) for _n, old, _e in pairs}
        out += [r for r in module_results if id(r[0]) not in whole]
        other: dict[str, list[Diagnostic]] | None = None
        # with a module not found, calls to unknown callbacks are not checked: no SC301 anywhere
        unchecked = analysis.program.unchecked_callbacks
        unknown = {} if unchecked else dict(analysis.unknown_first)
        if not unchecked:
            out += self._first_unknown(path, snapshot, analysis, index, out, unknown, scope_lines, also)
        new_stops: list[tuple[LineEntry | None, Call]] | None = None
        if changed_times:
            new_stops = [(e, call) for _n, e, call in placed]
        started = time.perf_counter()
        sc506, other = self._regroup(path, snapshot, analysis, out, placed, scope_lines, index)
        self.timings["sc506"] = time.perf_counter() - started
        includes = [e.stmt for _n, e in targets if type(e.stmt) is IncludeDirective and id(e) not in loaded]
        anchors = None
        if blocks or gone:
            anchors = (analysis.include_anchors, analysis.stop_anchors)
        if other is None and (blocks or gone or remodule or modules_moved):
            other = analysis.other
        return _Outcome(out, scope, unknown, new_stops, program, other, sc506, resigned, includes, anchors)

    def _remodule(
        self, path: str, snapshot: list[LineEntry], analysis: Analysis, targets: list[tuple[int, LineEntry]]
    ) -> tuple[
        Program,
        list[_Checked],
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
        old = analysis.program
        where = _positions(snapshot, analysis.directives)
        lines = [(n, e) for e in analysis.directives if (n := where.get(id(e), 0))]
        lines += [(n, e) for n, e in targets if type(e.stmt) is ModuleDirective and id(e) not in where]
        fresh = [(n, e, e if e.parsed_line == n else parse_entry(e.text, path, n)) for n, e in lines]
        ordered: list[tuple[int, int, Statement]] = [
            (n, -1, f.stmt) for n, _e, f in fresh if f.stmt is not None
        ]
        # the included files' `&module` lines, at the root line that includes them, in program order
        anchors = _positions(snapshot, list(analysis.include_anchors.values()))
        included_lines: dict[str, set[int]] = {}
        targets_of = {id(d): t for d, t in old.includes}
        for directive, target in old.includes:
            if directive.span.path != path or target is None:
                continue
            at = anchors.get(id(analysis.include_anchors.get(os.path.normpath(target))))
            if at is None:
                raise _FullCheckNeeded  # where its lines come in the file order is unknown
            for k, loaded in enumerate(_module_lines(old, target, targets_of)):
                ordered.append((at, k, loaded))
                included_lines.setdefault(loaded.span.path, set()).add(loaded.span.line)
        ordered.sort(key=lambda t: (t[0], t[1]))
        stmts = tuple(stmt for _n, _k, stmt in ordered)
        mini = resolve(ScenarioFile(Span(path, 1, 1, 1, 1), path, stmts), (), analysis.config)
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
                if prior is not None and name in after and _binding_key(prior) == _binding_key(after[name]):
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
        found = _positions(snapshot, wanted)
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
        rebind.sort(key=_first_int)
        if len(callers) > len(snapshot) // 4:
            raise _FullCheckNeeded  # most of the file to resolve again: the whole front end is as quick
        program = replace(
            old,
            modules=mini.modules,
            module_directives=mini.module_directives,
            callbacks=mini.callbacks,
            unchecked_callbacks=mini.unchecked_callbacks,
            missed_files=mini.missed_files or any(target is None for _d, target in old.includes),
            files_read=old.files_read | mini.files_read,
        )
        results += _rebound(program, [e for _n, e in rebind], free, grouped, analysis.converts)
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

    def _regroup(
        self,
        path: str,
        snapshot: list[LineEntry],
        analysis: Analysis,
        results: list[_Checked],
        placed: list[tuple[int, LineEntry | None, Call]],
        scope_lines: list[tuple[int | None, tuple[VariableDef, ...]]],
        index: dict[int, int],
    ) -> tuple[list[LineEntry] | None, dict[str, list[Diagnostic]] | None]:
        """SC506 of the whole document again, as `check` groups it: per `stop` (`placed`: at
        their lines, in program order), the first `SC506_SHOWN` events it cuts off, in program
        order (an included file's at its `&include` line), keep a warning each, and a `stop`
        cutting off more gets one summary. Only those lines get SC506: the others are counted
        (what they cost is a pass over the events timed after the earliest `stop`, from the
        calls each line keeps; a line whose calls are unknown is checked first). Updates
        `results` (the lines checked: SC506 set on them) and adds the lines whose SC506 changed;
        returns the lines now holding SC506 and the included files' diagnostics when their
        SC506 changed (None for either when nothing was to do)."""
        valid = [(n, e, c) for n, e, c in placed if c.time is not None and c.time >= 0]
        other_had = any(d.code == "SC506" for ds in analysis.other.values() for d in ds)
        if not valid and not analysis.sc506 and not other_had:
            return None, None
        rule = analysis.stop_rule([c for _n, _e, c in valid])
        stop_index = rule.stop_index
        members: dict[int, list[int]] = {}  # index of the stop -> root lines of the events it cuts off
        included: dict[int, list[tuple[int, int, Call]]] = {}  # -> (`&include` line, order, call)
        threshold = min((c.time for _n, _e, c in valid if c.time is not None), default=math.inf)
        start = bisect_right(analysis.times, threshold)
        # by the events timed after the earliest `stop` (a few), or by every line (an early `stop`)
        by_time = len(analysis.timed) - start <= max(len(snapshot) // 8, 2_000)
        wanted = [old for old, _e, _d in results] + analysis.sc506 + list(analysis.include_anchors.values())
        if by_time and valid:
            wanted += analysis.timed[start:]
        # (the lines the incremental check placed already, `index`, need no pass over the file)
        pos = {id(e): n for e in wanted if (n := index.get(id(e), 0)) and snapshot[n - 1] is e}
        missing = [e for e in wanted if id(e) not in pos]
        if missing:
            pos.update(_positions(snapshot, missing))
        at_result = {pos[id(old)]: k for k, (old, _e, _d) in enumerate(results) if id(old) in pos}
        if valid:
            unknown: list[tuple[int, LineEntry, LineEntry]] = []
            if by_time:
                seen: set[int] = set()
                pairs: list[tuple[int, LineEntry]] = [(n, results[k][1]) for n, k in at_result.items()]
                for e in analysis.timed[start:]:
                    n = pos.get(id(e), 0)
                    if n and n not in at_result and n not in seen:
                        seen.add(n)
                        pairs.append((n, e))
                pairs.sort(key=_first_int)
                scan: Iterable[tuple[int, LineEntry]] = pairs
            else:
                view = list(snapshot)
                for n, k in at_result.items():
                    view[n - 1] = results[k][1]
                scan = enumerate(view, 1)
            after_all, latest = rule.after_all, rule.latest  # (the rule's own cache, read inline)
            cut_off: list[list[int]] = [[] for _ in valid]
            # (an early `stop` puts 100,000 events after it: this loop is kept lean, from what
            # each line keeps of its call, `LineEntry.timing`)
            for n, e in scan:
                timing = e.timing
                if timing is None:
                    continue
                if timing is _SLOW:
                    k = -1
                    stmt = e.stmt
                    if type(stmt) is Event and _may_be_cut_off(stmt, threshold):
                        calls = e.calls
                        if calls is None:  # unknown: checked whole below
                            fresh = e if e.parsed_line == n else parse_entry(e.text, path, n)
                            unknown.append((n, e, fresh))
                            continue
                        k = _stop_index_of(calls, stop_index)
                else:
                    when, peers, call = timing
                    if when > latest:
                        k = after_all.get(peers, -2)
                        if k == -2:
                            k = stop_index(call)
                    elif when > threshold:
                        k = stop_index(call)
                    else:
                        continue
                if k >= 0:
                    cut_off[k].append(n)
            members = {k: found for k, found in enumerate(cut_off) if found}
            if unknown:  # check them whole (they resolve their calls), then count them
                for old, e, diags in self._check_lines(path, analysis, unknown, scope_lines):
                    n = pos.get(id(old)) or snapshot.index(old) + 1
                    at_result[n] = len(results)
                    results.append((old, e, diags))
                    k = _stop_index_of(e.calls or (), stop_index)
                    if k >= 0:
                        members.setdefault(k, []).append(n)
                for found in members.values():
                    found.sort()
            if analysis.program.includes:
                anchors = analysis.include_anchors
                for made in analysis.included_calls():
                    ev = made[0].event
                    seconds = ev.time.seconds
                    if seconds is None or seconds <= threshold or ev.callback.value == "stop":
                        continue
                    if len(ev.time.fields) > 3 or not math.isfinite(seconds):
                        continue
                    k = _stop_index_of(made, stop_index)
                    if k < 0:
                        continue
                    through = anchors.get(os.path.normpath(ev.span.path))
                    a = pos.get(id(through)) if through is not None else None
                    if a is None:
                        raise _FullCheckNeeded  # where its events come in the file order is unknown
                    hit = next(c for c in made if stop_index(c) == k)
                    included.setdefault(k, []).append((a, hit.order, hit))
        # the SC506 of each `stop`'s group, on the root lines and in the included files
        root: dict[int, list[Diagnostic]] = {}
        others: dict[str, list[Diagnostic]] = {}
        for k in sorted(members.keys() | included.keys()):
            stop_line, stop_entry, stop = valid[k]
            lines = members.get(k, [])
            inside = included.get(k, [])
            keyed: list[tuple[int, int, Call | None]] = [(n, -1, None) for n in lines[:SC506_SHOWN]]
            keyed += inside
            for n, _order, which in heapq.nsmallest(SC506_SHOWN, keyed, key=_program_order):
                if which is None:  # a root line: its call that the stop cuts off
                    e = results[at_result[n]][1] if n in at_result else snapshot[n - 1]
                    which = next(c for c in e.calls or () if stop_index(c) == k)
                    warning = rule.warning(which)
                    assert warning is not None
                    root.setdefault(n, []).append(warning)
                else:
                    warning = rule.warning(which)
                    assert warning is not None
                    others.setdefault(which.event.span.path, []).append(warning)
            count = len(lines) + len(inside)
            if count <= SC506_SHOWN:
                continue
            spans: dict[str, tuple[int, int]] = {}
            firsts: list[tuple[tuple[int, int], str]] = []
            if lines:
                spans[path] = (lines[0], lines[-1])
                firsts.append(((spans[path][0], -1), path))
            per_file: dict[str, list[tuple[int, int, int]]] = {}
            for a, order, which in inside:
                per_file.setdefault(which.event.span.path, []).append((a, order, which.event.span.line))
            for p, spots in per_file.items():
                spans[p] = (min(x[2] for x in spots), max(x[2] for x in spots))
                firsts.append((min((x[0], x[1]) for x in spots), p))
            ordered = {p: spans[p] for _first, p in sorted(firsts)}  # files in the order first met
            summary = stop_summary(stop, count, ordered)
            if stop_entry is None:
                others.setdefault(stop.event.span.path, []).append(summary)
            else:
                span = replace(summary.span, line=stop_line, end_line=stop_line)
                root.setdefault(stop_line, []).append(replace(summary, span=span))
        # set them: on the lines that hold SC506 now or held it before
        touched = set(root)
        for e in analysis.sc506:
            held = pos.get(id(e))  # (its line, when it is still there)
            if held is not None:
                touched.add(held)
        holders: list[LineEntry] = []
        for n in sorted(touched):
            k_result = at_result.get(n)
            if k_result is not None:
                old, e, diags = results[k_result]
            else:
                old = e = snapshot[n - 1]
                diags = e.check_diags if e.check_diags is not None else e.parse_diags
            mine = root.get(n, [])
            if mine:
                holders.append(e)
            kept = [d for d in diags if d.code != "SC506"]
            if not mine and len(kept) == len(diags):
                continue
            after = tuple(sort_unique([*kept, *mine]))
            if k_result is not None:
                results[k_result] = (old, e, after)
            elif after != diags:
                results.append((old, e, after))
        other: dict[str, list[Diagnostic]] | None = None
        for p in {p for p, ds in analysis.other.items() if any(d.code == "SC506" for d in ds)} | set(others):
            before = analysis.other.get(p, [])
            after_other = sort_unique([*(d for d in before if d.code != "SC506"), *others.get(p, [])])
            if after_other != sort_unique(before):
                if other is None:
                    other = dict(analysis.other)
                other[p] = after_other
        return holders, other

    def _check_lines(
        self,
        path: str,
        analysis: Analysis,
        pairs: list[tuple[int, LineEntry, LineEntry]],
        scope_lines: list[tuple[int | None, tuple[VariableDef, ...]]],
    ) -> list[tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]]:
        """Resolve and check lines apart from the rest of the file, each with the variables in scope
        on it replayed first (lines with the same variables in scope together). SC506 is left to
        `_regroup` (it depends on the other events a `stop` cuts off)."""
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
                    replay.append(_set_event(var, span))
            stmts = [e.stmt for _, _, e in group if e.stmt is not None]
            tree = ScenarioFile(Span(path, 1, 1, 1, 1), path, (*replay, *stmts))
            mini = resolve(tree, (), analysis.config)
            if any(target is not None for _d, target in mini.includes):
                raise _FullCheckNeeded  # an `&include` line that loads a file: its lines come in
            wanted = {id(s) for s in stmts}
            lines = {n for n, _, _ in group}
            calls = tuple(c for c in mini.calls if id(c.event) in wanted)
            per_stmt: dict[int, list[Call]] = {}
            for c in calls:
                per_stmt.setdefault(id(c.event), []).append(c)
            for _n, _old, e in group:
                e.calls = tuple(per_stmt.get(id(e.stmt), ()))
                e.timing = _timing(e.stmt, e.calls)
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

    def _first_unknown(
        self,
        path: str,
        snapshot: list[LineEntry],
        analysis: Analysis,
        index: dict[int, int],
        out: list[tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]],
        unknown: dict[str, LineEntry],
        scope_lines: list[tuple[int | None, tuple[VariableDef, ...]]],
        also: Iterable[str] = (),
    ) -> list[tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]]:
        """An unknown callback is reported at its first use in the file only: after lines calling
        one changed (or for the names in `also`), find its first use again (the first line that
        makes a call of it: a loop whose bounds are in error makes none), check that line, and
        keep SC301 there alone (in `out` and in what this returns: the lines checked for it).
        Updates `unknown`."""
        known = analysis.program.callbacks.by_name
        checked = {id(old) for old, _e, _d in out} | {id(e) for _old, e, _d in out}
        names: set[str] = set(also)
        for _old, e, _d in out:
            name = _callback(e.stmt)
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
            n
            for n, e in enumerate(snapshot, 1)
            if type(stmt := e.stmt) is Event and stmt.callback.value in names
        ]
        for n in hits:
            e = kept.get(id(snapshot[n - 1]), snapshot[n - 1])
            name = _callback(e.stmt)
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
                        previous
                        if previous.parsed_line == n_prev
                        else parse_entry(previous.text, path, n_prev)
                    )
                    more.append((n_prev, previous, fresh))
                    checked.add(id(previous))
        extra = self._check_lines(path, analysis, more, scope_lines) if more else []
        renewed = {id(old): fresh for _n, old, fresh in more}
        first = {name: (n, renewed.get(id(e), e)) for name, (n, e) in first.items()}
        holders = {id(e) for _n, e in first.values()}
        for name in names:
            if name in first:
                unknown[name] = first[name][1]
            else:
                unknown.pop(name, None)

        def keep(e: LineEntry, diags: tuple[Diagnostic, ...]) -> tuple[Diagnostic, ...]:
            name = _callback(e.stmt)
            if name not in names or id(e) in holders:
                return diags
            return tuple(d for d in diags if d.code != "SC301")

        out[:] = [(old, e, keep(e, d)) for old, e, d in out]
        for k, (old, e, d) in enumerate(extra):
            fixed = keep(e, d)
            if fixed is not d:
                extra[k] = (old, e, fixed)
        return extra

    def _rescope(
        self,
        path: str,
        snapshot: list[LineEntry],
        index: dict[int, int],
        analysis: Analysis,
        targets: list[tuple[int, LineEntry]],
    ) -> tuple[
        list[tuple[LineEntry, tuple[VariableDef, ...]]],
        list[tuple[int, LineEntry, LineEntry]],
        list[_Block],
        list[LineEntry],
    ]:
        """The variables in scope after `@! set` or `&include` lines changed, the unchanged lines
        to check again: those using a variable whose definition changed, and those with an
        undefined variable (whose did-you-mean may change); the files the changed `&include`
        lines load, resolved with the variables in scope on their line (see `_include_block`),
        and those of unchanged `&include` lines whose files read a variable that changed above
        them; and the latter lines (their files, as they were, leave the analysis)."""
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
        blocks: list[_Block] = []
        dropped: list[LineEntry] = []  # `&include` lines in place whose files are resolved again
        # the `&include` lines that load files (some define no variable), and what their files read
        reads = _block_reads(analysis)
        listed = {id(e) for _n, e, _defs in candidates}
        for e in reads:
            n = index.get(id(e))
            if n is None:
                raise _FullCheckNeeded  # (a line that loads files is gone only through `gone`)
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
                    block = self._include_block(path, n, e, lines, analysis)
                    if block is None and block_reads is not None:
                        raise _FullCheckNeeded  # its file no longer found: a missed include
                    defs = block.defs if block is not None else ()
                    if block is not None:
                        blocks.append(block)
                else:
                    defs = self._set_defs(path, e, scope, analysis.config)
                affected.update(v.name for v in defs)
            if defs:
                scope.append((e, defs))
                lines.append((n, defs))
        if affected and any(
            target is None and d.span.path == path and not affected.isdisjoint(used_names(d))
            for d, target in analysis.program.includes
        ):
            raise _FullCheckNeeded  # an `&include` line that missed its file may find one now
        # one quick pass over the text, then a closer look at the few lines it keeps
        users = analysis.var_users
        where = _positions(snapshot, users)
        for e in sorted(users, key=lambda u: where.get(id(u), 0)):
            n = where.get(id(e), 0)
            if n == 0 or id(e) in changed or e.stmt is None:
                continue
            if refers_to(e.stmt, affected) or any(d.code == "SC401" for d in e.check_diags or ()):
                fresh = e if e.parsed_line == n else parse_entry(e.text, path, n)
                extra.append((n, e, fresh))
        return scope, extra, blocks, dropped

    def _include_block(
        self,
        path: str,
        line: int,
        entry: LineEntry,
        scope_lines: list[tuple[int, tuple[VariableDef, ...]]],
        analysis: Analysis,
    ) -> _Block | None:
        """What an `&include` line loads, resolved as the whole check would, with the variables
        in scope on its line replayed first, and checked (SC506 aside: see `_regroup`); None
        when it loads no file. Raises `_FullCheckNeeded` when what it loads comes in twice (a
        file another line includes too), or includes the root file. (Its `&module` lines are
        resolved with the others afterwards, and its calls bound again: `_remodule`.)"""
        replay = [
            _set_event(
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
            raise _FullCheckNeeded
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
        return _Block(
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

    def _set_defs(
        self,
        path: str,
        entry: LineEntry,
        scope: list[tuple[LineEntry, tuple[VariableDef, ...]]],
        config: ResolveConfig,
    ) -> tuple[VariableDef, ...]:
        """The variables an `@! set` line defines, resolved with the variables set above it."""
        stmt = entry.stmt
        if type(stmt) is not Event or stmt.time.seconds is not None:
            return ()
        replay = [_set_event(var, var.span) for _e, defs in scope for var in defs]
        tree = ScenarioFile(Span(path, 1, 1, 1, 1), path, (*replay, stmt))
        mini = resolve(tree, (), config)
        return tuple(v for v in mini.variables if v.span is stmt.span)

    # ---- diagnostics of other files, and the check cache
    def _set_others(self) -> None:
        """Publish the diagnostics of files that are not open but that open documents include."""
        merged: dict[str, list[Diagnostic]] = {}
        for d in self.docs.values():
            if d.analysis is None:
                continue
            for p, ds in d.analysis.other.items():
                merged.setdefault(p, []).extend(ds)
        open_paths = {os.path.normpath(d.path) for d in self.docs.values()}
        for p in set(merged) | set(self._others):
            if os.path.normpath(p) in open_paths:
                continue
            found = tuple(sort_unique(merged.get(p, [])))
            if self._others.get(p, ()) != found:
                self._others[p] = found
                self.publish_other(p, list(found))

    def _cache_options(self) -> list[str]:
        conf = self.options.conf
        return [f"conf={os.path.abspath(conf) if conf else ''}", f"instances={self.options.instances}"]

    def _publish_cached(self, doc: Document) -> None:
        """Diagnostics from `gscen check`'s cache for an unchanged file, before the first check ends."""
        try:
            cached = cache.lookup(doc.path, self._cache_options(), self.options.environment)
        except Exception:  # the cache is only an accelerator
            logger.exception("reading the check cache failed")
            return
        if cached is not None:
            self._publish_early(doc, cached)
            doc.early = True

    def _publish_early(self, doc: Document, found: list[Diagnostic]) -> None:
        """Publish `gscen check`'s diagnostics of the file on disk (the same text) before the
        document's own analysis is ready."""
        root = os.path.normpath(doc.path)
        folder = os.path.dirname(doc.path)
        lines: dict[int, list[Diagnostic]] = {}
        for d in found:
            p = d.span.path if os.path.isabs(d.span.path) else os.path.join(folder, d.span.path)
            if os.path.normpath(p) != root:
                continue
            lines.setdefault(d.span.line, []).append(d)
        for n, ds in lines.items():
            e = doc.entry(n)
            if e is not None:
                e.check_diags = tuple(ds)
        for e in doc.entries:
            if e.check_diags is None:
                e.check_diags = ()
        self.publish(doc)
        for e in doc.entries:
            e.check_diags = None

    def _store_cache(self, path: str, analysis: Analysis, diags: dict[int, tuple[Diagnostic, ...]]) -> None:
        try:
            program = analysis.program
            files = set(program.files_read)
            if analysis.conf_path:
                files.add(os.path.abspath(analysis.conf_path))
            else:
                files.add(os.path.abspath(path))
            env = {n: self.options.environment.get(n) for n in program.environment_names}
            everything = [d for ds in diags.values() for d in ds]
            everything += analysis.loose + [d for ds in analysis.other.values() for d in ds]
            cache.store(path, self._cache_options(), files, env, sort_unique(everything))
        except Exception:
            logger.exception("writing the check cache failed")

    def shutdown(self) -> None:
        """The client asked the server to shut down: check nothing more."""
        self.closed = True
        self.executor.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------- helpers


def _record_calls(path: str, entries: list[LineEntry], calls: Iterable[Call]) -> None:
    """Keep on each entry the calls a full check made of it (for SC506 when `stop`s change)."""
    per_line: dict[int, list[Call]] = {}
    for c in calls:
        span = c.event.span
        if span.path == path:
            per_line.setdefault(span.line, []).append(c)
    empty: tuple[Call, ...] = ()
    for e in entries:
        e.calls = empty
        e.timing = None
    for n, found in per_line.items():
        if 1 <= n <= len(entries):
            e = entries[n - 1]
            e.calls = calls = tuple(found)
            e.timing = _timing(e.stmt, calls)


# `LineEntry.timing` of a line whose calls are unknown, or several (compared by identity)
_SLOW: tuple[float, int, Call] = (math.nan, 0, cast(Call, None))


def _block_reads(analysis: Analysis) -> dict[LineEntry, tuple[set[str], bool]]:
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


def _module_lines(program: Program, path: str, targets_of: dict[int, str | None]) -> list[ModuleDirective]:
    """The `&module` lines of an included file and of those it includes, in program order."""
    tree = program.files.get(path)
    out: list[ModuleDirective] = []
    for stmt in tree.statements if tree is not None else ():
        if type(stmt) is ModuleDirective:
            out.append(stmt)
        elif type(stmt) is IncludeDirective:
            target = targets_of.get(id(stmt))
            if target is not None and target != path:
                out += _module_lines(program, target, targets_of)
    return out


def _without_blocks(analysis: Analysis, gone: Sequence[LineEntry]) -> tuple[Analysis, bool]:
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


def _with_blocks(analysis: Analysis, blocks: list[_Block]) -> Analysis:
    """The analysis with the files `&include` lines now load (see `_Block`) at their lines."""
    program = analysis.program
    anchors = dict(analysis.include_anchors)
    stop_anchors = dict(analysis.stop_anchors)
    stops = list(analysis.stops)
    other = dict(analysis.other)
    for b in blocks:
        for p in b.files:
            key = os.path.normpath(p)
            if key in anchors:
                raise _FullCheckNeeded  # the same file through two lines: one anchor per file
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


def _rebound(
    program: Program,
    ordered: list[LineEntry],
    free: list[LineEntry],
    grouped: Sequence[dict[tuple[object, ...], tuple[Call, list[LineEntry]]]],
    converts: dict[TypeSpec, dict[str, bool]] | None = None,
) -> list[_Checked]:
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
    out: list[_Checked] = []
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


def _binding_key(sigs: object) -> object:
    """What decides whether a call binds to a callback's signatures cleanly (not their texts, nor
    where they are defined)."""
    if not isinstance(sigs, list):
        return sigs
    return tuple(
        (tuple((p.name, p.kind, p.type, p.has_default) for p in sig.params), sig.varargs, sig.varkw)
        for sig in sigs
    )


def _timing(stmt: Statement | None, calls: tuple[Call, ...]) -> tuple[float, int, Call] | None:
    """What SC506 reads of a line's calls: (time, id of the peer set, the call) of an event's
    only call; None when no `stop` can cut it off (not an event, no call, a `stop`, a time in
    error); `_SLOW` for several calls (a loop)."""
    if not calls or type(stmt) is not Event or not _may_be_cut_off(stmt, -math.inf):
        return None
    if len(calls) > 1:
        return _SLOW
    call = calls[0]
    if call.time is None:
        return None
    return (call.time, id(call.peers), call)


def _may_be_cut_off(stmt: Event, threshold: float) -> bool:
    """Whether an event is timed after `threshold` and may be cut off by a `stop`: not a `stop`,
    its time not in error (more than three fields, not finite), as `check` decides."""
    t = stmt.time
    seconds = t.seconds
    return (
        seconds is not None
        and threshold < seconds < math.inf
        and len(t.fields) <= 3
        and stmt.callback.value != "stop"
    )


def _stop_index_of(calls: Iterable[Call], stop_index: Callable[[Call], int]) -> int:
    """The `stop` (its index in the rule's list) that cuts off an event with these calls: the
    one of its first call that comes after a shared `stop`, as `check` finds it; -1 when none."""
    for call in calls:
        k = stop_index(call)
        if k >= 0:
            return k
    return -1


def _timed_after(stmt: Statement | None, threshold: float) -> bool:
    """Whether a statement is an event timed after `threshold` seconds."""
    if type(stmt) is not Event:
        return False
    seconds = stmt.time.seconds
    return seconds is not None and seconds > threshold


def _first_int(pair: tuple[int, LineEntry]) -> int:
    return pair[0]


def _program_order(item: tuple[int, int, Call | None]) -> tuple[int, int]:
    """A root line's events (order -1) come before an included file's, at its `&include` line."""
    return item[0], item[1]


def _callback(stmt: Statement | None) -> str | None:
    return stmt.callback.value if type(stmt) is Event else None


def _positions(snapshot: list[LineEntry], entries: list[LineEntry]) -> dict[int, int]:
    """1-based positions in `snapshot` of `entries` (by identity), absent ones left out. An entry
    still on the line it was parsed on is found there; the others by a search."""
    out: dict[int, int] = {}
    size = len(snapshot)
    moved: list[LineEntry] = []
    for e in entries:
        n = e.parsed_line
        if 0 < n <= size and snapshot[n - 1] is e:
            out[id(e)] = n
        else:
            moved.append(e)
    if len(moved) > 16:
        wanted = {id(e) for e in moved}
        out.update({id(e): i for i, e in enumerate(snapshot, 1) if id(e) in wanted})
        return out
    for e in moved:
        try:
            out[id(e)] = snapshot.index(e) + 1  # identity: entries define no __eq__
        except ValueError:
            continue
    return out


_Checked = tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]  # (entry, entry to keep, diagnostics)


@dataclass
class _Outcome:
    """What an incremental check found (see `DocumentStore._incremental_checks`)."""

    results: list[_Checked]
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


@dataclass
class _Block:
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


_T = TypeVar("_T")


def _gc_paused(work: Callable[..., _T], *args: Any) -> _T:
    """`work(*args)` with the cyclic garbage collector paused (see `parse.bulk_allocation`)."""
    with bulk_allocation():
        return work(*args)


class _FullCheckNeeded(Exception):
    """An incremental check found that only the whole front end can answer."""


def _first(pair: tuple[float, LineEntry]) -> float:
    return pair[0]


def _position(snapshot: list[LineEntry], entry: LineEntry) -> int | None:
    """The 1-based position of an entry in `snapshot` (by identity), None when it is gone."""
    try:
        return snapshot.index(entry) + 1  # identity: entries define no __eq__
    except ValueError:
        return None


def _disk_text(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _normalized(entries: list[LineEntry], path: str) -> list[LineEntry]:
    """The entries with every stale one re-parsed at its current line."""
    if entries and all(e.parsed_line == 0 for e in entries[:1]) and all(e.parsed_line == 0 for e in entries):
        return parse_entries([e.text for e in entries], path)  # a new text: the bulk parser
    out = entries
    for i, e in enumerate(entries):
        if e.parsed_line != i + 1:
            if out is entries:
                out = list(entries)
            fresh = parse_entry(e.text, path, i + 1)
            out[i] = fresh
    return out


def _tree(path: str, entries: list[LineEntry]) -> ScenarioFile:
    last = len(entries) or 1
    span = Span(path, 1, 1, last, len(entries[-1].text) + 1 if entries else 1)
    return ScenarioFile(span, path, tuple(e.stmt for e in entries if e.stmt is not None))


def _analysis(
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
        name = _callback(e.stmt) if e is not None else None
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


def scope_at(doc: Document, line: int) -> dict[str, tuple[VariableDef, int | None]]:
    """The `@! set` variables visible on a line, from the last check: name -> (definition, the
    definition's current line in this document, or None when it is in an included file)."""
    a = doc.analysis
    if a is None:
        return {}
    out: dict[str, tuple[VariableDef, int | None]] = {}
    for e, defs in a.scope_entries:
        n = doc.line_of(e)
        if n is None or n >= line:
            continue
        for var in defs:
            out[var.name] = (var, n if var.span.path == doc.path else None)
    return out
