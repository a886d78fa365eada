"""Diagnostics end to end: identical to `gscen check`, on open, after edits, across includes, and
refreshed when a module source or an included file changes."""

from __future__ import annotations

from pathlib import Path

from pytest_lsp import LanguageClient

from scenario_lang.project import CheckOptions, analyze

from .conftest import Session


def check_codes(path: Path) -> list[tuple[str, int, int, int]]:
    """What `gscen check` reports, as (code, 0-based line, start, end) (ASCII files)."""
    analysis = analyze(str(path), CheckOptions(environment={}))
    return [
        (d.code, d.span.line - 1, d.span.column - 1, d.span.end_column - 1)
        for d in analysis.diagnostics
        if d.span.path == str(path)
    ]


async def test_open_clean_file_publishes_no_diagnostics(client: LanguageClient, project: Path) -> None:
    s = Session(client)
    uri = s.open(project / "exp.scenario")
    found = await s.diagnostics(uri, version=1)
    assert found == []
