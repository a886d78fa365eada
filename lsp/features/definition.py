"""Go to definition: a callback to its Python `def`, `$var` to its `set` line, `&include` to the
file, `&module` to the class."""

from __future__ import annotations

import os

from lsprotocol import types

from scenario_lang.nodes import Event, IncludeDirective, ModuleDirective, Name, Span, VarRef

from ..context import Context, path_to_uri
from ..document import scope_at
from ..handler import Handler
from ..locate import Cursor, cursor, nodes_at


def file_line(path: str, line: int) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, text in enumerate(f, 1):
                if n == line:
                    return text.rstrip("\r\n")
    except OSError:
        pass
    return ""


def location(ctx: Context, span: Span) -> types.Location:
    """A location in any file (read from disk for the encoding of its columns)."""
    text = file_line(span.path, span.line)
    return types.Location(
        uri=path_to_uri(span.path),
        range=ctx.codec.span_range(span, lambda n: text if n == span.line else ""),
    )


def variable_location(ctx: Context, cur: Cursor, name: str) -> types.Location | None:
    scope = scope_at(cur.doc, cur.line)
    if name not in scope:
        return None
    var, line = scope[name]
    if line is None:
        return location(ctx, var.span)
    entry = cur.doc.entry(line)
    target = var.span
    if entry is not None and isinstance(entry.stmt, Event) and entry.stmt.args:
        target = entry.stmt.args[0].span
    return types.Location(uri=cur.doc.uri, range=ctx.codec.span_range(target, cur.doc.line_text, line=line))


def definition_of(ctx: Context, cur: Cursor) -> list[types.Location]:
    a = cur.doc.analysis
    stmt = cur.stmt
    for node in reversed(nodes_at(stmt, cur.column)):
        if isinstance(node, VarRef):
            if isinstance(stmt, Event) and stmt.loop is not None and stmt.loop.var.value == node.name:
                return [types.Location(uri=cur.doc.uri, range=cur.range_of(stmt.loop.var, ctx))]
            loc = variable_location(ctx, cur, node.name)
            return [loc] if loc else []
        if isinstance(node, Name) and isinstance(stmt, Event) and node is stmt.callback and a is not None:
            return [location(ctx, s.span) for s in a.program.callbacks.get(node.value) if s.span is not None]
        if isinstance(node, ModuleDirective) and a is not None:
            for directive, info in a.program.module_directives:
                if directive.target == node.target and info is not None:
                    return [location(ctx, info.class_span)]
            return []
        if isinstance(node, IncludeDirective) and a is not None:
            for inc, target in a.program.includes:
                if inc.target == node.target and inc.span.path == cur.doc.path and target:
                    start = types.Position(line=0, character=0)
                    return [
                        types.Location(
                            uri=path_to_uri(os.path.abspath(target)),
                            range=types.Range(start=start, end=start),
                        )
                    ]
            return []
    return []


def handlers(ctx: Context) -> list[Handler]:
    def definition(params: types.DefinitionParams) -> list[types.Location] | None:
        cur = cursor(ctx, params.text_document.uri, params.position)
        if cur is None:
            return None
        return definition_of(ctx, cur) or None

    return [Handler(types.TEXT_DOCUMENT_DEFINITION, definition)]
