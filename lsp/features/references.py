"""References in the file: of a variable (its `$uses` and, with the declaration, its `set` lines)
and of a callback (every event calling it).

A callback of a large file may have 100,000 references: the lines are scanned in slices of a few
milliseconds, the event loop served between them (a hover or a completion waits for one slice,
not the whole scan), and `$/cancelRequest` stops the scan between two slices. When the client
offers a `partialResultToken`, every reference is reported in `$/progress` notifications, one per
slice (written as JSON text), and the answer is empty, as the LSP asks; otherwise the answer holds
the first `MAX_REFERENCES` and a message says how many there are. (pygls writes to the client
synchronously: a client slow to read 78,763 partial results holds the server's writes, and the
answers behind them, that long.)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from lsprotocol import types

from scenario_lang.nodes import Event, Name, Span, VarRef

from ..context import Context
from ..document import Document
from ..handler import Handler
from ..lines import LineEntry
from ..locate import cursor, nodes_at, set_name_of, var_refs

SLICE_S = 0.005  # scanning time between two turns of the event loop (a hover waits that long)
PAUSE_S = 0.001  # the loop's time between two slices
CHECK_LINES = 256  # lines scanned between two looks at the clock
MAX_REFERENCES = 1_000  # without a partialResultToken, the answer is cut here (with a message)

SpansOf = Callable[[LineEntry], list[Span]]


def variable_spans(name: str, declaration: bool) -> SpansOf:
    def spans(e: LineEntry) -> list[Span]:
        stmt = e.stmt
        if stmt is None or ("$" not in e.text and not (declaration and name in e.text)):
            return []
        out = []
        if declaration and set_name_of(stmt) == name:
            assert isinstance(stmt, Event)
            out.append(stmt.args[0].span)
        out.extend(ref.span for ref in var_refs(stmt) if ref.name == name)
        return out

    return spans


def callback_spans(name: str) -> SpansOf:
    def spans(e: LineEntry) -> list[Span]:
        stmt = e.stmt
        if type(stmt) is Event and stmt.callback.value == name:
            return [stmt.callback.span]
        return []

    return spans


async def collect(
    ctx: Context, doc: Document, spans_of: SpansOf, what: str, token: int | str | None
) -> list[types.Location]:
    """The references `spans_of` finds on each line, the event loop served every `SLICE_S`
    seconds of scanning (see the module's docstring)."""
    entries = list(doc.entries)  # (the lines as the request found them: edits may come meanwhile)

    def line_text(n: int) -> str:
        return entries[n - 1].text if 1 <= n <= len(entries) else ""

    codec = ctx.codec
    uri = json.dumps(doc.uri)
    out: list[types.Location] = []
    pending: list[str] = []  # partial results not sent yet, as JSON text
    total = 0
    slice_started = time.perf_counter()
    for n in range(1, len(entries) + 1):
        for span in spans_of(entries[n - 1]):
            total += 1
            if token is not None:
                r = codec.span_range(span, line_text, line=n)
                pending.append(
                    f'{{"uri":{uri},"range":{{"start":{{"line":{r.start.line},"character":'
                    f'{r.start.character}}},"end":{{"line":{r.end.line},"character":{r.end.character}}}}}}}'
                )
            elif total <= MAX_REFERENCES:
                out.append(types.Location(uri=doc.uri, range=codec.span_range(span, line_text, line=n)))
        if n % CHECK_LINES == 0 and time.perf_counter() - slice_started > SLICE_S:
            if pending and token is not None and not ctx.progress(token, "[" + ",".join(pending) + "]"):
                return await collect(ctx, doc, spans_of, what, None)  # (no transport for JSON text)
            pending = []
            # serve the other requests (a cancellation lands here): a short pause rather than one
            # turn of the loop, as reading a request takes pygls' reader several turns
            await asyncio.sleep(PAUSE_S)
            slice_started = time.perf_counter()
    if token is not None:
        if pending and not ctx.progress(token, "[" + ",".join(pending) + "]"):
            return await collect(ctx, doc, spans_of, what, None)
        return []
    if total > MAX_REFERENCES:
        ctx.show(f"gscen: {total:,} references to {what}: the first {MAX_REFERENCES:,} are listed")
    return out


def handlers(ctx: Context) -> list[Handler]:
    async def references(params: types.ReferenceParams) -> list[types.Location] | None:
        cur = cursor(ctx, params.text_document.uri, params.position)
        if cur is None:
            return None
        declaration = params.context.include_declaration
        token = params.partial_result_token
        stmt = cur.stmt
        for node in reversed(nodes_at(stmt, cur.column)):
            if isinstance(node, VarRef):
                return await collect(
                    ctx, cur.doc, variable_spans(node.name, declaration), f"`${node.name}`", token
                )
            if isinstance(node, Name) and isinstance(stmt, Event) and node is stmt.callback:
                return await collect(ctx, cur.doc, callback_spans(node.value), f"`{node.value}`", token)
        name = set_name_of(stmt)
        if (
            name is not None
            and isinstance(stmt, Event)
            and stmt.args[0].span.column <= cur.column <= stmt.args[0].span.end_column
        ):
            return await collect(ctx, cur.doc, variable_spans(name, declaration), f"`${name}`", token)
        return None

    return [Handler(types.TEXT_DOCUMENT_REFERENCES, references)]
