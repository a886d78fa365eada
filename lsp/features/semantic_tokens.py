"""Semantic tokens: times and peer numbers, directives and loop keywords, callbacks (built-ins
marked), named-argument keys, variables, arguments and comments, for a whole document or a range."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from lsprotocol import types

from scenario_lang.nodes import Comment, Event, IncludeDirective, ModuleDirective, Statement, VarRef
from scenario_lang.signatures import BUILTINS

from ..context import Context
from ..handler import Handler
from ..lines import LineEntry
from ..positions import PositionCodec

TOKEN_TYPES = ["comment", "keyword", "number", "function", "variable", "parameter", "string", "namespace"]
TOKEN_MODIFIERS = ["declaration", "defaultLibrary"]
LEGEND = types.SemanticTokensLegend(token_types=TOKEN_TYPES, token_modifiers=TOKEN_MODIFIERS)
_T = {name: i for i, name in enumerate(TOKEN_TYPES)}
DECLARATION = 1
DEFAULT_LIBRARY = 2

Token = tuple[int, int, int, int]  # start column, end column (code points, 1-based), type, modifiers


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def line_tokens(stmt: Statement | None) -> Iterator[Token]:
    if stmt is None:
        return
    t = type(stmt)
    if t is Comment:
        yield (stmt.span.column, stmt.span.end_column, _T["comment"], 0)
    elif t is ModuleDirective or t is IncludeDirective:
        assert isinstance(stmt, ModuleDirective | IncludeDirective)
        word = "&module" if t is ModuleDirective else "&include"
        yield (stmt.span.column, stmt.span.column + len(word), _T["keyword"], 0)
        target = _T["namespace"] if t is ModuleDirective else _T["string"]
        yield (stmt.target_span.column, stmt.target_span.end_column, target, 0)
    elif t is Event:
        assert isinstance(stmt, Event)
        yield from event_tokens(stmt)


def _var(ref: VarRef) -> Token:
    return (ref.span.column, ref.span.end_column, _T["variable"], 0)


def event_tokens(ev: Event) -> Iterator[Token]:
    time = ev.time
    yield (time.span.column, time.span.end_column, _T["keyword" if time.seconds is None else "number"], 0)
    lp = ev.loop
    if lp is not None:
        yield (lp.span.column, lp.span.column + 3, _T["keyword"], 0)
        yield (lp.var.span.column, lp.var.span.end_column, _T["variable"], DECLARATION)
        for bound in (lp.start, lp.stop):
            if isinstance(bound, VarRef):
                yield _var(bound)
        yield (lp.span.end_column - 4, lp.span.end_column, _T["keyword"], 0)
    cb = ev.callback
    yield (cb.span.column, cb.span.end_column, _T["function"], DEFAULT_LIBRARY if cb.value in BUILTINS else 0)
    for arg in ev.args:
        if arg.key is not None and arg.key_span is not None:
            yield (arg.key_span.column, arg.key_span.end_column, _T["parameter"], 0)
        word = arg.value
        refs = [p for p in word.parts if isinstance(p, VarRef)]
        if refs:
            yield from (_var(r) for r in refs)
        elif word.span.end_column > word.span.column:
            kind = "number" if _numeric(word.raw) else "string"
            yield (word.span.column, word.span.end_column, _T[kind], 0)
    if ev.peers is not None:
        for item in ev.peers.items:
            if isinstance(item.low, VarRef) or isinstance(item.high, VarRef):
                for bound in (item.low, item.high or 0):
                    if isinstance(bound, VarRef):
                        yield _var(bound)
            else:
                yield (item.span.column, item.span.end_column, _T["number"], 0)


def encode(entries: list[LineEntry], codec: PositionCodec, first: int, last: int) -> list[int]:
    """The LSP's relative encoding of the tokens of lines first..last (1-based, inclusive)."""
    data: list[int] = []
    prev_line = 0
    prev_start = 0
    for n in range(max(first, 1), min(last, len(entries)) + 1):
        entry = entries[n - 1]
        tokens = sorted(line_tokens(entry.stmt))
        if not tokens:
            continue
        text = entry.text
        ascii_line = text.isascii()
        end_seen = 0
        for start, end, kind, mods in tokens:
            if start < end_seen or end <= start:
                continue  # never overlap
            end_seen = end
            if ascii_line:
                s, length = start - 1, end - start
            else:
                s = codec.units(text, start - 1)
                length = codec.units(text, end - 1) - s
            line0 = n - 1
            delta_line = line0 - prev_line
            delta_start = s - prev_start if delta_line == 0 else s
            data.extend((delta_line, delta_start, length, kind, mods))
            prev_line, prev_start = line0, s
    return data


def handlers(ctx: Context) -> list[Handler]:
    async def full(params: types.SemanticTokensParams) -> types.SemanticTokens | None:
        doc = ctx.document(params.text_document.uri)
        if doc is None:
            return None
        # a 118k-line file has ~370k tokens: encode a snapshot in a thread, the loop keeps serving
        entries = list(doc.entries)
        data = await asyncio.to_thread(encode, entries, ctx.codec, 1, len(entries))
        return types.SemanticTokens(data=data)

    def ranged(params: types.SemanticTokensRangeParams) -> types.SemanticTokens | None:
        doc = ctx.document(params.text_document.uri)
        if doc is None:
            return None
        r = params.range
        return types.SemanticTokens(data=encode(doc.entries, ctx.codec, r.start.line + 1, r.end.line + 1))

    return [
        Handler(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, full, LEGEND),
        Handler(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_RANGE, ranged, LEGEND),
    ]
