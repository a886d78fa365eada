"""Editor features end to end on a real experiment folder: completion, hover, definition,
references, symbols, folding, semantic tokens, formatting, code actions and inlay hints."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from .conftest import Session


def doc_id(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


async def opened(client: LanguageClient, path: Path, text: str | None = None) -> tuple[Session, str]:
    s = Session(client)
    uri = s.open(path, text)
    await s.diagnostics(uri, version=1)
    return s, uri


async def complete(client: LanguageClient, uri: str, line: int, character: int) -> list[types.CompletionItem]:
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=pos(line, character))
    )
    assert isinstance(result, types.CompletionList)
    return list(result.items)


async def hover_text(client: LanguageClient, uri: str, line: int, character: int) -> str:
    result = await client.text_document_hover_async(
        types.HoverParams(text_document=doc_id(uri), position=pos(line, character))
    )
    assert result is not None
    assert isinstance(result.contents, types.MarkupContent)
    return result.contents.value


# --------------------------------------------------------------------------- completion


async def test_completion_after_the_time_offers_callbacks_with_parameter_snippets(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, path.read_text() + "@0:7 sta\n")
    items = {i.label: i for i in await complete(client, uri, 7, 8)}
    assert {"start_queries", "write_peer_id", "alias_name", "echo", "stop"} <= set(items)
    start = items["start_queries"]
    assert start.insert_text_format == types.InsertTextFormat.Snippet
    assert isinstance(start.text_edit, types.TextEdit)
    assert start.text_edit.new_text == "start_queries ${1:key}"
    assert start.text_edit.range == types.Range(start=pos(7, 5), end=pos(7, 8))
    assert start.detail == "start_queries(key: str, count: int = 10, rate: float = 1.0)"


async def test_completion_after_ampersand_offers_directives(client: LanguageClient, project: Path) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, "&\n" + path.read_text())
    labels = [i.label for i in await complete(client, uri, 0, 1)]
    assert labels == ["&module", "&include"]


async def test_completion_after_module_directive_offers_module_classes_beside_the_scenario(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, path.read_text() + "&module \n")
    labels = {i.label for i in await complete(client, uri, 7, 8)}
    assert {"mymod.MyModule", "extra.Extra"} <= labels


async def test_completion_after_include_directive_offers_scenario_files(
    client: LanguageClient, project: Path
) -> None:
    (project / "sub").mkdir()
    (project / "sub" / "common.scenario").write_text("@0:1 echo hi\n")
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, "&include \n" + path.read_text())
    labels = [i.label for i in await complete(client, uri, 0, 9)]
    assert labels == ["sub/common.scenario"]


async def test_completion_after_dollar_offers_variables_in_scope(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    text = path.read_text().replace("@0:1 write_peer_id {1}\n", "@0:1 write_peer_id {1}\n@0:1 echo $\n")
    _s, uri = await opened(client, path, "@0:1 echo $\n" + text)
    before = {i.label for i in await complete(client, uri, 0, 11)}
    after = {i.label: i for i in await complete(client, uri, 4, 11)}
    assert "key" not in before
    assert after["key"].detail == "= abc"
    assert {"EXPERIMENT_DIR", "INSTANCES_TO_RUN"} <= set(after)


async def test_completion_of_arguments_offers_the_callbacks_named_parameters(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, path.read_text() + "@0:7 start_queries abc r\n")
    labels = [i.label for i in await complete(client, uri, 7, 24)]
    assert labels == ["key=", "count=", "rate="]


async def test_completion_inside_braces_offers_peer_numbers_of_the_experiment(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, path.read_text() + "@0:7 write_peer_id {1,\n")
    labels = [i.label for i in await complete(client, uri, 7, 22)]
    assert labels == ["1", "2", "3", "4"]


# --------------------------------------------------------------------------- hover


async def test_hover_on_callback_shows_signature_docstring_and_module(
    client: LanguageClient, project: Path
) -> None:
    _s, uri = await opened(client, project / "exp.scenario")
    text = await hover_text(client, uri, 3, 8)
    assert "start_queries(key: str, count: int = 10, rate: float = 1.0)" in text
    assert "Start queries." in text
    assert "mymod.MyModule" in text and "mymod.py:" in text


async def test_hover_and_completion_know_the_fault_and_network_built_ins(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, "@0:1 latency 50ms jitter=5ms\n@0:2 cra\n")
    text = await hover_text(client, uri, 0, 7)
    assert "latency(delay: duration, jitter: duration = 0ms)" in text and "IPv8" in text
    items = {i.label: i for i in await complete(client, uri, 1, 8)}
    assert items["crash"].detail == "crash()" and "partition" in items


async def test_editing_a_process_fault_line_rechecks_the_faults_in_time_order(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    s, uri = await opened(client, path, "@0:1 crash {2}\n@0:3 echo x {2}\n")
    version = s.edit(uri, 1, 0, 15, "@0:3 crash {2}")  # crashing it again: not there any more
    found = await s.diagnostics(uri, version)
    assert [(str(d.code), d.range.start.line) for d in found] == [("SC511", 1)]


async def test_hover_on_variable_shows_its_value_and_where_it_is_set(
    client: LanguageClient, project: Path
) -> None:
    _s, uri = await opened(client, project / "exp.scenario")
    text = await hover_text(client, uri, 3, 21)
    assert text.startswith("`$key` = `abc`")
    assert "line 2" in text


async def test_hover_on_time_shows_seconds_and_clock_time(client: LanguageClient, project: Path) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, "@1:02:03.5 echo hi\n")
    assert await hover_text(client, uri, 0, 2) == "`@1:02:03.5` = 3723.5 s = 1:02:03.500"


async def test_hover_on_peer_spec_expands_it(client: LanguageClient, project: Path) -> None:
    _s, uri = await opened(client, project / "exp.scenario")
    assert await hover_text(client, uri, 3, 38) == "peers 2-3 (2 of 4)"
    loop = await hover_text(client, uri, 4, 47)
    assert loop.splitlines()[0] == "with `i` = 1: peers 1 (1 of 4)"


async def test_hover_on_module_directive_lists_its_callbacks(client: LanguageClient, project: Path) -> None:
    _s, uri = await opened(client, project / "exp.scenario")
    text = await hover_text(client, uri, 0, 10)
    assert "class `MyModule`" in text
    assert "`start_queries`" in text and "`write_peer_id`" in text


# --------------------------------------------------------------------------- definition, references


async def definition(client: LanguageClient, uri: str, line: int, character: int) -> list[types.Location]:
    result = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(uri), position=pos(line, character))
    )
    assert isinstance(result, list)
    return [r for r in result if isinstance(r, types.Location)]


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines()) if needle in line)


async def test_definition_of_callback_is_its_python_def(client: LanguageClient, project: Path) -> None:
    _s, uri = await opened(client, project / "exp.scenario")
    [loc] = await definition(client, uri, 2, 8)
    assert loc.uri == (project / "mymod.py").as_uri()
    assert loc.range.start.line == line_of(project / "mymod.py", "def write_peer_id")


async def test_definition_of_variable_is_its_set_line(client: LanguageClient, project: Path) -> None:
    _s, uri = await opened(client, project / "exp.scenario")
    [loc] = await definition(client, uri, 3, 21)
    assert loc.uri == uri
    assert loc.range == types.Range(start=pos(1, 7), end=pos(1, 10))


async def test_definition_of_variable_set_in_an_included_file_is_in_that_file(
    client: LanguageClient, project: Path
) -> None:
    common = project / "common.scenario"
    common.write_text("# shared\n@! set who world\n")
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, "&include common.scenario\n@0:1 echo $who\n")
    [loc] = await definition(client, uri, 1, 12)
    assert loc.uri == common.as_uri()
    assert loc.range.start.line == 1


async def test_definition_of_module_directive_is_the_class(client: LanguageClient, project: Path) -> None:
    _s, uri = await opened(client, project / "exp.scenario")
    [loc] = await definition(client, uri, 0, 12)
    assert loc.uri == (project / "mymod.py").as_uri()
    assert loc.range.start.line == line_of(project / "mymod.py", "class MyModule")


async def test_definition_of_include_directive_is_the_file(client: LanguageClient, project: Path) -> None:
    (project / "common.scenario").write_text("@0:1 echo hi\n")
    _s, uri = await opened(client, project / "exp.scenario", "&include common.scenario\n")
    [loc] = await definition(client, uri, 0, 12)
    assert loc.uri == (project / "common.scenario").as_uri()


async def test_definition_follows_lines_moved_by_an_edit(client: LanguageClient, project: Path) -> None:
    s, uri = await opened(client, project / "exp.scenario")
    version = s.edit(uri, 2, 0, 0, "@0:1 echo one\n@0:1 echo two\n")
    await s.diagnostics(uri, version=version)
    [loc] = await definition(client, uri, 5, 21)  # `$key` two lines further down
    assert loc.range == types.Range(start=pos(1, 7), end=pos(1, 10))


async def references(
    client: LanguageClient, uri: str, line: int, character: int, declaration: bool = True
) -> list[tuple[int, int]]:
    result = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=doc_id(uri),
            position=pos(line, character),
            context=types.ReferenceContext(include_declaration=declaration),
        )
    )
    assert result is not None
    return [(r.range.start.line, r.range.start.character) for r in result]


async def test_references_of_a_variable_are_its_uses_and_set_line(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, path.read_text() + "@0:8 echo $key x$key\n")
    assert await references(client, uri, 3, 21) == [(1, 7), (3, 19), (7, 10), (7, 16)]
    assert await references(client, uri, 3, 21, declaration=False) == [(3, 19), (7, 10), (7, 16)]


async def test_references_of_a_callback_are_the_events_calling_it(
    client: LanguageClient, project: Path
) -> None:
    _s, uri = await opened(client, project / "exp.scenario")
    assert await references(client, uri, 3, 8) == [(3, 5), (4, 26)]


# --------------------------------------------------------------------------- symbols, folding


async def test_document_symbols_list_modules_variables_and_events_grouped_by_time(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, path.read_text() + "@0:1 echo again\n")
    result = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=doc_id(uri))
    )
    assert result is not None
    symbols = [s for s in result if isinstance(s, types.DocumentSymbol)]
    assert [(s.name, s.kind) for s in symbols] == [
        ("mymod.MyModule", types.SymbolKind.Module),
        ("$key", types.SymbolKind.Variable),
        ("@0:1", types.SymbolKind.Event),
        ("@0:2", types.SymbolKind.Event),
        ("@0:4", types.SymbolKind.Event),
        ("@0:3", types.SymbolKind.Event),
        ("@0:9", types.SymbolKind.Event),
    ]
    first = symbols[2]
    assert first.detail == "2 events"
    assert [c.name for c in first.children or []] == ["write_peer_id", "echo"]


async def test_folding_ranges_cover_comment_blocks_and_events_at_one_time(
    client: LanguageClient, project: Path
) -> None:
    text = "# one\n# two\n&module mymod.MyModule\n@0:1 write_peer_id\n@0:1 write_peer_id {2}\n@0:2 stop\n"
    _s, uri = await opened(client, project / "exp.scenario", text)
    result = await client.text_document_folding_range_async(
        types.FoldingRangeParams(text_document=doc_id(uri))
    )
    assert result is not None
    assert [(r.start_line, r.end_line, r.kind) for r in result] == [
        (0, 1, types.FoldingRangeKind.Comment),
        (3, 4, types.FoldingRangeKind.Region),
    ]


# --------------------------------------------------------------------------- semantic tokens


def decode(data: list[int]) -> list[tuple[int, int, int, int]]:
    out = []
    line = start = 0
    for i in range(0, len(data), 5):
        dl, ds, length, kind, _mods = data[i : i + 5]
        line += dl
        start = start + ds if dl == 0 else ds
        out.append((line, start, length, kind))
    return out


async def test_semantic_tokens_classify_time_callback_variables_and_peers(
    client: LanguageClient, project: Path
) -> None:
    _s, uri = await opened(client, project / "exp.scenario")
    init = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=doc_id(uri))
    )
    assert init is not None
    legend = ["comment", "keyword", "number", "function", "variable", "parameter", "string", "namespace"]
    tokens = [(ln, st, n, legend[k]) for ln, st, n, k in decode(list(init.data)) if ln == 3]
    assert tokens == [
        (3, 0, 4, "number"),
        (3, 5, 13, "function"),
        (3, 19, 4, "variable"),
        (3, 24, 1, "number"),
        (3, 26, 4, "parameter"),
        (3, 31, 4, "number"),
        (3, 37, 3, "number"),
    ]
    ranged = await client.text_document_semantic_tokens_range_async(
        types.SemanticTokensRangeParams(
            text_document=doc_id(uri), range=types.Range(start=pos(3, 0), end=pos(3, 10))
        )
    )
    assert ranged is not None
    assert [t[3] for t in decode(list(ranged.data))] == [2, 3, 4, 2, 5, 2, 2]


# --------------------------------------------------------------------------- formatting


async def test_formatting_gives_what_gscen_fmt_writes(client: LanguageClient, project: Path) -> None:
    _s, uri = await opened(client, project / "exp.scenario", "@0:01 echo  hi {1, 2}\n#c   \n")
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=doc_id(uri), options=types.FormattingOptions(tab_size=4, insert_spaces=True)
        )
    )
    assert edits is not None and len(edits) == 1
    assert edits[0].new_text == "@0:1 echo hi {1,2}\n#c\n"
    assert edits[0].range == types.Range(start=pos(0, 0), end=pos(2, 0))


async def test_formatting_leaves_a_file_with_syntax_errors_alone(
    client: LanguageClient, project: Path
) -> None:
    _s, uri = await opened(client, project / "exp.scenario", "@0:1 echo 'open\n")
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=doc_id(uri), options=types.FormattingOptions(tab_size=4, insert_spaces=True)
        )
    )
    assert not edits


# --------------------------------------------------------------------------- code actions, inlay hints


async def code_actions(client: LanguageClient, uri: str, line: int) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc_id(uri),
            range=types.Range(start=pos(line, 0), end=pos(line, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


async def test_code_action_applies_the_did_you_mean_fix(client: LanguageClient, project: Path) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, path.read_text().replace("write_peer_id", "write_peer_idd"))
    [action] = await code_actions(client, uri, 2)
    assert action.kind == types.CodeActionKind.QuickFix
    assert action.edit is not None and action.edit.changes is not None
    [edit] = action.edit.changes[uri]
    assert edit.new_text == "write_peer_id"
    assert edit.range == types.Range(start=pos(2, 5), end=pos(2, 19))


async def test_code_action_adds_the_module_that_defines_an_unknown_callback(
    client: LanguageClient, project: Path
) -> None:
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, path.read_text() + "@0:8 ping 3\n")
    [action] = await code_actions(client, uri, 7)
    assert action.title == "Add `&module extra.Extra` (defines `ping`)"
    assert action.edit is not None and action.edit.changes is not None
    [edit] = action.edit.changes[uri]
    assert edit.new_text == "&module extra.Extra\n"
    assert edit.range.start == pos(1, 0)


async def test_inlay_hints_give_absolute_seconds_after_times(client: LanguageClient, project: Path) -> None:
    _s, uri = await opened(
        client, project / "exp.scenario", "@! set a b\n@0:1 echo x\n@90 echo y\n@1:0:2 echo z\n"
    )
    result = await client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=doc_id(uri), range=types.Range(start=pos(0, 0), end=pos(4, 0)))
    )
    assert result is not None
    assert [(h.position.line, h.position.character, h.label) for h in result] == [
        (1, 4, "1s"),
        (3, 6, "3602s"),
    ]


async def test_features_see_modules_and_variables_from_included_files(
    client: LanguageClient, project: Path
) -> None:
    (project / "common.scenario").write_text("&module mymod.MyModule\n@! set key abc\n")
    path = project / "exp.scenario"
    _s, uri = await opened(client, path, "&include common.scenario\n@0:1 start_queries $key\n@0:2 \n")
    labels = {i.label for i in await complete(client, uri, 2, 5)}
    assert {"start_queries", "write_peer_id"} <= labels
    assert "Start queries." in await hover_text(client, uri, 1, 8)
    assert (await hover_text(client, uri, 1, 22)).startswith("`$key` = `abc`")
    [loc] = await definition(client, uri, 1, 8)
    assert loc.uri == (project / "mymod.py").as_uri()
    variables = {i.label for i in await complete(client, uri, 1, 21)}
    assert "key" in variables
