"""The document store alone (in this process, no client): the edits that the language server used to
answer with the whole front end are now checked incrementally, and end with `gscen check`'s
diagnostics (for the file, and for the file it includes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from scenario_lang.lsp.store import Document, DocumentStore

from scenario_lang.diagnostics import Diagnostic
from scenario_lang.project import CheckOptions, analyze

from .test_lsp_incremental import INCLUDE_EDITS, INCLUDED, INCLUDING, TYPING


def found(doc: Document) -> list[tuple[str, int, str]]:
    out = []
    for e in doc.entries:
        line = doc.line_of(e)
        assert line is not None
        for d in e.check_diags if e.check_diags is not None else e.parse_diags:
            out.append((d.code, line, d.message))
    return sorted(out)


def wanted(path: Path) -> tuple[list[tuple[str, int, str]], list[Diagnostic]]:
    """`gscen check`'s diagnostics: in the file, and in the others."""
    diagnostics = analyze(str(path), CheckOptions()).diagnostics
    mine = sorted((d.code, d.span.line, d.message) for d in diagnostics if d.span.path == str(path))
    return mine, sorted((d for d in diagnostics if d.span.path != str(path)), key=str)


async def run_edits(path: Path, edits: list[tuple[int, int, int, str]]) -> DocumentStore:
    """Open `path` in a store, apply each edit, and compare with `gscen check` after each."""
    store = DocumentStore(lambda doc: None, lambda path, found: None, lambda uri: None, print)
    doc = store.open(path.as_uri(), str(path), 1, path.read_text())
    await doc.checked.wait()
    for version, (line, start, end, text) in enumerate(edits, 2):
        doc.apply_edit((line, start), (line, min(end, len(doc.entries[line].text))), text)
        store.changed(doc, version)
        await asyncio.sleep(0)
        await doc.checked.wait()
        path.write_text(doc.text())
        mine, others = wanted(path)
        assert found(doc) == mine, text
        assert doc.analysis is not None
        assert sorted((d for ds in doc.analysis.other.values() for d in ds), key=str) == others, text
    store.shutdown()
    return store


async def test_typing_a_module_line_is_checked_without_the_whole_front_end(project: Path) -> None:
    path = project / "typing.scenario"
    path.write_text(TYPING)
    edits = [(1, 0, 0, "\n")] + [(1, i, i, char) for i, char in enumerate("&module extra.Extra")]
    store = await run_edits(path, edits)
    assert store.counts == {"full": 1, "incremental": len(edits)}


async def test_structural_edits_in_a_file_with_an_include_skip_the_whole_front_end(project: Path) -> None:
    (project / "inc.scenario").write_text(INCLUDED)
    path = project / "including.scenario"
    path.write_text(INCLUDING)
    store = await run_edits(path, INCLUDE_EDITS)
    # the last edit sets a variable the included file reads: only that one runs the whole check
    assert store.counts == {"full": 2, "incremental": len(INCLUDE_EDITS) - 1}
