"""The document store alone (in this process, no client): the edits that the language server used to
answer with the whole front end are now checked incrementally, and end with `gscen check`'s
diagnostics (for the file, and for the file it includes); and the JSON the server writes for a
document's diagnostics is what pygls would have written."""

from __future__ import annotations

import asyncio
import io
import json
import random
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from scenario_lang.lsp.document import Document
from scenario_lang.lsp.features.diagnostics import DiagnosticEncoder, document_diagnostics
from scenario_lang.lsp.lines import parse_entry
from scenario_lang.lsp.positions import UTF8, UTF16, UTF32, PositionCodec
from scenario_lang.lsp.server import GscenServer
from scenario_lang.lsp.store import DocumentStore

from scenario_lang.diagnostics import Diagnostic
from scenario_lang.project import CheckOptions, analyze

from .test_lsp_incremental import INCLUDE_EDITS, INCLUDED, INCLUDING, TYPING


def found(doc: Document) -> list[tuple[str, int, str, tuple[str, ...]]]:
    out = []
    for e in doc.entries:
        line = doc.line_of(e)
        assert line is not None
        for d in e.check_diags if e.check_diags is not None else e.parse_diags:
            out.append((d.code, line, d.message, d.notes))
    return sorted(out)


def wanted(path: Path) -> tuple[list[tuple[str, int, str, tuple[str, ...]]], list[Diagnostic]]:
    """`gscen check`'s diagnostics (notes too): in the file, and in the others."""
    diagnostics = analyze(str(path), CheckOptions()).diagnostics
    mine = sorted((d.code, d.span.line, d.message, d.notes) for d in diagnostics if d.span.path == str(path))
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
    # (the last edit sets a variable the included file reads: that file is resolved again)
    assert store.counts == {"full": 1, "incremental": len(INCLUDE_EDITS)}


async def test_typing_an_include_line_is_incremental_also_when_it_names_a_file_that_exists(
    project: Path,
) -> None:
    # while the name is incomplete no file is found: only the line's own SC210 changes. The last
    # keystroke loads a file (its variable, events and `stop` come in at the line), and
    # removing that line takes them away again; a line including a missing file comes and goes.
    (project / "setup.scenario").write_text("@! set greeting hello\n@0:1 echo $greeting {1}\n")
    path = project / "inc_typing.scenario"
    # ($greeting is undefined until setup.scenario is included; its echo comes after the stop)
    path.write_text("&module mymod.MyModule\n@0:2 write_peer_id {1}\n@0:3 echo x $greeting\n@0:0.5 stop\n")
    typed = "&include setup.scenario"
    edits = [(1, 0, 0, "\n")] + [(1, i, i, char) for i, char in enumerate(typed)]
    edits += [
        (1, 0, 100, ""),  # the line emptied: the included file goes (a whole check)
        (1, 0, 0, "&include missing_$HOME.scenario"),
        (3, 0, 0, "&include nowhere.scenario {1}\n"),
        (1, 0, 100, "# gone"),
    ]
    store = await run_edits(path, edits)
    assert store.counts == {"full": 1, "incremental": len(edits)}


# included by the `&include` edits below: a variable the root reads after the line, one it reads
# from the root, an unknown callback, an argument in error, events after the root's `stop`, a `stop`
# of its own, and a nested include (which sets a variable too)
BLOCK = """\
@! set block_key $key-x
@0:1 echo included $key {1}
@0:2 start_queries $block_key many {2}
@0:3 not_a_callback
@0:12 echo after the root stop {1}
@0:8 stop {3}
&include nested.scenario
"""
NESTED = "@! set nested_key 7\n@0:13 echo nested $nested_key\n"
OTHER_BLOCK = "@! set block_key 5\n@0:4 start_queries $key\n"
BLOCK_ROOT = (
    "&module mymod.MyModule\n@! set key abc\n@0:1 write_peer_id {1}\n"
    "@0:9 echo uses $block_key and $nested_key\n@0:10 stop {1-2}\n@0:11 echo late {1}\n"
    + "".join(f"@0:{12 + i % 9} start_queries k{i} {i} {{{1 + i % 4}}}\n" for i in range(40))
)
BLOCK_EDITS = [
    (2, 0, 0, "&include block.scenario\n"),  # loads block.scenario and nested.scenario
    (2, 9, 14, "other"),  # another file: the first block goes, this one comes
    (2, 9, 14, "block"),
    (1, 11, 14, "abd"),  # a variable the block reads: its files are resolved again
    (2, 0, 100, "# no longer an include"),  # the files go
    (40, 0, 0, "&include block.scenario\n"),  # after the `stop`: its events are cut off
    (40, 0, 100, ""),
    (3, 0, 0, "&include block.scenario\n&include other.scenario\n"),  # two at once
    (3, 0, 100, ""),  # one of them goes
    (0, 0, 0, "&include other.scenario\n"),  # included twice: the whole check
]


