"""Finding things in a document for features: the node under the cursor, the variable references and
callback names of a line, and the variables in scope. Reads statements only (never the text)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lsprotocol import types

from scenario_lang.nodes import (
    Event,
    Node,
    PeerItem,
    Statement,
    VarRef,
    walk,
)
from scenario_lang.signatures import ModuleInfo, ModuleMiss, ModuleReader

from .context import Context
from .document import Document
from .lines import LineEntry


@dataclass
class Cursor:
    """A position in an open document: 1-based line and code-point column, and the line's entry."""

    doc: Document
    line: int
    column: int
    entry: LineEntry

    @property
    def stmt(self) -> Statement | None:
        return self.entry.stmt

    def range_of(self, node: Node, ctx: Context) -> types.Range:
        return ctx.codec.span_range(node.span, self.doc.line_text, line=self.line)


def cursor(ctx: Context, uri: str, position: types.Position) -> Cursor | None:
    doc = ctx.document(uri)
    if doc is None:
        return None
    entry = doc.entry(position.line + 1)
    if entry is None:
        return None
    column = ctx.codec.column(entry.text, position)
    return Cursor(doc, position.line + 1, column, entry)


def nodes_at(stmt: Statement | None, column: int) -> list[Node]:
    """The nodes whose span holds `column` (end inclusive, so a cursor just after a word counts),
    outermost first."""
    if stmt is None:
        return []
    found = [n for n in walk(stmt) if n.span.column <= column <= n.span.end_column]
    found.sort(key=lambda n: n.span.end_column - n.span.column, reverse=True)
    return found


def innermost(stmt: Statement | None, column: int, kind: type[Node]) -> Node | None:
    for node in reversed(nodes_at(stmt, column)):
        if isinstance(node, kind):
            return node
    return None


def var_refs(stmt: Statement | None) -> Iterator[VarRef]:
    """Every `$name` of an event: in arguments, the peer spec and the loop bounds."""
    if not isinstance(stmt, Event):
        return
    if stmt.loop is not None:
        for bound in (stmt.loop.start, stmt.loop.stop):
            if isinstance(bound, VarRef):
                yield bound
    for arg in stmt.args:
        for part in arg.value.parts:
            if isinstance(part, VarRef):
                yield part
    if stmt.peers is not None:
        for item in stmt.peers.items:
            for bound in (item.low, item.high or 0):
                if isinstance(bound, VarRef):
                    yield bound


def peer_item_at(stmt: Statement | None, column: int) -> PeerItem | None:
    node = innermost(stmt, column, PeerItem)
    return node if isinstance(node, PeerItem) else None


def set_name_of(stmt: Statement | None) -> str | None:
    """The variable an `@! set NAME VALUE` line defines (None for any other line)."""
    if (
        isinstance(stmt, Event)
        and stmt.callback.value == "set"
        and stmt.time.seconds is None
        and stmt.args
        and stmt.args[0].value.is_literal
    ):
        return stmt.args[0].value.literal
    return None


def module_classes(reader: ModuleReader, dotted: str) -> list[ModuleInfo]:
    """The experiment module classes a Python module defines, read statically (never imported)."""
    miss = reader.resolve(dotted)
    if not isinstance(miss, ModuleMiss) or miss.kind != "is_module":
        return []
    out = []
    for cls in miss.classes:
        info = reader.resolve(f"{dotted}.{cls}")
        if isinstance(info, ModuleInfo) and not info.is_base:
            out.append(info)
    return out
