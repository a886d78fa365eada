"""Diagnostics end to end: identical to `gscen check`, on open, after edits, across includes, and
refreshed when a module source or an included file changes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from scenario_lang.project import CheckOptions, analyze

from .conftest import SERVER_ENV, Session, codes

ERRORS = """\
&module mymod.MyModule
@! set key abc
@0:1 write_peer_idd {1}
@0:2 start_queries $key 5 rate=1e-3 {2-3}
@0:2 start_queries $key five rat=2 {5-3}
@0:3 alias_name maybe GREEN c 4 extra
@0:4 for i in 1 to 3 call start_queries k$i $i {$i}
@0:5 set x y
@1:2:3:4 echo $undefined_var
@0:9 stop
@0:10 echo late {7}
"""


def check_codes(path: Path) -> list[tuple[str, int, int, int]]:
    """What `gscen check` reports for `path`, as (code, 0-based line, start, end) (ASCII files)."""
    analysis = analyze(str(path), CheckOptions())
    return [
        (d.code, d.span.line - 1, d.span.column - 1, d.span.end_column - 1)
        for d in analysis.diagnostics
        if d.span.path == str(path)
    ]


async def test_open_clean_file_publishes_no_diagnostics(client: LanguageClient, project: Path) -> None:
    s = Session(client)
    uri = s.open(project / "exp.scenario")
    assert await s.diagnostics(uri, version=1) == []


async def test_open_file_with_errors_reports_what_gscen_check_reports(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    path.write_text(ERRORS)
    s = Session(client)
    uri = s.open(path)
    found = await s.diagnostics(uri, version=1)
    assert codes(found) == check_codes(path)
    assert {d.source for d in found} == {"gscen"}
    first = found[0]
    assert first.code == "SC301" and first.severity == types.DiagnosticSeverity.Error
    assert "did you mean `write_peer_id`?" in first.message


async def test_typo_typed_into_a_line_is_reported_with_the_new_version(
    client: LanguageClient, project: Path
) -> None:
    s = Session(client)
    uri = s.open(project / "exp.scenario")
    await s.diagnostics(uri, version=1)
    version = s.edit(uri, 2, 18, 18, "d")  # write_peer_id -> write_peer_idd
    found = await s.diagnostics(uri, version=version)
    assert codes(found) == [("SC301", 2, 5, 19)]
    version = s.edit(uri, 2, 18, 19, "")
    assert await s.diagnostics(uri, version=version) == []


async def test_inserting_lines_moves_later_diagnostics_down(client: LanguageClient, project: Path) -> None:
    path = project / "exp.scenario"
    path.write_text(ERRORS)
    s = Session(client)
    uri = s.open(path)
    await s.diagnostics(uri, version=1)
    s.edit(uri, 3, 0, 0, "# a comment\n@0:1 echo hi\n")
    version = s.edit(uri, 0, 0, 0, "# top\n")
    found = await s.diagnostics(uri, version=version)
    lines = ERRORS.splitlines()
    path.write_text("\n".join(["# top", *lines[:3], "# a comment", "@0:1 echo hi", *lines[3:]]) + "\n")
    assert codes(found) == check_codes(path)


async def test_deleting_lines_moves_later_diagnostics_up(client: LanguageClient, project: Path) -> None:
    path = project / "exp.scenario"
    path.write_text(ERRORS)
    s = Session(client)
    uri = s.open(path)
    await s.diagnostics(uri, version=1)
    version = s.edit(uri, 3, 0, 0, "", end_line=5)  # delete lines 4 and 5
    found = await s.diagnostics(uri, version=version)
    lines = ERRORS.splitlines()
    path.write_text("\n".join([*lines[:3], *lines[5:]]) + "\n")
    assert codes(found) == check_codes(path)


async def test_editing_a_set_line_rechecks_the_lines_that_use_the_variable(
    client: LanguageClient, project: Path
) -> None:
    s = Session(client)
    uri = s.open(project / "exp.scenario")
    await s.diagnostics(uri, version=1)
    version = s.edit(uri, 1, 7, 10, "kee")  # @! set kee abc: $key is now undefined
    found = await s.diagnostics(uri, version=version)
    assert [c for c, *_ in codes(found)] == ["SC401"]
    assert found[0].range.start.line == 3


async def test_edit_after_a_set_line_sees_the_variable(client: LanguageClient, project: Path) -> None:
    s = Session(client)
    uri = s.open(project / "exp.scenario")
    await s.diagnostics(uri, version=1)
    version = s.edit(uri, 5, 0, 0, "@0:6 start_queries $key $kez\n")
    found = await s.diagnostics(uri, version=version)
    assert codes(found) == [("SC401", 5, 24, 28)]
    assert "did you mean `$key`?" in found[0].message


async def test_event_typed_after_stop_is_warned_about(client: LanguageClient, project: Path) -> None:
    s = Session(client)
    uri = s.open(project / "exp.scenario")
    await s.diagnostics(uri, version=1)
    version = s.edit(uri, 7, 0, 0, "@0:20 write_peer_id\n")
    found = await s.diagnostics(uri, version=version)
    assert [c for c, *_ in codes(found)] == ["SC506"]
    assert "(line 7)" in found[0].message


async def test_module_source_change_on_disk_rechecks_the_scenario(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    path.write_text(path.read_text() + "@0:5 brand_new 3\n")
    s = Session(client)
    uri = s.open(path)
    found = await s.diagnostics(uri, version=1)
    assert [c for c, *_ in codes(found)] == ["SC301"]
    module = project / "mymod.py"
    module.write_text(
        module.read_text()
        + "\n    @experiment_callback\n    def brand_new(self, n: int) -> None:\n        pass\n"
    )
    s.files_changed(module, kind=types.FileChangeType.Changed)
    assert await s.diagnostics(uri, version=1, until=lambda d: not d) == []


async def test_included_file_changing_on_disk_rechecks_the_includer(
    client: LanguageClient, project: Path
) -> None:
    common = project / "common.scenario"
    common.write_text("@! set peer_count 3\n")
    path = project / "exp.scenario"
    path.write_text("&include common.scenario\n@0:1 echo $peer_count\n")
    s = Session(client)
    uri = s.open(path)
    assert await s.diagnostics(uri, version=1) == []
    common.write_text("@! set other 3\n")
    s.files_changed(common, kind=types.FileChangeType.Changed)
    found = await s.diagnostics(uri, version=1, until=bool)
    assert codes(found) == [("SC401", 1, 10, 21)]


async def test_editing_an_open_included_file_rechecks_the_includer_from_the_buffer(
    client: LanguageClient, project: Path
) -> None:
    common = project / "common.scenario"
    common.write_text("@! set peer_count 3\n")
    path = project / "exp.scenario"
    path.write_text("&include common.scenario\n@0:1 echo $peer_count\n")
    s = Session(client)
    uri = s.open(path)
    assert await s.diagnostics(uri, version=1) == []
    common_uri = s.open(common)
    await s.diagnostics(common_uri, version=1)
    s.edit(common_uri, 0, 7, 17, "renamed")  # not saved: the includer reads the buffer
    found = await s.diagnostics(uri, version=1, until=bool)
    assert [c for c, *_ in codes(found)] == ["SC401"]


async def test_errors_inside_an_included_file_are_published_for_that_file(
    client: LanguageClient, project: Path
) -> None:
    common = project / "common.scenario"
    common.write_text("@0:1 no_such_callback\n")
    path = project / "exp.scenario"
    path.write_text("&module mymod.MyModule\n&include common.scenario\n")
    s = Session(client)
    uri = s.open(path)
    found = await s.diagnostics(common.as_uri())
    assert codes(found) == [("SC301", 0, 5, 21)]
    assert uri != common.as_uri()


async def test_missing_include_is_reported_and_creating_it_clears_the_error(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    path.write_text("&include later.scenario\n")
    s = Session(client)
    uri = s.open(path)
    found = await s.diagnostics(uri, version=1)
    assert codes(found) == [("SC210", 0, 9, 23)]
    later = project / "later.scenario"
    later.write_text("@0:1 echo fine\n")
    s.files_changed(later, kind=types.FileChangeType.Created)
    assert await s.diagnostics(uri, version=1, until=lambda d: not d) == []


async def test_server_asks_the_client_to_watch_module_and_scenario_files(
    client: LanguageClient, project: Path
) -> None:
    s = Session(client)
    uri = s.open(project / "exp.scenario")
    await s.diagnostics(uri, version=1)
    registrations = client.registrations  # type: ignore[attr-defined]
    assert [r.method for r in registrations] == [types.WORKSPACE_DID_CHANGE_WATCHED_FILES]


async def test_whole_document_change_is_checked_like_an_open(client: LanguageClient, project: Path) -> None:
    path = project / "exp.scenario"
    s = Session(client)
    uri = s.open(path)
    await s.diagnostics(uri, version=1)
    s.mark()
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=ERRORS)],
        )
    )
    found = await s.diagnostics(uri, version=2)
    path.write_text(ERRORS)
    assert codes(found) == check_codes(path)


async def test_saving_rechecks_with_module_sources_read_again(client: LanguageClient, project: Path) -> None:
    path = project / "exp.scenario"
    path.write_text(path.read_text() + "@0:5 brand_new 3\n")
    s = Session(client)
    uri = s.open(path)
    assert [c for c, *_ in codes(await s.diagnostics(uri, version=1))] == ["SC301"]
    module = project / "mymod.py"
    module.write_text(
        module.read_text()
        + "\n    @experiment_callback\n    def brand_new(self, n: int) -> None:\n        pass\n"
    )
    s.mark()  # no file watcher event: only the save tells the server
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert await s.diagnostics(uri, version=1) == []


async def test_closing_a_document_clears_its_diagnostics(client: LanguageClient, project: Path) -> None:
    path = project / "exp.scenario"
    path.write_text("@0:1 nope\n")
    s = Session(client)
    uri = s.open(path)
    assert len(await s.diagnostics(uri, version=1)) == 1
    s.mark()
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert await s.diagnostics(uri) == []


async def test_edits_see_variables_set_in_an_included_file_only_after_the_include(
    client: LanguageClient, project: Path
) -> None:
    (project / "common.scenario").write_text("@! set who world\n")
    path = project / "exp.scenario"
    s = Session(client)
    uri = s.open(path, "@0:1 echo first\n&include common.scenario\n@0:2 echo second\n")
    assert await s.diagnostics(uri, version=1) == []
    s.edit(uri, 2, 16, 16, " $who")
    version = s.edit(uri, 0, 15, 15, " $who")
    found = await s.diagnostics(uri, version=version)
    path.write_text("@0:1 echo first $who\n&include common.scenario\n@0:2 echo second $who\n")
    assert codes(found) == check_codes(path) == [("SC401", 0, 16, 20)]


async def test_renaming_a_variable_in_a_set_line_reports_every_use_and_undoing_clears_them(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    text = "@! set a 1\n@! set b x$a\n@0:1 echo $a\n@0:2 echo $b $bb\n@0:3 for a in 1 to 2 call echo $a\n"
    s = Session(client)
    uri = s.open(path, text)
    before = await s.diagnostics(uri, version=1)
    version = s.edit(uri, 0, 7, 8, "bb")  # @! set bb 1: `$a` is gone, `$bb` appears
    found = await s.diagnostics(uri, version=version)
    path.write_text(text.replace("@! set a 1", "@! set bb 1"))
    assert codes(found) == check_codes(path)
    assert "SC401" in {c for c, *_ in codes(found)}
    version = s.edit(uri, 0, 7, 9, "a")
    found = await s.diagnostics(uri, version=version)
    path.write_text(text)
    assert codes(found) == check_codes(path) == codes(before)


async def test_large_file_unchanged_on_disk_gets_gscen_checks_diagnostics_then_features(
    client: LanguageClient, project: Path
) -> None:
    body = "".join(f"@0:{i % 600} start_queries k{i} {i % 7}\n" for i in range(25_000))
    path = project / "exp.scenario"
    path.write_text("&module mymod.MyModule\n" + body + "@0:1 write_peer_idd\n@0:2 start_queries x y z\n")
    s = Session(client)
    uri = s.open(path)
    first = await s.diagnostics(uri, version=1)
    assert codes(first) == check_codes(path)
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=20_000, character=8),
        )
    )
    assert hover is not None and "start_queries(" in str(hover.contents)
    version = s.edit(uri, 25_001, 19, 19, "_")  # write_peer_idd -> write_peer_id_d
    found = await s.diagnostics(uri, version=version)
    path.write_text(path.read_text().replace("write_peer_idd", "write_peer_id_d"))
    assert codes(found) == check_codes(path)
    assert [c for c, *_ in codes(found)] == ["SC301", "SC306", "SC303"]


async def test_several_changes_in_one_notification_apply_in_order(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    s = Session(client)
    uri = s.open(path)
    await s.diagnostics(uri, version=1)
    s.mark()

    def change(line: int, start: int, end: int, text: str) -> types.TextDocumentContentChangePartial:
        rng = types.Range(
            start=types.Position(line=line, character=start), end=types.Position(line=line, character=end)
        )
        return types.TextDocumentContentChangePartial(range=rng, text=text)

    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            # insert a line on top, then edit what is now line 3 (was line 2)
            content_changes=[change(0, 0, 0, "# top\n"), change(3, 18, 18, "d")],
        )
    )
    found = await s.diagnostics(uri, version=2)
    assert codes(found) == [("SC301", 3, 5, 19)]


# --------------------------------------------------------------------------- the check cache


def gscen_check_codes(path: Path) -> list[str]:
    """The codes `gscen check` prints for `path`, with the server's cache folder."""
    done = subprocess.run(
        [sys.executable, "-m", "scenario_lang.cli", "check", "--format", "json", str(path)],
        env=SERVER_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    return re.findall(r'"code": ?"(SC\d+)"', done.stdout + done.stderr)


async def test_the_server_never_caches_a_result_gscen_check_would_not_compute(
    client: LanguageClient, project: Path
) -> None:
    """A file with a NUL byte is SC105 for `gscen check`; the editor's text of it checks otherwise.
    After the server checked that text, `gscen check` still prints SC105."""
    path = project / "binary.scenario"
    text = "&module mymod.MyModule\n@0:1 write_peer_idd\x00 {1}\n"
    path.write_bytes(text.encode())
    s = Session(client)
    uri = s.open(path, text)
    found = await s.diagnostics(uri, version=1)
    assert "SC105" not in [d.code for d in found]  # (the server checks the editor's text)
    # an edit and its undo: their checks run on the worker after the cache write it queued
    s.edit(uri, 0, 0, 0, "#")
    version = s.edit(uri, 0, 0, 1, "")
    await s.diagnostics(uri, version=version)
    assert gscen_check_codes(path) == ["SC105"]
