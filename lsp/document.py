"""`Document`: one open document's lines and version, edited in place, and its last analysis.

Takes the editor's text and its range edits (in code points); re-parses only the lines an edit
touches and records which kinds of structural lines it touched (`@! set`, `stop`, `&module`,
`&include`), which is what the store's next check reads to choose its incremental passes.
Features read lines, entries and positions from it (`line_of` for entries parsed above moved
lines), and the variables in scope on a line (`scope_at`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from scenario_lang.nodes import (
    IncludeDirective,
    ModuleDirective,
)
from scenario_lang.resolve import VariableDef

from .analysis import Analysis
from .lines import LineEntry, binds, is_stop, is_structural, parse_entry, split_text

# a full-text change touching more lines than this is parsed by the worker, as a new text
MAX_DIFF_LINES = 2_000


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
    checked: asyncio.Event = field(default_factory=asyncio.Event)  # set when no check is pending
    hurry: asyncio.Event = field(default_factory=asyncio.Event)  # a request waits: check at once
    waiting: int = 0  # requests waiting for the pending check
    _index: dict[int, int] | None = None
    _full_text: str | None = None  # the text of the last full-text change, while no edit came since

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
        self._full_text = None

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
        self.replace_lines(sl, el + 1, split_text(prefix + new_text + suffix))

    def replace_text(self, text: str) -> None:
        """The whole new text (a full-text change): replaced as the one range edit it amounts to
        (the lines from the first to the last character that differ), so it takes the incremental
        path of a range edit. The difference is found on the texts (`common_prefix`: slices
        compared in C), not line by line: a 118k-line text costs a few milliseconds. Before the
        first check, or when many lines changed, the text is new (`replace_all`): the worker's
        bulk parse is quicker than parsing line by line on the event loop."""
        entries = self.entries
        if self.analysis is None or not entries or "\r" in text:
            self.replace_all(text)
            self._full_text = text
            return
        old = self._full_text
        if old is None:
            old = "\n".join([e.text for e in entries])
        self._full_text = text  # (kept for the next full-text change: joining the lines costs more)
        head = common_prefix(old, text)
        if head == len(old) == len(text):
            return
        tail = common_prefix(old, text, from_end=True, limit=min(len(old), len(text)) - head)
        first = old.count("\n", 0, head)  # the first line that differs (0-based), in both texts
        last_old = old.count("\n", head, len(old) - tail) + first
        starts_at = old.rfind("\n", 0, head) + 1
        ends_at = text.find("\n", len(text) - tail)
        texts = text[starts_at : ends_at if ends_at >= 0 else len(text)].split("\n")
        if len(texts) > MAX_DIFF_LINES:
            self.replace_all(text)
            self._full_text = text
            return
        self.replace_lines(first, last_old + 1, texts)
        self._full_text = text

    def replace_lines(self, start: int, end: int, texts: list[str]) -> None:
        """Replace lines `start` to `end` (0-based, `end` excluded) by lines with `texts`."""
        self._full_text = None
        sl = start
        old = self.entries[start:end]
        if len(texts) == len(old) and all(o.text == t for o, t in zip(old, texts, strict=True)):
            return
        new = [parse_entry(t, self.path, sl + 1 + i) for i, t in enumerate(texts)]
        self.entries[start:end] = new
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


def common_prefix(a: str, b: str, from_end: bool = False, limit: int | None = None) -> int:
    """How many characters `a` and `b` share at their start (or, `from_end`, at their end), at
    most `limit`: 64k-character slices compared at a time, then halved around the difference."""
    n = min(len(a), len(b)) if limit is None else limit
    la, lb = len(a), len(b)

    def same(i: int, j: int) -> bool:  # characters i to j (excluded) from the start, or the end
        if from_end:
            return a[la - j : la - i] == b[lb - j : lb - i]
        return a[i:j] == b[i:j]

    i = 0
    while i < n:
        j = min(i + 65_536, n)
        if not same(i, j):
            while j - i > 1:
                mid = (i + j) // 2
                if same(i, mid):
                    i = mid
                else:
                    j = mid
            return i
        i = j
    return n
