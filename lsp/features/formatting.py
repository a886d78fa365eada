"""Formatting: the whole document as `gscen fmt` writes it (nothing when it has syntax errors)."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from scenario_lang.fmt import FormatError, format_text

from ..context import Context
from ..document import Document
from ..handler import Handler


def whole_range(doc: Document, ctx: Context) -> types.Range:
    last = doc.line_count()
    text = doc.line_text(last)
    return types.Range(
        start=types.Position(line=0, character=0),
        end=ctx.codec.position(max(last - 1, 0), text, len(text)),
    )


def handlers(ctx: Context) -> list[Handler]:
    async def formatting(params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        doc = ctx.document(params.text_document.uri)
        if doc is None:
            return None
        text = doc.text()
        version = doc.version
        try:
            formatted = await asyncio.to_thread(format_text, text, doc.path)
        except FormatError as exc:
            ctx.log(f"gscen: {doc.path} not formatted: {len(exc.diagnostics)} syntax error(s)")
            return None
        if formatted == text or doc.version != version:
            return []
        return [types.TextEdit(range=whole_range(doc, ctx), new_text=formatted)]

    return [Handler(types.TEXT_DOCUMENT_FORMATTING, formatting)]
