"""References in the file: of a variable (its `$uses` and, with the declaration, its `set` lines)
and of a callback (every event calling it)."""

from __future__ import annotations

from lsprotocol import types

from scenario_lang.nodes import Event, Name, VarRef

from ..context import Context
from ..handler import Handler
from ..locate import Cursor, cursor, nodes_at, set_name_of, var_refs


def variable_references(ctx: Context, cur: Cursor, name: str, declaration: bool) -> list[types.Location]:
    doc = cur.doc
    out: list[types.Location] = []
    codec = ctx.codec
    for n, e in enumerate(doc.entries, 1):
        stmt = e.stmt
        if stmt is None or ("$" not in e.text and not (declaration and name in e.text)):
            continue
        if declaration and set_name_of(stmt) == name:
            assert isinstance(stmt, Event)
            out.append(
                types.Location(uri=doc.uri, range=codec.span_range(stmt.args[0].span, doc.line_text, line=n))
            )
        for ref in var_refs(stmt):
            if ref.name == name:
                out.append(
                    types.Location(uri=doc.uri, range=codec.span_range(ref.span, doc.line_text, line=n))
                )
    return out


def callback_references(ctx: Context, cur: Cursor, name: str) -> list[types.Location]:
    doc = cur.doc
    codec = ctx.codec
    out = []
    for n, e in enumerate(doc.entries, 1):
        stmt = e.stmt
        if type(stmt) is Event and stmt.callback.value == name:
            out.append(
                types.Location(uri=doc.uri, range=codec.span_range(stmt.callback.span, doc.line_text, line=n))
            )
    return out


def handlers(ctx: Context) -> list[Handler]:
    def references(params: types.ReferenceParams) -> list[types.Location] | None:
        cur = cursor(ctx, params.text_document.uri, params.position)
        if cur is None:
            return None
        declaration = params.context.include_declaration
        stmt = cur.stmt
        for node in reversed(nodes_at(stmt, cur.column)):
            if isinstance(node, VarRef):
                return variable_references(ctx, cur, node.name, declaration)
            if isinstance(node, Name) and isinstance(stmt, Event) and node is stmt.callback:
                return callback_references(ctx, cur, node.value)
        name = set_name_of(stmt)
        if (
            name is not None
            and isinstance(stmt, Event)
            and stmt.args[0].span.column <= cur.column <= stmt.args[0].span.end_column
        ):
            return variable_references(ctx, cur, name, declaration)
        return None

    return [Handler(types.TEXT_DOCUMENT_REFERENCES, references)]