def write_included(project: Path) -> None:
    """The files the `&include` tests below include."""
    for name, text in (("block", BLOCK), ("nested", NESTED), ("other", OTHER_BLOCK), ("guess", GUESS)):
        (project / f"{name}.scenario").write_text(text)


async def test_an_include_line_that_loads_a_file_brings_its_block_in_without_the_whole_front_end(
    project: Path,
) -> None:
    write_included(project)
    path = project / "block_root.scenario"
    path.write_text(BLOCK_ROOT)
    store = await run_edits(path, BLOCK_EDITS)
    # a file included twice: the one whole check
    assert store.counts == {"full": 2, "incremental": len(BLOCK_EDITS) - 1}


# an included file whose name is a variable, and one with a variable it does not define
GUESS = "@0:3 echo $colour {1}\n@! set guessed 1\n"
VARIABLE_ROOT = (
    "&module mymod.MyModule\n@! set key abc\n@! set which block\n&include $which.scenario\n"
    "&include guess.scenario\n@0:9 echo $block_key $guessed\n@0:10 stop\n"
    + "".join(f"@0:{2 + i % 12} start_queries k{i} {i}\n" for i in range(30))
)
VARIABLE_EDITS = [
    (0, 0, 0, "@0:0 echo top\n"),  # the lines below move (the `&include` lines parsed at others)
    (2, 11, 14, "xyz"),  # a variable block.scenario reads: it is resolved again
    (3, 13, 18, "other"),  # the name: another file comes in at that line
    (1, 0, 0, "@! set color red\n"),  # guess.scenario's did-you-mean may change: resolved again
    (1, 7, 12, "colour"),  # and now its variable is defined
    (4, 13, 18, "missing"),  # the name of a file that is not there: the whole check
]


async def test_set_lines_that_included_files_read_resolve_those_files_again(project: Path) -> None:
    write_included(project)
    path = project / "variable_root.scenario"
    path.write_text(VARIABLE_ROOT)
    store = await run_edits(path, VARIABLE_EDITS)
    assert store.counts == {"full": 2, "incremental": len(VARIABLE_EDITS) - 1}


# the corpus' way: a common scenario holds the `&module` lines (and calls their callbacks)
WITH_MODULE = "&module extra.Extra\n@0:1 ping 3\n@0:2 ping many\n@0:3 write_peer_id\n@0:4 pong\n"
MODULE_EDITS = [
    (1, 0, 0, "&include with_module.scenario\n"),  # `ping` defined: its calls are checked
    (0, 0, 100, "# no module line of its own"),  # `write_peer_id` unknown, in both files
    (0, 0, 100, "&module mymod.MyModule"),
    (0, 8, 9, "X"),  # not found: calls unchecked everywhere
    (0, 8, 9, "m"),
    (0, 0, 0, "&module extra.Extra\n"),  # loaded twice: SC206, the included line's
    (0, 0, 100, ""),
    (2, 0, 100, ""),  # the include goes: `ping` unknown again
    (2, 0, 0, "&include with_module.scenario"),
]


async def test_an_include_line_loading_a_module_binds_every_call_again_without_the_whole_front_end(
    project: Path,
) -> None:
    (project / "with_module.scenario").write_text(WITH_MODULE)
    path = project / "mod_root.scenario"
    path.write_text("&module mymod.MyModule\n@0:2 ping 4\n@0:3 write_peer_id\n@0:5 ping x\n")
    store = await run_edits(path, MODULE_EDITS)
    assert store.counts == {"full": 1, "incremental": len(MODULE_EDITS)}


# accents and emoji before a diagnostic, safe fixes (`data.replacement`), `%` in a message, lines
# moved by an insertion
ENCODED = """\
&module mymod.MyModule
@0:1 echo héllo🎉 $undefinedd {1}
@0:2 write_peer_idd
@0:3 start_queries key five%
@0:4 stop
@0:5 echo after the stop {3-1}
@0:6 echo 🎉 last
"""


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
async def test_diagnostics_written_as_json_are_what_pygls_would_send(project: Path, encoding: str) -> None:
    path = project / "encoded.scenario"
    path.write_text(ENCODED)
    store = DocumentStore(lambda doc: None, lambda path, found: None, lambda uri: None, print)
    doc = store.open(path.as_uri(), str(path), 1, ENCODED)
    await doc.checked.wait()
    codec = PositionCodec(encoding)
    encoder = DiagnosticEncoder(codec)
    converter = default_converter()
    inserts: list[tuple[int, str] | None] = [None, (0, "@0:0 echo first\n"), (3, "@0:0 echo moved\n")]
    for version, insert in enumerate(inserts, 1):
        if insert is not None:
            doc.apply_edit((insert[0], 0), (insert[0], 0), insert[1])
            store.changed(doc, version)
            await asyncio.sleep(0)
            await doc.checked.wait()
        for _ in range(2):  # written afresh, then from what each line keeps
            written = json.loads(encoder.publish_notification(doc))
            params = types.PublishDiagnosticsParams(
                uri=doc.uri, diagnostics=document_diagnostics(doc, codec), version=doc.version
            )
            assert written["params"] == converter.unstructure(params)
            assert written["method"] == types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
            assert len(written["params"]["diagnostics"]) >= 6
    store.shutdown()


