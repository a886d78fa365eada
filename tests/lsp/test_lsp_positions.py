"""Span <-> LSP positions with accents and emoji, in each negotiated encoding, unit and end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient
from scenario_lang.lsp.positions import UTF8, UTF16, UTF32, PositionCodec

from scenario_lang.nodes import Span

from .conftest import Session

# `é` is 1 UTF-16 unit and 2 UTF-8 bytes; `🎉` is 2 UTF-16 units and 4 UTF-8 bytes
LINE = "@0:1 echo héllo🎉 $x"
DOLLAR = LINE.index("$")  # code points before `$x`


@pytest.mark.parametrize(
    ("encoding", "units"),
    [(UTF16, DOLLAR + 1), (UTF8, DOLLAR + 1 + 3), (UTF32, DOLLAR)],
)
def test_column_after_accent_and_emoji_counts_encoding_units(encoding: str, units: int) -> None:
    codec = PositionCodec(encoding)
    assert codec.units(LINE, DOLLAR) == units
    assert codec.index(LINE, units) == DOLLAR


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
def test_units_and_index_round_trip_on_every_column(encoding: str) -> None:
    codec = PositionCodec(encoding)
    for i in range(len(LINE) + 1):
        assert codec.index(LINE, codec.units(LINE, i)) == i


def test_position_inside_a_surrogate_pair_stays_before_the_character() -> None:
    codec = PositionCodec(UTF16)
    emoji = LINE.index("🎉")
    assert codec.index(LINE, codec.units(LINE, emoji) + 1) == emoji


def test_position_past_the_end_of_the_line_is_clamped() -> None:
    for encoding in (UTF8, UTF16, UTF32):
        assert PositionCodec(encoding).index(LINE, 1000) == len(LINE)


def test_unknown_encoding_falls_back_to_utf16() -> None:
    assert PositionCodec("latin-1").encoding == UTF16
    assert PositionCodec(None).encoding == UTF16


def test_span_range_converts_one_based_code_points_to_zero_based_units() -> None:
    span = Span("f", 3, DOLLAR + 1, 3, DOLLAR + 3)
    rng = PositionCodec(UTF16).span_range(span, lambda n: LINE if n == 3 else "")
    assert rng == types.Range(
        start=types.Position(line=2, character=DOLLAR + 1), end=types.Position(line=2, character=DOLLAR + 3)
    )
    moved = PositionCodec(UTF16).span_range(span, lambda n: LINE, line=7)
    assert moved.start.line == 6 and moved.end.line == 6


async def _dollar_diagnostic(client: LanguageClient, project: Path) -> types.Diagnostic:
    s = Session(client)
    uri = s.open(project / "exp.scenario", LINE + "\n")
    [found] = await s.diagnostics(uri, version=1)
    assert found.code == "SC401"
    return found


async def test_diagnostic_range_is_in_utf16_units_by_default(client: LanguageClient, project: Path) -> None:
    found = await _dollar_diagnostic(client, project)
    assert (found.range.start.character, found.range.end.character) == (DOLLAR + 1, DOLLAR + 3)


async def test_diagnostic_range_is_in_utf8_bytes_when_the_client_asks(
    client_utf8: LanguageClient, project: Path
) -> None:
    found = await _dollar_diagnostic(client_utf8, project)
    assert (found.range.start.character, found.range.end.character) == (DOLLAR + 4, DOLLAR + 6)


async def test_diagnostic_range_is_in_code_points_with_utf32(
    client_utf32: LanguageClient, project: Path
) -> None:
    found = await _dollar_diagnostic(client_utf32, project)
    assert (found.range.start.character, found.range.end.character) == (DOLLAR, DOLLAR + 2)


async def test_server_announces_the_negotiated_encoding(
    client: LanguageClient, client_utf8: LanguageClient
) -> None:
    assert client.initialize_result.capabilities.position_encoding == UTF16  # type: ignore[attr-defined]
    assert client_utf8.initialize_result.capabilities.position_encoding == UTF8  # type: ignore[attr-defined]


async def test_edit_after_an_emoji_is_applied_at_the_right_character(
    client: LanguageClient, project: Path
) -> None:
    s = Session(client)
    uri = s.open(project / "exp.scenario", LINE + "\n")
    await s.diagnostics(uri, version=1)
    # replace `$x` (UTF-16 columns DOLLAR+1..DOLLAR+3) by `ok`: the undefined variable is gone
    version = s.edit(uri, 0, DOLLAR + 1, DOLLAR + 3, "ok")
    assert await s.diagnostics(uri, version=version) == []
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=0, character=1)
        )
    )
    assert hover is not None
