"""An open included file gets the diagnostics `gscen check` of the files including it reports in
it (open includers, and the workspace's scenario files naming it), each naming its includer when
there are several; edits to it re-check its includers at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from .conftest import Session
from .test_lsp_robustness import diagnostics_of, expected_in

INCLUDING = """\
&module mymod.MyModule
@! set key abc
&include common.scenario
@0:9 stop
"""

# alone: `$key` is not defined (SC401) and `start_queries` is unknown (SC301); included, the
# `stop` above cuts off its last event (SC506)
INCLUDED = """\
@0:1 start_queries $key
@0:10 write_peer_id
"""


def codes_of(found: list[types.Diagnostic]) -> list[tuple[str, int]]:
    return sorted((str(d.code), d.range.start.line) for d in found)


def has(*wanted: str) -> Callable[[list[types.Diagnostic]], bool]:
    return lambda found: {str(d.code) for d in found} == set(wanted)


async def test_an_open_included_file_shows_its_diagnostics_as_its_open_includer_checks_it(
    client: LanguageClient, project: Path
) -> None:
    (project / "main.scenario").write_text(INCLUDING)
    (project / "common.scenario").write_text(INCLUDED)
    s = Session(client)
    main = s.open(project / "main.scenario")
    await s.diagnostics(main, version=1)
    common = s.open(project / "common.scenario")
    found = await s.diagnostics(common, version=1, until=has("SC506"))
    assert codes_of(found) == [("SC506", 1)]
    assert diagnostics_of(client, project / "common.scenario") == expected_in(
        project / "main.scenario", project / "common.scenario"
    )
    # an edit of the included file: checked at once in its includer's context
    version = s.edit(common, 1, 0, 5, "@0:5")  # no longer after the `stop`
    assert await s.diagnostics(common, version=version) == []


async def test_an_edit_of_an_included_file_is_seen_by_a_hover_in_its_includer_right_after(
    client: LanguageClient, project: Path
) -> None:
    (project / "main.scenario").write_text(
        "&module mymod.MyModule\n&include common.scenario\n@0:2 echo $key\n"
    )
    (project / "common.scenario").write_text("@! set key abc\n")
    s = Session(client)
    main = s.open(project / "main.scenario")
    await s.diagnostics(main, version=1)
    common = s.open(project / "common.scenario")
    await s.diagnostics(common, version=1)
    s.edit(common, 0, 11, 14, "xyz")
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=main), position=types.Position(2, 12)
        )
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.value.startswith("`$key` = `xyz`")


async def test_with_several_includers_each_diagnostic_names_its_includers(
    client: LanguageClient, project: Path
) -> None:
    (project / "one.scenario").write_text(INCLUDING)
    # the other one sets no `key` and has no `stop`: SC401 there only; SC301 in neither
    (project / "two.scenario").write_text("&module mymod.MyModule\n&include common.scenario\n")
    (project / "common.scenario").write_text(INCLUDED + "@0:11 write_peer_idd\n")
    s = Session(client)
    for name in ("one", "two"):
        uri = s.open(project / f"{name}.scenario")
        await s.diagnostics(uri, version=1)
    common = s.open(project / "common.scenario")
    found = await s.diagnostics(common, version=1, until=lambda ds: "SC401" in {str(d.code) for d in ds})
    notes = {(str(d.code), d.range.start.line): d.message.split("\n") for d in found}
    assert "note: as included from two.scenario" in notes[("SC401", 0)]
    assert "note: as included from one.scenario" not in notes[("SC401", 0)]
    assert "note: as included from one.scenario" in notes[("SC506", 1)]
    typo = notes[("SC301", 2)]  # the same in both: once, naming both
    assert "note: as included from one.scenario" in typo and "note: as included from two.scenario" in typo
    assert len([c for c in notes if c == ("SC301", 2)]) == 1


async def test_an_open_included_file_gets_the_context_of_a_workspace_file_naming_it(
    client: LanguageClient, project: Path
) -> None:
    """The includer is not open: the server finds it in the workspace and checks it."""
    (project / "main.scenario").write_text(INCLUDING)
    (project / "common.scenario").write_text(INCLUDED)
    s = Session(client)
    common = s.open(project / "common.scenario")
    found = await s.diagnostics(common, version=1, until=has("SC506"))
    assert codes_of(found) == [("SC506", 1)]
    version = s.edit(common, 0, 5, 18, "start_querie")
    found = await s.diagnostics(common, version=version, until=has("SC301", "SC506"))
    assert codes_of(found) == [("SC301", 0), ("SC506", 1)]


async def test_an_included_file_without_includers_keeps_its_own_check(
    client: LanguageClient, project: Path
) -> None:
    (project / "common.scenario").write_text(INCLUDED)
    s = Session(client)
    common = s.open(project / "common.scenario")
    found = await s.diagnostics(common, version=1)
    assert codes_of(found) == [("SC301", 0), ("SC301", 1), ("SC401", 0)]


async def test_an_included_file_gets_its_own_check_again_once_its_includer_no_longer_includes_it(
    client: LanguageClient, project: Path
) -> None:
    (project / "main.scenario").write_text(INCLUDING)
    (project / "common.scenario").write_text(INCLUDED)
    (project / "other.scenario").write_text("@0:1 echo no include here\n")  # (not a workspace includer)
    s = Session(client)
    main = s.open(project / "main.scenario")
    await s.diagnostics(main, version=1)
    common = s.open(project / "common.scenario")
    await s.diagnostics(common, version=1, until=has("SC506"))
    s.edit(main, 2, 0, 0, "# ")  # the `&include` line commented out
    found = await s.diagnostics(common, until=has("SC301", "SC401"))
    assert codes_of(found) == [("SC301", 0), ("SC301", 1), ("SC401", 0)]
