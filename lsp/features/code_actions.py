"""Code actions: the front end's safe fixes (`Diagnostic.replacement`: did-you-mean and others) as
quick fixes, and "add `&module pkg.Class`" for an unknown callback that a module class in a
`.py` file beside the scenario defines (read statically)."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from scenario_lang.diagnostics import Diagnostic
from scenario_lang.nodes import Event, ModuleDirective

from ..context import Context
from ..document import Document
from ..handler import Handler
from ..locate import module_classes
from .diagnostics import to_lsp


def _in_range(rng: types.Range, line0: int) -> bool:
    return rng.start.line <= line0 <= rng.end.line


def replacement_actions(ctx: Context, doc: Document, rng: types.Range) -> list[types.CodeAction]:
    out: list[types.CodeAction] = []
    for n in range(rng.start.line + 1, min(rng.end.line + 1, doc.line_count()) + 1):
        entry = doc.entries[n - 1]
        for d in entry.check_diags or entry.parse_diags:
            if d.replacement is None:
                continue
            where = ctx.codec.span_range(d.span, doc.line_text, line=n)
            title = f"Replace with `{d.replacement}`" if d.replacement else "Remove"
            if d.suggestion and d.replacement:
                title = f"{title} ({d.code})"
            out.append(
                types.CodeAction(
                    title=title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[to_lsp(d, where)],
                    is_preferred=True,
                    edit=types.WorkspaceEdit(
                        changes={doc.uri: [types.TextEdit(range=where, new_text=d.replacement)]}
                    ),
                )
            )
    return out


def missing_module_actions(ctx: Context, doc: Document, rng: types.Range) -> list[types.CodeAction]:
    a = doc.analysis
    if a is None:
        return []
    unknown: list[tuple[int, Diagnostic, str]] = []
    for n in range(rng.start.line + 1, min(rng.end.line + 1, doc.line_count()) + 1):
        entry = doc.entries[n - 1]
        for d in entry.check_diags or ():
            if d.code == "SC301" and isinstance(entry.stmt, Event):
                unknown.append((n, d, entry.stmt.callback.value))
    if not unknown:
        return []
    reader = ctx.store.feature_reader(a.config)
    loaded = {info.dotted for _d, info in a.program.module_directives if info is not None}
    offers: dict[str, list[str]] = {}
    for py in sorted(Path(doc.path).parent.glob("*.py")):
        if py.name.startswith("__"):
            continue
        for info in module_classes(reader, py.stem):
            if info.dotted in loaded:
                continue
            for sig in info.callbacks:
                offers.setdefault(sig.name, []).append(info.dotted)
    insert_at = 0
    for n, e in enumerate(doc.entries, 1):
        if isinstance(e.stmt, ModuleDirective):
            insert_at = n
    out = []
    for n, d, name in unknown:
        for dotted in offers.get(name, []):
            pos = types.Position(line=insert_at, character=0)
            out.append(
                types.CodeAction(
                    title=f"Add `&module {dotted}` (defines `{name}`)",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[to_lsp(d, ctx.codec.span_range(d.span, doc.line_text, line=n))],
                    edit=types.WorkspaceEdit(
                        changes={
                            doc.uri: [
                                types.TextEdit(
                                    range=types.Range(start=pos, end=pos), new_text=f"&module {dotted}\n"
                                )
                            ]
                        }
                    ),
                )
            )
    return out


def handlers(ctx: Context) -> list[Handler]:
    def code_actions(params: types.CodeActionParams) -> list[types.CodeAction] | None:
        doc = ctx.document(params.text_document.uri)
        if doc is None:
            return None
        rng = params.range
        return replacement_actions(ctx, doc, rng) + missing_module_actions(ctx, doc, rng)

    return [
        Handler(
            types.TEXT_DOCUMENT_CODE_ACTION,
            code_actions,
            types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
        )
    ]
