"""No edit sequence crashes the server, and after any of them its diagnostics are `gscen check`'s;
a failing handler is logged to the client and the server keeps serving."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from scenario_lang.lsp.features.diagnostics import message_text
from scenario_lang.lsp.positions import UTF16, PositionCodec

from scenario_lang.parse import split_lines
from scenario_lang.project import CheckOptions, analyze

from .conftest import OK, SERVER, Session, codes, make_capabilities, make_client

ALPHABET = [
    *"@0123456789:!{}-, $\n&#'\"=abceiklmnoprstuwy_éz🎉",
    "set ",
    "stop",
    "echo ",
    "&module ",
    "\n@! set a 1\n",
    "\n@0:3 stop {2}\n",
    "@0:9 stop",
    "@! set ",
    "key ",
    "$key",
    "$a",
    "for i in 1 to 2 call ",
    # whole `&include` and `&module` lines: included files and modules come and go
    "\n&include common.scenario\n",
    "\n&module mymod.MyModule\n",
]
_names = itertools.count()


def expected(path: Path) -> list[tuple[str, int, int, int, str]]:
    """`gscen check`'s diagnostics for `path`, as LSP (code, line, start, end, message with notes and
    help) in UTF-16 units."""
    analysis = analyze(str(path), CheckOptions())
    lines = split_lines(path.read_text())
    codec = PositionCodec(UTF16)

    def text(n: int) -> str:
        return lines[n - 1] if 1 <= n <= len(lines) else ""

    out = []
    for d in analysis.diagnostics:
        if d.span.path != str(path):
            continue
        r = codec.span_range(d.span, text)
        out.append((d.code, r.start.line, r.start.character, r.end.character, comparable(message_text(d))))
    return out


def comparable(message: str) -> str:
    """A message without the module search path it lists (the server's `sys.path` is not pytest's)."""
    return "\n".join(line for line in message.splitlines() if not line.startswith("note: looked in"))


def diagnostics_of(client: LanguageClient, path: Path) -> list[tuple[str, int, int, int, str]]:
    """The diagnostics last published for a file, comparable with `expected_in`."""
    found = client.diagnostics.get(path.as_uri(), [])
    return sorted((*c, comparable(d.message)) for c, d in zip(codes(found), found, strict=True))


def expected_in(root: Path, path: Path) -> list[tuple[str, int, int, int, str]]:
    """`gscen check root`'s diagnostics in another file (`path`, an included one)."""
    codec = PositionCodec(UTF16)
    lines = split_lines(path.read_text())

    def text(n: int) -> str:
        return lines[n - 1] if 1 <= n <= len(lines) else ""

    out = []
    for d in analyze(str(root), CheckOptions()).diagnostics:
        if os.path.normpath(d.span.path) == os.path.normpath(path):
            r = codec.span_range(d.span, text)
            message = comparable(message_text(d))
            out.append((d.code, r.start.line, r.start.character, r.end.character, message))
    return sorted(out)


@st.composite
def edits(draw: st.DrawFn, lines: list[str]) -> tuple[int, int, int, int, str]:
    """One edit of the editor's lines, as (start line, start char, end line, end char) in code points."""
    sl = draw(st.integers(0, len(lines) - 1))
    el = draw(st.integers(sl, min(sl + 2, len(lines) - 1)))
    sc = draw(st.integers(0, len(lines[sl])))
    ec = draw(st.integers(0 if el > sl else sc, len(lines[el])))
    text = "".join(draw(st.lists(st.sampled_from(ALPHABET), max_size=6)))
    return sl, sc, el, ec, text


WITH_INCLUDE = "&include common.scenario\n" + OK.replace("@! set key abc\n", "")
COMMON = "@! set key abc\n@! set a 2\n"
# an included file with events and a `stop`: the including file's `stop`s warn about its events
COMMON_EVENTS = COMMON + "@0:5 echo included {1-2}\n@0:20 echo late $a\n@0:8 stop {3}\n"
# the corpus' way: the included file holds the `&module` line, and calls its callbacks
WITH_INCLUDE_MODULE = WITH_INCLUDE.replace("&module mymod.MyModule\n", "")
COMMON_MODULE = "&module mymod.MyModule\n" + COMMON_EVENTS + "@0:6 start_queries $key many\n"


