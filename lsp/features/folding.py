"""Folding ranges: blocks of comment lines, of `&module`/`&include` lines, and runs of events at the
same time."""

from __future__ import annotations

from lsprotocol import types

from scenario_lang.nodes import Comment, Event, IncludeDirective, ModuleDirective, Statement

from ..context import Context
from ..document import Document
from ..handler import Handler


def _kind(stmt: Statement | None) -> tuple[str, object] | None:
    t = type(stmt)
    if t is Comment:
        return ("comment", None)
    if t is ModuleDirective or t is IncludeDirective:
        return ("imports", None)
    if t is Event:
        assert isinstance(stmt, Event)
        return ("time", stmt.time.seconds if stmt.time.seconds is not None else "!")
    return None


def folding_ranges(doc: Document) -> list[types.FoldingRange]:
    out: list[types.FoldingRange] = []
    start = 0
    current: tuple[str, object] | None = None
    kinds = {"comment": types.FoldingRangeKind.Comment, "imports": types.FoldingRangeKind.Imports}

    def close(end: int) -> None:
        if current is not None and end > start:
            out.append(
                types.FoldingRange(
                    start_line=start,
                    end_line=end,
                    kind=kinds.get(current[0], types.FoldingRangeKind.Region),
                )
            )

    for i, e in enumerate(doc.entries):
        k = _kind(e.stmt)
        if k != current:
            close(i - 1)
            start, current = i, k
    close(len(doc.entries) - 1)
    return out


def handlers(ctx: Context) -> list[Handler]:
    def folding(params: types.FoldingRangeParams) -> list[types.FoldingRange] | None:
        doc = ctx.document(params.text_document.uri)
        return folding_ranges(doc) if doc is not None else None

    return [Handler(types.TEXT_DOCUMENT_FOLDING_RANGE, folding)]
