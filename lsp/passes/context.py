"""`EditContext`: what one incremental check of a document works from, passed to every pass.

Built by the store for each incremental check (on the worker thread) from the document's lines
at that moment, its last analysis and the lines the edits touched; the passes (`scope`,
`modules`, `stops`, `recheck`) read it and keep it current as blocks come in or go (`analysis`),
lines are placed (`index`) and the variables in scope are worked out (`scope_lines`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from scenario_lang.diagnostics import Diagnostic
from scenario_lang.resolve import VariableDef

from ..analysis import Analysis
from ..lines import LineEntry

Checked = tuple[LineEntry, LineEntry, tuple[Diagnostic, ...]]  # (entry, entry to keep, diagnostics)


@dataclass
class EditContext:
    """One incremental check: the document's file, its lines as the check sees them
    (`snapshot`), the analysis it updates, the changed lines (1-based line, entry), what kind of
    structural lines changed (`rescope`: `@! set` or `&include`; `restop`: `stop`; `remodule`:
    `&module`; `gone`: `&include` lines that loaded files and are no longer there), where the
    timings go, and what the passes work out on the way: the current line of the entries they
    know (`index`, by id) and the variables in scope at their lines (`scope_lines`)."""

    path: str
    snapshot: list[LineEntry]
    analysis: Analysis
    targets: list[tuple[int, LineEntry]]
    timings: dict[str, float]
    rescope: bool = False
    restop: bool = False
    remodule: bool = False
    gone: Sequence[LineEntry] = ()
    index: dict[int, int] = field(default_factory=dict)
    scope_lines: list[tuple[int | None, tuple[VariableDef, ...]]] = field(default_factory=list)
