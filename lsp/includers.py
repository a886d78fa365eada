"""The files that include an open document, and its diagnostics in their context.

An included file is not checked alone by `gscen check`: it is checked as part of each scenario
that includes it (its variables, modules and `stop`s come from there). So an open document that
other files include gets the diagnostics those files' checks report in it: the open documents
that include it (their last analysis) and the workspace's scenario files that name it in an
`&include` line (`workspace_candidates`; the front end then says whether they include it).
With several includers, each diagnostic names the includers it comes from (`in_context`); with
none, the document's own check stands. No I/O but the workspace scan; nothing here is checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from scenario_lang.diagnostics import Diagnostic, sort_unique

MAX_SCANNED = 5_000  # scenario files read when looking for includers (a huge workspace stops there)
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "build", "dist"})


def workspace_candidates(roots: Iterable[str], path: str) -> list[str]:
    """The `.scenario` files under `roots` (the document's own left out) with an `&include` line
    and the document's file name in their text: those that may include it."""
    name = os.path.basename(path)
    own = os.path.normpath(path)
    out: list[str] = []
    scanned = 0
    for root in dict.fromkeys(os.path.normpath(r) for r in roots):
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS)
            for f in sorted(files):
                if not f.endswith(".scenario"):
                    continue
                scanned += 1
                if scanned > MAX_SCANNED:
                    return out
                candidate = os.path.join(folder, f)
                if os.path.normpath(candidate) == own:
                    continue
                try:
                    text = Path(candidate).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                if "&include" in text and name in text:
                    out.append(candidate)
    return out


def diagnostics_in(found: Mapping[str, list[Diagnostic]], path: str) -> list[Diagnostic]:
    """The diagnostics of one file among a check's diagnostics per file (paths compared normalized)."""
    norm = os.path.normpath(path)
    return [d for p, ds in found.items() if os.path.normpath(p) == norm for d in ds]


def in_context(per_includer: Mapping[str, list[Diagnostic]]) -> list[Diagnostic]:
    """One list of an included file's diagnostics from each includer's: with one includer, its
    diagnostics; with several, each diagnostic once, with a note per includer reporting it."""
    if len(per_includer) == 1:
        return sort_unique(next(iter(per_includer.values())))
    merged: dict[Diagnostic, list[str]] = {}
    for includer in sorted(per_includer):
        for d in per_includer[includer]:
            names = merged.setdefault(d, [])
            if os.path.basename(includer) not in names:
                names.append(os.path.basename(includer))
    return sort_unique(
        [
            replace(d, notes=(*d.notes, *(f"as included from {n}" for n in names)))
            for d, names in merged.items()
        ]
    )
