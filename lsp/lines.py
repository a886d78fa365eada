"""The line model: one `LineEntry` per line of an open document, and what is read off a line.

Takes a line's text (and the file's path and the line's number) and returns its entry: the
statement `parse_line` made of it, its parse diagnostics, and, once checked, its diagnostics and
the calls the check resolved of it. Also the questions the store and the incremental passes ask
of one line (is it structural, a `stop`, a `set`; which variables does it use; what SC506 reads
of its calls) and of a list of entries (where each one is now: `positions_in`). No I/O.

Lines inserted or deleted above an entry leave its spans with an old line number (re-parsing the
rest of a 118k-line file on every Enter would cost seconds): an entry records the line it was
parsed at, features read spans through `Document.line_of`, and a full check re-parses stale
entries first (`normalized`) so that what it resolves is exactly what `gscen check` would.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from scenario_lang.diagnostics import Diagnostic
from scenario_lang.nodes import (
    Event,
    IncludeDirective,
    ModuleDirective,
    ScenarioFile,
    Span,
    Statement,
    VarRef,
)
from scenario_lang.parse import parse_line, parse_lines
from scenario_lang.resolve import Call
from scenario_lang.signatures import PROCESS_BUILTINS

_NEWLINE = re.compile(r"\r\n|\r|\n")


_INCLUDE_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")  # as the resolver expands `&include` targets


# `set` and `stop` change other lines' diagnostics; so do the process faults (SC511 follows them in
# time order over the whole file): a line that is or was one is checked with the whole front end
STRUCTURAL_CALLBACKS = frozenset({"set", "stop"}) | PROCESS_BUILTINS


# `LineEntry.timing` of a line whose calls are unknown, or several (compared by identity)
SLOW: tuple[float, int, Call] = (math.nan, 0, cast(Call, None))


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
        # what SC506 reads of its calls (`timing_of`): None when no `stop` can cut them off
        self.timing: tuple[float, int, Call] | None = SLOW
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


def timing_of(stmt: Statement | None, calls: tuple[Call, ...]) -> tuple[float, int, Call] | None:
    """What SC506 reads of a line's calls: (time, id of the peer set, the call) of an event's
    only call; None when no `stop` can cut it off (not an event, no call, a `stop`, a time in
    error); `SLOW` for several calls (a loop)."""
    if not calls or type(stmt) is not Event or not may_be_cut_off(stmt, -math.inf):
        return None
    if len(calls) > 1:
        return SLOW
    call = calls[0]
    if call.time is None:
        return None
    return (call.time, id(call.peers), call)


def may_be_cut_off(stmt: Event, threshold: float) -> bool:
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


def stop_index_of(calls: Iterable[Call], stop_index: Callable[[Call], int]) -> int:
    """The `stop` (its index in the rule's list) that cuts off an event with these calls: the
    one of its first call that comes after a shared `stop`, as `check` finds it; -1 when none."""
    for call in calls:
        k = stop_index(call)
        if k >= 0:
            return k
    return -1


def record_calls(path: str, entries: list[LineEntry], calls: Iterable[Call]) -> None:
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
            e.timing = timing_of(e.stmt, calls)


def positions_in(snapshot: list[LineEntry], entries: list[LineEntry]) -> dict[int, int]:
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


def normalized(entries: list[LineEntry], path: str) -> list[LineEntry]:
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


def tree_of(path: str, entries: list[LineEntry]) -> ScenarioFile:
    last = len(entries) or 1
    span = Span(path, 1, 1, last, len(entries[-1].text) + 1 if entries else 1)
    return ScenarioFile(span, path, tuple(e.stmt for e in entries if e.stmt is not None))


def callback_of(stmt: Statement | None) -> str | None:
    return stmt.callback.value if type(stmt) is Event else None


def first_int(pair: tuple[int, LineEntry]) -> int:
    return pair[0]
