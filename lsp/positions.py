"""Span <-> LSP position conversion: the one place that knows about position encodings.

Takes front-end `Span`s (1-based lines and columns, end-exclusive, counted in code points) and the
text of the line they sit on; returns LSP `Position`/`Range` values (0-based, counted in the units
of the negotiated encoding: UTF-16 code units by default, or UTF-8 bytes, or UTF-32 code points),
and back. A position past the end of a line is clamped to the end, as the LSP asks.
"""

from __future__ import annotations

from collections.abc import Callable

from lsprotocol import types

from scenario_lang.nodes import Span

UTF8 = str(types.PositionEncodingKind.Utf8.value)
UTF16 = str(types.PositionEncodingKind.Utf16.value)
UTF32 = str(types.PositionEncodingKind.Utf32.value)


def _width(ch: str, encoding: str) -> int:
    cp = ord(ch)
    if encoding == UTF16:
        return 2 if cp > 0xFFFF else 1
    if encoding == UTF8:
        if cp < 0x80:
            return 1
        if cp < 0x800:
            return 2
        if cp < 0x10000:
            return 3
        return 4
    return 1


class PositionCodec:
    """Converts columns for one negotiated encoding (`utf-16` unless the client chose another)."""

    def __init__(self, encoding: str | None = UTF16) -> None:
        enc = str(encoding) if encoding else UTF16
        self.encoding = enc if enc in (UTF8, UTF16, UTF32) else UTF16

    # ---- columns
    def units(self, text: str, index: int) -> int:
        """The encoding units before code-point `index` (0-based) of `text`."""
        index = max(0, min(index, len(text)))
        if self.encoding == UTF32 or text.isascii():
            return index
        return sum(_width(ch, self.encoding) for ch in text[:index])

    def index(self, text: str, units: int) -> int:
        """The code-point index (0-based) at `units` encoding units into `text` (clamped)."""
        if units <= 0:
            return 0
        if self.encoding == UTF32 or text.isascii():
            return min(units, len(text))
        seen = 0
        for i, ch in enumerate(text):
            if seen >= units:
                return i
            seen += _width(ch, self.encoding)
            if seen > units:
                return i  # inside a character: stay before it
        return len(text)

    # ---- positions and ranges
    def position(self, line0: int, text: str, index: int) -> types.Position:
        return types.Position(line=line0, character=self.units(text, index))

    def span_range(self, span: Span, line_text: Callable[[int], str], line: int | None = None) -> types.Range:
        """The range of `span`; `line_text(n)` gives the text of 1-based line n. `line`, if given,
        is the span's current line (a span parsed before lines above it were inserted or deleted)."""
        start_line = span.line if line is None else line
        end_line = start_line + (span.end_line - span.line)
        start_text = line_text(start_line)
        end_text = start_text if end_line == start_line else line_text(end_line)
        return types.Range(
            start=self.position(start_line - 1, start_text, span.column - 1),
            end=self.position(end_line - 1, end_text, span.end_column - 1),
        )

    def column(self, text: str, position: types.Position) -> int:
        """The 1-based code-point column of an LSP position on a line with `text`."""
        return self.index(text, position.character) + 1
