"""Inlay hints: the absolute time in seconds after every `M:S` or `H:M:S` time spec, for those
in the requested range only."""

from __future__ import annotations

import math

from lsprotocol import types

from scenario_lang.nodes import Event

from ..context import Context
from ..handler import Handler


def handlers(ctx: Context) -> list[Handler]:
    def inlay_hints(params: types.InlayHintParams) -> list[types.InlayHint] | None:
        doc = ctx.document(params.text_document.uri)
        if doc is None:
            return None
        codec = ctx.codec
        out: list[types.InlayHint] = []
        rng = params.range
        start = (rng.start.line, rng.start.character)
        end = (rng.end.line, rng.end.character)  # (excluded, as every LSP range's end)
        first = params.range.start.line + 1
        last = min(params.range.end.line + 1, doc.line_count())
        for n in range(first, last + 1):
            e = doc.entries[n - 1]
            stmt = e.stmt
            if type(stmt) is not Event:
                continue
            assert isinstance(stmt, Event)
            t = stmt.time
            if t.seconds is None or len(t.fields) < 2 or math.isnan(t.seconds) or math.isinf(t.seconds):
                continue
            at = codec.position(n - 1, e.text, t.span.end_column - 1)
            if not (start <= (at.line, at.character) < end):
                continue  # on the range's first or last line, but outside it
            out.append(
                types.InlayHint(
                    position=at,
                    label=f"{t.seconds:g}s",
                    padding_left=True,
                    tooltip=f"{t.text} is {t.seconds:g} seconds after the start",
                )
            )
        return out

    return [
        Handler(types.TEXT_DOCUMENT_INLAY_HINT, inlay_hints, types.InlayHintOptions(resolve_provider=False))
    ]
