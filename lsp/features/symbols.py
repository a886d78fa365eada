"""Document symbols: the `&module` and `&include` lines, the variables `@! set` defines, and the
events grouped by time (one symbol per time, its events as children)."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from scenario_lang.nodes import Event, IncludeDirective, ModuleDirective

from ..context import Context
from ..handler import Handler
from ..lines import LineEntry
from ..locate import set_name_of
from ..positions import PositionCodec

MAX_CHILDREN = 100  # events listed under one time
MAX_EVENTS = 5_000  # events listed in all (a 118k-line file has 1,800 times and 118k events)


def document_symbols(codec: PositionCodec, entries: list[LineEntry]) -> list[types.DocumentSymbol]:
    def text(n: int) -> str:
        return entries[n - 1].text if 1 <= n <= len(entries) else ""

    listed = 0
    out: list[types.DocumentSymbol] = []
    groups: dict[str, types.DocumentSymbol] = {}
    counts: dict[str, int] = {}
    last: dict[str, tuple[int, Event]] = {}
    for n, e in enumerate(entries, 1):
        stmt = e.stmt
        if stmt is None:
            continue
        t = type(stmt)
        if t is Event:
            assert isinstance(stmt, Event)
            name = set_name_of(stmt)
            if name is not None:
                out.append(
                    types.DocumentSymbol(
                        name=f"${name}",
                        kind=types.SymbolKind.Variable,
                        range=codec.span_range(stmt.span, text, line=n),
                        selection_range=codec.span_range(stmt.args[0].span, text, line=n),
                        detail=stmt.args[1].value.raw if len(stmt.args) > 1 else None,
                    )
                )
                continue
            key = stmt.time.text if stmt.time.seconds is None else f"@{stmt.time.seconds:g}"
            group = groups.get(key)
            if group is None:
                group = groups[key] = types.DocumentSymbol(
                    name=stmt.time.text,
                    kind=types.SymbolKind.Event,
                    range=codec.span_range(stmt.span, text, line=n),
                    selection_range=codec.span_range(stmt.time.span, text, line=n),
                    children=[],
                )
                counts[key] = 0
                out.append(group)
            last[key] = (n, stmt)
            counts[key] += 1
            children = group.children
            assert isinstance(children, list)
            if len(children) < MAX_CHILDREN and listed < MAX_EVENTS:
                listed += 1
                children.append(
                    types.DocumentSymbol(
                        name=stmt.callback.value,
                        kind=types.SymbolKind.Function,
                        range=codec.span_range(stmt.span, text, line=n),
                        selection_range=codec.span_range(stmt.callback.span, text, line=n),
                        detail=f"line {n}",
                    )
                )
        elif t is ModuleDirective or t is IncludeDirective:
            assert isinstance(stmt, ModuleDirective | IncludeDirective)
            out.append(
                types.DocumentSymbol(
                    name=stmt.target,
                    kind=types.SymbolKind.Module if t is ModuleDirective else types.SymbolKind.File,
                    range=codec.span_range(stmt.span, text, line=n),
                    selection_range=codec.span_range(stmt.target_span, text, line=n),
                    detail="&module" if t is ModuleDirective else "&include",
                )
            )
    for key, group in groups.items():
        group.detail = f"{counts[key]} event{'s' if counts[key] != 1 else ''}"
        n, stmt = last[key]
        end = codec.span_range(stmt.span, text, line=n).end
        group.range = types.Range(start=group.range.start, end=end)
    return out


def handlers(ctx: Context) -> list[Handler]:
    async def symbols(params: types.DocumentSymbolParams) -> list[types.DocumentSymbol] | None:
        doc = ctx.document(params.text_document.uri)
        if doc is None:
            return None
        return await asyncio.to_thread(document_symbols, ctx.codec, list(doc.entries))

    return [Handler(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL, symbols)]