@pytest.mark.parametrize(
    ("start", "common"),
    [
        (OK, COMMON),
        (WITH_INCLUDE, COMMON),
        (WITH_INCLUDE, COMMON_EVENTS),
        (WITH_INCLUDE_MODULE, COMMON_MODULE),
    ],
    ids=["plain", "with-include", "with-include-events", "with-include-module"],
)
@settings(
    max_examples=int(os.environ.get("GSCEN_LSP_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
async def test_random_edits_never_crash_and_end_with_gscen_checks_diagnostics(
    client: LanguageClient, project: Path, start: str, common: str, data: st.DataObject
) -> None:
    included = project / "common.scenario"
    included.write_text(common)
    path = project / f"random{next(_names)}.scenario"
    path.write_text(start)
    s = Session(client)
    uri = s.open(path)
    try:
        await s.diagnostics(uri, version=1)
        lines = start.split("\n")
        codec = PositionCodec(UTF16)
        version = 1
        for _ in range(data.draw(st.integers(1, 8))):
            sl, sc, el, ec, text = data.draw(edits(lines))
            start = codec.units(lines[sl], sc)
            end = codec.units(lines[el], ec)
            version = s.edit(uri, sl, start, end, text, end_line=el)
            merged = lines[sl][:sc] + text + lines[el][ec:]
            lines[sl : el + 1] = merged.split("\n")
        found = await s.diagnostics(uri, version=version)
        path.write_text("\n".join(lines))
        got = [(*c, comparable(d.message)) for c, d in zip(codes(found), found, strict=True)]
        # sorted: diagnostics that differ only in their notes (one per loop value) come in no fixed order
        assert sorted(got) == sorted(expected(path))
        # and the included file's (published before the including file's own)
        assert diagnostics_of(client, included) == expected_in(path, included)
        assert not [m for m in client.log_messages if m.type == types.MessageType.Error]
    finally:  # (a failing example's document left open would add its included diagnostics to the next's)
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )


FAILING = ClientServerConfig(
    server_command=SERVER,
    client_factory=make_client,
    server_env={
        **os.environ,
        "GSCEN_LSP_FAIL_FOR_TESTS": types.TEXT_DOCUMENT_HOVER,
        "PYTHONPATH": ":".join(sys.path),
    },
)


@pytest_lsp.fixture(config=FAILING)
async def failing_client(lsp_client: LanguageClient) -> Any:
    await lsp_client.initialize_session(types.InitializeParams(capabilities=make_capabilities()))
    yield
    await lsp_client.shutdown_session()


async def test_failing_handler_is_logged_to_the_client_and_the_server_keeps_serving(
    failing_client: LanguageClient, project: Path
) -> None:
    s = Session(failing_client)
    uri = s.open(project / "exp.scenario")
    await s.diagnostics(uri, version=1)
    hover = await failing_client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=3, character=8)
        )
    )
    assert hover is None
    errors = [m.message for m in failing_client.log_messages if m.type == types.MessageType.Error]
    assert len(errors) == 1 and "textDocument/hover failed" in errors[0] and "injected failure" in errors[0]
    version = s.edit(uri, 2, 18, 18, "d")
    assert [d.code for d in await s.diagnostics(uri, version=version)] == ["SC301"]
    completion = await failing_client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=2, character=5)
        )
    )
    assert completion is not None


@settings(
    max_examples=int(os.environ.get("GSCEN_LSP_EXAMPLES", "25")) // 2 or 1,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
async def test_every_request_at_any_position_after_random_edits_answers_without_error(
    client: LanguageClient, project: Path, data: st.DataObject
) -> None:
    (project / "common.scenario").write_text(COMMON)
    path = project / f"requests{next(_names)}.scenario"
    path.write_text(WITH_INCLUDE)
    s = Session(client)
    uri = s.open(path)
    await s.diagnostics(uri, version=1)
    lines = WITH_INCLUDE.split("\n")
    codec = PositionCodec(UTF16)
    version = 1
    for _ in range(data.draw(st.integers(0, 4))):
        sl, sc, el, ec, text = data.draw(edits(lines))
        version = s.edit(uri, sl, codec.units(lines[sl], sc), codec.units(lines[el], ec), text, end_line=el)
        lines[sl : el + 1] = (lines[sl][:sc] + text + lines[el][ec:]).split("\n")
    if version > 1:
        await s.diagnostics(uri, version=version)
    doc = types.TextDocumentIdentifier(uri=uri)
    whole = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=len(lines), character=0)
    )
    for _ in range(3):
        line = data.draw(st.integers(0, len(lines) - 1))
        at = types.Position(
            line=line, character=codec.units(lines[line], data.draw(st.integers(0, len(lines[line]))))
        )
        await client.text_document_hover_async(types.HoverParams(text_document=doc, position=at))
        await client.text_document_completion_async(types.CompletionParams(text_document=doc, position=at))
        await client.text_document_definition_async(types.DefinitionParams(text_document=doc, position=at))
        await client.text_document_references_async(
            types.ReferenceParams(
                text_document=doc, position=at, context=types.ReferenceContext(include_declaration=True)
            )
        )
        here = types.Range(start=at, end=at)
        await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=doc, range=here, context=types.CodeActionContext(diagnostics=[])
            )
        )
    await client.text_document_semantic_tokens_full_async(types.SemanticTokensParams(text_document=doc))
    await client.text_document_semantic_tokens_range_async(
        types.SemanticTokensRangeParams(text_document=doc, range=whole)
    )
    await client.text_document_inlay_hint_async(types.InlayHintParams(text_document=doc, range=whole))
    await client.text_document_folding_range_async(types.FoldingRangeParams(text_document=doc))
    await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc))
    await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=doc, options=types.FormattingOptions(tab_size=4, insert_spaces=True)
        )
    )
    assert not [m.message for m in client.log_messages if m.type == types.MessageType.Error]
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=doc))
