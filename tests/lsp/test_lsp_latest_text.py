"""Every request answers against the text after every notification sent before it: each test sends
its requests in the same message batch as the edit (no wait for diagnostics in between, no sleep),
as editors pipeline them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from .conftest import OK, Session


def doc_id(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def whole_text_change(client: LanguageClient, s: Session, uri: str, text: str) -> int:
    """A full-text `didChange` (no range), as clients with sync kind Full send."""
    s.versions[uri] += 1
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=s.versions[uri]),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    return s.versions[uri]


def hover_value(result: Any) -> str:
    assert isinstance(result, types.Hover)
    assert isinstance(result.contents, types.MarkupContent)
    return result.contents.value


# the clean file with a variable, a use of it and an `M:S` time added at the end (lines 7-8)
ADDED = OK + "@! set foo 12\n@1:30 echo $foo\n"


def requests_on_the_added_lines(client: LanguageClient, uri: str) -> list[asyncio.Future[Any]]:
    """Hover, definition, symbols, semantic tokens and inlay hints on lines 7-8 of `ADDED`, sent
    at once (each scheduled now: pytest-lsp's requests are coroutines)."""
    requests = [
        client.text_document_hover_async(types.HoverParams(text_document=doc_id(uri), position=pos(8, 13))),
        client.text_document_definition_async(
            types.DefinitionParams(text_document=doc_id(uri), position=pos(8, 13))
        ),
        client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc_id(uri))),
        client.text_document_semantic_tokens_range_async(
            types.SemanticTokensRangeParams(
                text_document=doc_id(uri), range=types.Range(start=pos(8, 0), end=pos(9, 0))
            )
        ),
        client.text_document_inlay_hint_async(
            types.InlayHintParams(
                text_document=doc_id(uri), range=types.Range(start=pos(8, 0), end=pos(9, 0))
            )
        ),
    ]
    return [asyncio.ensure_future(r) for r in requests]


async def assert_answers_see_the_added_lines(futures: list[asyncio.Future[Any]], uri: str) -> None:
    hover, definition, symbols, tokens, hints = await asyncio.gather(*futures)
    assert hover_value(hover).startswith("`$foo` = `12`"), hover
    assert isinstance(definition, list) and [(d.uri, d.range.start.line) for d in definition] == [(uri, 7)]
    assert "$foo" in [s.name for s in symbols or []]
    assert isinstance(tokens, types.SemanticTokens) and tokens.data
    assert tokens.data[0] == 8  # the first token is on line 8 (relative to line 0)
    assert [(h.position.line, h.label) for h in hints or []] == [(8, "90s")]


async def opened(client: LanguageClient, project: Path) -> tuple[Session, str]:
    s = Session(client)
    uri = s.open(project / "exp.scenario")
    await s.diagnostics(uri, version=1)
    return s, uri


async def test_requests_right_after_a_full_text_change_answer_against_the_new_text(
    client: LanguageClient, project: Path
) -> None:
    s, uri = await opened(client, project)
    whole_text_change(client, s, uri, ADDED)
    await assert_answers_see_the_added_lines(requests_on_the_added_lines(client, uri), uri)


async def test_requests_right_after_a_range_edit_adding_a_set_line_see_the_variable(
    client: LanguageClient, project: Path
) -> None:
    s, uri = await opened(client, project)
    s.edit(uri, 7, 0, 0, "@! set foo 12\n@1:30 echo $foo\n")
    await assert_answers_see_the_added_lines(requests_on_the_added_lines(client, uri), uri)


async def test_a_code_action_right_after_an_edit_fixes_the_fresh_typo(
    client: LanguageClient, project: Path
) -> None:
    s, uri = await opened(client, project)
    s.edit(uri, 2, 5, 19, "write_peer_idd")
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc_id(uri),
            range=types.Range(start=pos(2, 0), end=pos(2, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    titles = [a.title for a in result or [] if isinstance(a, types.CodeAction)]
    assert titles == ["Replace with `write_peer_id` (SC301)"]


async def test_full_text_changes_report_a_typo_and_its_correction(
    client: LanguageClient, project: Path
) -> None:
    """A full-text change is the range edit it amounts to: its diagnostics are those of the new
    text (the bench shows it is as quick as a range edit)."""
    s, uri = await opened(client, project)
    version = whole_text_change(client, s, uri, OK.replace("write_peer_id {1}", "write_peer_idd {1}"))
    found = await s.diagnostics(uri, version=version)
    assert [(d.code, d.range.start.line) for d in found] == [("SC301", 2)]
    version = whole_text_change(client, s, uri, OK)
    assert await s.diagnostics(uri, version=version) == []


async def test_inlay_hints_right_after_an_edit_are_only_those_inside_the_range(
    client: LanguageClient, project: Path
) -> None:
    s, uri = await opened(client, project)
    s.edit(uri, 7, 0, 0, "@1:30 echo a\n@2:00 echo b\n@3:00 echo c\n")

    def hints(start: types.Position, end: types.Position) -> asyncio.Future[Any]:
        params = types.InlayHintParams(text_document=doc_id(uri), range=types.Range(start=start, end=end))
        return asyncio.ensure_future(client.text_document_inlay_hint_async(params))

    # hints sit after the time (character 5): a range ending before it, one starting after it
    before, after, middle = await asyncio.gather(
        hints(pos(7, 0), pos(7, 3)), hints(pos(8, 6), pos(9, 2)), hints(pos(7, 5), pos(9, 5))
    )
    assert list(before or []) == []
    assert list(after or []) == []
    assert [(h.position.line, h.label) for h in middle or []] == [(7, "90s"), (8, "120s")]
