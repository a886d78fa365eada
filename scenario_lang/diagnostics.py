"""Diagnostics: the `Diagnostic` value, the table of SCxxx codes, and text and JSON rendering.

Every stage reports user mistakes as `Diagnostic` values (never exceptions). Codes are grouped:
SC1xx syntax, SC2xx resolution (`&module`, `&include`), SC3xx callbacks and arguments, SC4xx variables,
SC5xx peers and time, SC6xx `.conf` files. A code is never reused for another meaning.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .nodes import Span


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    severity: Severity
    title: str


def _table(*codes: Code) -> dict[str, Code]:
    table: dict[str, Code] = {}
    for c in codes:
        assert c.code not in table, c.code
        table[c.code] = c
    return table


E, W = Severity.ERROR, Severity.WARNING

CODES: Mapping[str, Code] = _table(
    # SC1xx: syntax and input
    Code("SC101", E, "invalid syntax"),
    Code("SC102", E, "unterminated quote"),
    Code("SC103", E, "unknown directive"),
    Code("SC104", E, "directive without an argument"),
    Code("SC105", E, "unreadable input (missing, a folder, binary or not UTF-8)"),
    Code("SC106", E, "malformed `for` loop"),
    Code("SC107", E, "invalid peer spec"),
    Code("SC108", E, "invalid time spec"),
    Code("SC110", W, "whitespace that Gumby splits differently"),
    Code("SC111", W, "indented comment or directive (Gumby does not recognise it)"),
    Code("SC112", W, "`#include`/`#module` is a comment, not a directive"),
    Code("SC113", W, "argument that looks like a trailing comment"),
    # SC2xx: resolution
    Code("SC201", E, "module not found"),
    Code("SC202", E, "module path names a Python module, not a class"),
    Code("SC203", E, "class not found in module"),
    # SC204 (Gumby module without an equivalent, a warning) is retired: such a module is SC201 now.
    Code("SC205", E, "module path is not a dotted name"),
    Code("SC206", W, "module loaded twice"),
    Code("SC207", W, "the `ExperimentModule` base class defines no callbacks"),
    Code("SC208", E, "module source cannot be read"),
    Code("SC210", E, "included file not found"),
    Code("SC211", E, "include cycle"),
    Code("SC212", E, "included path is not a file"),
    # SC3xx: callbacks and arguments
    Code("SC301", E, "unknown callback"),
    Code("SC302", E, "missing argument"),
    Code("SC303", E, "too many positional arguments"),
    Code("SC304", E, "unknown named argument"),
    Code("SC305", E, "argument given twice"),
    Code("SC306", E, "argument does not convert to the parameter's type"),
    Code("SC307", W, "named argument with an empty value"),
    Code("SC308", W, "callback defined by several modules (all are called)"),
    Code("SC309", E, "`isolate_ipv8_overlay` names an overlay no launcher loads"),
    Code("SC310", E, "module callback with the name of a fault or network built-in"),
    Code("SC311", E, "network condition in a scenario without an IPv8 module"),
    Code("SC312", E, "value out of range (a negative latency, a loss above 100%)"),
    # SC4xx: variables
    Code("SC401", E, "undefined variable"),
    Code("SC402", W, "timed `set` does not change substitution"),
    Code("SC403", W, "loop variable hides a variable of the same name"),
    Code("SC404", E, "invalid variable name in `set`"),
    Code("SC405", E, "`set` with a peer spec"),
    # SC5xx: peers and time
    Code("SC501", E, "peer number out of range"),
    Code("SC502", E, "reversed peer range"),
    Code("SC503", W, "peer spec selects no peer"),
    Code("SC504", E, "negative time"),
    Code("SC505", E, "time is not finite"),
    Code("SC506", W, "event after the peer's `stop`"),
    Code("SC507", E, "time spec with more than three fields"),
    Code("SC508", E, "peer number or loop bound is not an integer"),
    Code("SC509", W, "event beyond `experiment_time`"),
    Code("SC510", E, "partition groups that overlap"),
    Code("SC511", E, "process fault on a peer that is not there (crashed, or not paused for `resume`)"),
    Code("SC512", E, "`partition` or `heal` with a peer selection of its own"),
    Code("SC513", E, "process fault at `@!` (before the start)"),
    # SC6xx: .conf files
    Code("SC601", E, "experiment file cannot be read"),
    Code("SC602", E, "value of the wrong type"),
    Code("SC603", E, "duplicate key"),
    Code("SC604", E, "malformed experiment file"),
    Code("SC605", E, "scenario file not found"),
    Code("SC606", E, "unknown port placeholder"),
    Code("SC607", W, "keys that differ only in case"),
    Code("SC608", W, "repeated `-c` starts one command per `-c` (pre-2020 process guard meaning)"),
    Code("SC609", W, "setting ignored by gscen"),
    Code("SC610", W, "nothing ends the run (no `stop`, no `experiment_time`)"),
)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem at one place. `suggestion` is the help text; `replacement`, if set, is the text
    that replaces `span` to apply it (a safe fix, used by `fmt --fix`-style tools and the LSP)."""

    code: str
    severity: Severity
    message: str
    span: Span
    notes: tuple[str, ...] = ()
    suggestion: str | None = None
    replacement: str | None = field(default=None, compare=True)

    @property
    def sort_key(self) -> tuple[str, int, int, str, str, tuple[str, ...]]:
        return (self.span.path, self.span.line, self.span.column, self.code, self.message, self.notes)

    def to_json(self) -> dict[str, object]:
        """The JSON form; quoted source text longer than `QUOTE_LIMIT` is cut (`clip_quotes`)."""
        s = self.span
        return {
            "path": s.path,
            "line": s.line,
            "column": s.column,
            "end_line": s.end_line,
            "end_column": s.end_column,
            "severity": self.severity.value,
            "code": self.code,
            "message": clip_quotes(self.message),
            "suggestion": None if self.suggestion is None else clip_quotes(self.suggestion),
            "notes": [clip_quotes(n) for n in self.notes],
            "replacement": self.replacement,
        }