async def test_a_typo_in_the_only_module_line_and_its_fix_check_only_the_lines_they_concern(
    project: Path,
) -> None:
    # every line calls the module's callbacks. The module not found: the clean lines stay clean
    # (their calls are not checked). Found again with the signatures the lines were checked with:
    # only the lines checked in between (with diagnostics, edited, inserted) are checked again.
    path = project / "typo.scenario"
    path.write_text(
        "&module mymod.MyModule\n@0:2 start_queries\n"
        + "".join(f"@0:{i % 50} write_peer_id {{1}}\n" for i in range(80))
    )
    edits = [
        (0, 20, 22, ""),  # mymod.MyModu: not found
        (5, 0, 100, "@0:7 write_peer_id 5 {1}"),  # too many arguments, unchecked while not found
        (9, 0, 0, "@0:8 start_queries key 3 {1}\n"),  # a new line, checked while not found
        (0, 20, 20, "le"),  # found again: SC306 on line 6 comes back
        (0, 20, 22, ""),  # and the same again
        (0, 20, 20, "le"),
    ]
    store = await run_edits(path, edits)
    assert store.counts == {"full": 1, "incremental": len(edits)}


OTHER_MODULE = """\
from scenario_lang import ExperimentModule, experiment_callback


class Other(ExperimentModule):
    @experiment_callback
    def start_queries(self, key: int, *, rate: int = 1) -> None:
        pass

    @experiment_callback
    def echo_twice(self, a: int, b: int) -> None:
        pass
"""

# calls of every kind: clean ones, with errors, loops, an unknown callback, after a `stop`
SWAPPED = (
    "&module mymod.MyModule\n@! set key abc\n@0:0.5 stop {4}\n@0:1 start_queries\n@0:2 write_peer_id 5\n"
)
SWAPPED += "".join(
    f"@0:{i % 50} write_peer_id {{1}}\n@0:{i % 40} start_queries {i} {i % 7} rate=0.5 {{2}}\n"
    f"@0:{i % 30} start_queries $key many\n@0:{i % 20} for n in 1 to 3 call start_queries k$n {{$n}}\n"
    f"@0:{i % 9} echo_twice 1 x\n@0:{i % 5} alias_name yes RED a {{4}}\n"
    for i in range(30)
)


async def test_a_module_line_naming_another_class_checks_only_the_calls_bindings_again(
    project: Path,
) -> None:
    # every callback's signatures change: the calls (resolved already) are bound again, line by
    # line, without the whole front end; unknown callbacks move to their first use (SC301)
    path = project / "other.scenario"
    path.write_text(SWAPPED)
    (project / "othermod.py").write_text(OTHER_MODULE)
    (project / "mymod_copy.py").write_text((project / "mymod.py").read_text())
    strict = (project / "mymod.py").read_text().replace("key: str", "key: int")
    (project / "mymod_strict.py").write_text(strict)
    module = len("&module ")
    edits = [
        (5, 0, 0, "@0:3 start_queries abc {3}\n"),  # a line inserted: the lines below it move
        (0, module, module + 14, "othermod.Other"),  # another class: every call bound again
        (9, 0, 0, "@0:6 write_peer_id\n"),  # an earlier first use of a callback now unknown
        (0, module, module + 14, "mymod.MyModule"),  # back
        (0, module, module + 14, "othermod.Other"),
        (0, module + 5, module + 6, "X"),  # not found: calls unchecked
        (0, module + 5, module + 6, "m"),  # found again: every call bound again
        (0, module, module + 14, "mymod.MyModule"),
        # the same class in another file: the same parameters, so only the lines with diagnostics
        # change (their notes name where the signature is defined)
        (0, module, module + 14, "mymod_copy.MyModule"),
        (0, module, module + 19, "mymod.MyModule"),
        # the same parameters but for a type: the clean calls of `start_queries` turn SC306
        (0, module, module + 14, "mymod_strict.MyModule"),
    ]
    store = await run_edits(path, edits)
    assert store.counts == {"full": 1, "incremental": len(edits)}


