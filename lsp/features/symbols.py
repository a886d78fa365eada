"""Document symbols: the `&module` and `&include` lines, the variables `@! set` defines, and the
events grouped by time (one symbol per time, its events as children)."""

from __future__ import annotations

from lsprotocol import types

from scenario_lang.nodes import Event, IncludeDirective, ModuleDirective

from ..context import Context
from ..handler import Handler
from ..locate import set_name_of
from ..store import Document

MAX_CHILDREN = 500


def document_symbols(ctx: Context, doc: Document) -> list[types.DocumentSymbol]:
    codec = ctx.codec
    text = doc.line_text
    out: list[types.DocumentSymbol] = []
    groups: dict[str, types.DocumentSymbol] = {}
    counts: dict[str, int] = {}
    for n, e in enumerate(doc.entries, 1):
        stmt = e.stmt
        if stmt is None:
            continue
        t = type(stmt)
        if t is Event:
            assert isinstance(stmt, Event)
            rng = codec.span_range(stmt.span, text, line=n)
            name = set_name_of(stmt)
            if name is not None:
                out.append(
                    types.DocumentSymbol(
                        name=f"${name}",
                        kind=types.SymbolKind.Variable,
                        range=rng,
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
                    range=rng,
                    selection_range=codec.span_range(stmt.time.span, text, line=n),
                    children=[],
                )
                counts[key] = 0
                out.append(group)
            else:
                group.range = types.Range(start=group.range.start, end=rng.end)
            counts[key] += 1
            children = group.children
            assert isinstance(children, list)
            if len(children) < MAX_CHILDREN:
                children.append(
                    types.DocumentSymbol(
                        name=stmt.callback.value,
                        kind=types.SymbolKind.Function,
                        range=rng,
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
    return out


def handlers(ctx: Context) -> list[Handler]:
    def symbols(params: types.DocumentSymbolParams) -> list[types.DocumentSymbol] | None:
        doc = ctx.document(params.text_document.uri)
        if doc is None:
            return None
        return document_symbols(ctx, doc)

    return [Handler(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL, symbols)]