QUOTE_LIMIT = 80
"""Longest source text a rendered message quotes in backticks; longer is cut (a 50 MB one-line
scenario quoted its token whole: a 5 MB message, 55 MB of text output)."""
_LONG_QUOTE = re.compile(r"`([^`]{" + str(QUOTE_LIMIT + 1) + r",})`")


def clip_quotes(text: str) -> str:
    """`text` with each backtick-quoted part longer than `QUOTE_LIMIT` cut: its start, `…`, and how
    many characters it had."""
    if len(text) <= QUOTE_LIMIT:
        return text
    return _LONG_QUOTE.sub(lambda m: f"`{m[1][: QUOTE_LIMIT - 20]}…` ({len(m[1]):,} characters)", text)


def diag(
    code: str,
    message: str,
    span: Span,
    *,
    notes: Iterable[str] = (),
    suggestion: str | None = None,
    replacement: str | None = None,
    severity: Severity | None = None,
) -> Diagnostic:
    """Build a diagnostic with the severity the code table gives (unless overridden)."""
    return Diagnostic(
        code,
        severity or CODES[code].severity,
        message,
        span,
        tuple(notes),
        suggestion,
        replacement,
    )


def sort_unique(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sorted by (path, line, column, code) and with exact duplicates removed."""
    return sorted(set(diagnostics), key=lambda d: d.sort_key)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def summary_line(diagnostics: Iterable[Diagnostic], files: int) -> str:
    counts = {sev: 0 for sev in Severity}
    for d in diagnostics:
        counts[d.severity] += 1
    e, w = counts[Severity.ERROR], counts[Severity.WARNING]
    noun = "file" if files == 1 else "files"
    if not e and not w:
        return f"checked {files} {noun}: no problems"
    parts = []
    if e:
        parts.append(f"{e} error{'s' if e != 1 else ''}")
    if w:
        parts.append(f"{w} warning{'s' if w != 1 else ''}")
    return f"checked {files} {noun}: " + ", ".join(parts)