async def test_a_module_found_for_the_first_time_binds_every_call_without_the_whole_front_end(
    project: Path,
) -> None:
    path = project / "late.scenario"
    path.write_text(SWAPPED.replace("mymod.MyModule", "mymod.MyModul", 1))
    store = await run_edits(path, [(0, 20, 20, "e"), (0, 8, 22, "othermod.Other")])
    assert store.counts == {"full": 1, "incremental": 2}


EARLY_INCLUDED = "".join(f"@0:{20 + i} echo included {i} {{2}}\n" for i in range(15))
EARLY_INCLUDING = (
    "@0:0.5 echo first\n"
    + "".join(f"@0:{2 + i % 30} echo root {i} {{{1 + i % 3}}}\n" for i in range(10))
    + "&include early_inc.scenario\n"
    + "".join(f"@0:{2 + i % 30} echo later {i} {{{1 + i % 3}}}\n" for i in range(60))
)
EARLY_EDITS = [
    (0, 0, 0, "@0:1 stop\n"),  # cuts off 85 events, the included file's at its `&include` line
    (3, 0, 100, "@0:0.2 echo before the stop"),  # a marked event no longer cut off: the 21st shows
    (2, 0, 0, "@0:9 echo inserted {1}\n"),  # a new first event: every line below moves
    (5, 0, 100, ""),  # an event gone
    (0, 8, 8, " {3}"),  # the stop for peer 3 only: the included events are no longer cut off
    (1, 0, 0, "@0:1.5 stop {2}\n"),  # a second stop: peer 2's events are its own
    (0, 0, 100, "@0:0 echo no longer a stop"),
    (1, 0, 100, "# and no stop at all"),
]


async def test_an_early_stop_over_an_included_file_groups_sc506_incrementally_as_gscen_check_does(
    project: Path,
) -> None:
    (project / "early_inc.scenario").write_text(EARLY_INCLUDED)
    path = project / "early.scenario"
    path.write_text(EARLY_INCLUDING)
    store = await run_edits(path, EARLY_EDITS)
    assert store.counts == {"full": 1, "incremental": len(EARLY_EDITS)}


def test_the_server_frames_its_own_json_as_pygls_does_and_declines_without_a_transport() -> None:
    # without the transport it writes to, the server says so (and publishes through pygls instead)
    server = GscenServer()
    assert server._send_json('{"a":1}') is False
    sink = io.BytesIO()
    server.protocol.set_writer(sink)
    assert server._send_json('{"a":1}') is True
    assert sink.getvalue() == (
        b'Content-Length: 7\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{"a":1}'
    )
    server.store.shutdown()


def changed_lines(rng: random.Random, lines: list[str], words: list[str]) -> list[str]:
    """`lines` with one to three lines deleted, inserted or edited."""
    new = list(lines)
    for _change in range(rng.randint(1, 3)):
        at = rng.randint(0, len(new))
        kind = rng.random()
        if kind < 0.3 and new:
            del new[min(at, len(new) - 1)]
        elif kind < 0.6:
            new.insert(at, rng.choice(words))
        elif new:
            k = min(at, len(new) - 1)
            new[k] = new[k][: rng.randint(0, len(new[k]))] + rng.choice(["", "x", " y"])
    return new


def test_full_text_changes_replace_only_the_lines_that_differ() -> None:
    """The range edit a full-text change amounts to: the document then holds the new text's lines,
    and the lines around the difference are the entries they were (not parsed again); so on for
    several changes in a row (the last text is kept to diff the next one against)."""
    rng = random.Random(10)
    words = ["@0:1 echo a", "@! set x 1", "", "@0:2 stop", "&module m.M", "# note", "@0:3 echo $x"]
    for _case in range(300):
        old = [rng.choice(words) for _ in range(rng.randint(1, 12))]
        doc = Document("file:///t.scenario", "/t.scenario", 1, [])
        doc.replace_all("\n".join(old))
        doc.entries = [parse_entry(e.text, doc.path, n) for n, e in enumerate(doc.entries, 1)]
        doc.analysis = object()  # type: ignore[assignment]  # (checked once: edits are diffed)
        for _step in range(3):
            new = changed_lines(rng, old, words)
            before = list(doc.entries)
            doc.replace_text("\n".join(new))
            assert [e.text for e in doc.entries] == ("\n".join(new)).split("\n"), (old, new)
            kept = sum(1 for a, b in zip(before, doc.entries, strict=False) if a is b)
            kept_end = sum(1 for a, b in zip(reversed(before), reversed(doc.entries), strict=False) if a is b)
            same = min(len(old), len(new))
            prefix = next((k for k in range(same) if old[k] != new[k]), same)
            suffix = next((k for k in range(same - prefix) if old[-1 - k] != new[-1 - k]), same - prefix)
            # (-1: the line where the difference starts or ends is edited, as a range edit there is)
            assert kept >= prefix - 1 and kept_end >= suffix - 1, (old, new)
            old = ("\n".join(new)).split("\n")
