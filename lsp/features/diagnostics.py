"""Diagnostics: the front end's `Diagnostic`s as LSP diagnostics, for open documents (published
with their version) and for files they include (published without one).

Codes, severities and ranges are `gscen check`'s; notes and the help text follow the message on
lines of their own. `data` carries the safe replacement that code actions apply.
"""

from __future__ import annotations

from collections.abc import Callable

from lsprotocol import types

from scenario_lang.diagnostics import Diagnostic, Severity

from ..context import Context, uri_to_path
from ..handler import Handler
from ..positions import PositionCodec
from ..store import Document

SOURCE = "gscen"

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}


def message_text(d: Diagnostic) -> str:
    parts = [d.message, *(f"note: {n}" for n in d.notes)]
    if d.suggestion:
        parts.append(f"help: {d.suggestion}")
    return "\n".join(parts)


def to_lsp(d: Diagnostic, rng: types.Range) -> types.Diagnostic:
    data: dict[str, object] = {"code": d.code}
    if d.replacement is not None:
        data["replacement"] = d.replacement
    return types.Diagnostic(
        range=rng,
        message=message_text(d),
        severity=_SEVERITY[d.severity],
        code=d.code,
        source=SOURCE,
        data=data,
    )


def document_diagnostics(doc: Document, codec: PositionCodec) -> list[types.Diagnostic]:
    """Every diagnostic of an open document, in `gscen check`'s order, at the lines they are on now."""
    out: list[types.Diagnostic] = []
    text = doc.line_text
    for n, e in enumerate(doc.entries, 1):
        ds = e.check_diags if e.check_diags is not None else e.parse_diags
        if ds:
            for d in ds:
                out.append(to_lsp(d, codec.span_range(d.span, text, line=n)))
    if doc.analysis is not None:
        for d in doc.analysis.loose:
            out.append(to_lsp(d, codec.span_range(d.span, text)))
    return out


def file_diagnostics(
    diagnostics: list[Diagnostic], line_text: Callable[[int], str], codec: PositionCodec
) -> list[types.Diagnostic]:
    """Diagnostics of a file that is not open (an included scenario, a `.conf`)."""
    return [to_lsp(d, codec.span_range(d.span, line_text)) for d in diagnostics]


# --------------------------------------------------------------------------- document sync


def handlers(ctx: Context) -> list[Handler]:
    """Open, change, save and close keep the store current; watched files trigger re-checks."""

    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        td = params.text_document
        ctx.store.open(td.uri, uri_to_path(td.uri), td.version, td.text)

    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        doc = ctx.document(params.text_document.uri)
        if doc is None:
            return
        codec = ctx.codec
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                start, end = change.range.start, change.range.end
                sl = min(start.line, max(doc.line_count() - 1, 0))
                el = min(end.line, max(doc.line_count() - 1, 0))
                sc = (
                    codec.index(doc.line_text(sl + 1), start.character)
                    if start.line < doc.line_count()
                    else len(doc.line_text(sl + 1))
                )
                ec = (
                    codec.index(doc.line_text(el + 1), end.character)
                    if end.line < doc.line_count()
                    else len(doc.line_text(el + 1))
                )
                doc.apply_edit((sl, sc), (el, ec), change.text)
            else:
                doc.replace_all(change.text)
        ctx.store.changed(doc, params.text_document.version)

    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        doc = ctx.document(params.text_document.uri)
        if doc is not None:
            ctx.store.saved(doc)

    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        ctx.store.close(params.text_document.uri)

    def did_change_watched(params: types.DidChangeWatchedFilesParams) -> None:
        ctx.store.files_changed(uri_to_path(c.uri) for c in params.changes)

    return [
        Handler(types.TEXT_DOCUMENT_DID_OPEN, did_open),
        Handler(types.TEXT_DOCUMENT_DID_CHANGE, did_change),
        Handler(types.TEXT_DOCUMENT_DID_SAVE, did_save, types.SaveOptions(include_text=False)),
        Handler(types.TEXT_DOCUMENT_DID_CLOSE, did_close),
        Handler(types.WORKSPACE_DID_CHANGE_WATCHED_FILES, did_change_watched),
    ]


WATCHED_GLOBS = ("**/*.py", "**/*.scenario", "**/*.conf")


def watcher_registration() -> types.RegistrationParams:
    """Ask the client to tell us when module sources, scenarios or `.conf` files change on disk."""
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern=g) for g in WATCHED_GLOBS]
    )
    return types.RegistrationParams(
        registrations=[
            types.Registration(
                id="gscen-watched-files",
                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=options,
            )
        ]
    )
