"""Diagnostics: the front end's `Diagnostic`s as LSP diagnostics, for open documents (published
with their version) and for files they include (published without one).

Codes, severities and ranges are `gscen check`'s; notes and the help text follow the message on
lines of their own. `data` carries the safe replacement that code actions apply.

An open document's notification is written as JSON text directly (`DiagnosticEncoder`), each
line's part kept until its diagnostics or its line number change: a large file has thousands of
diagnostics at times, and building, converting and serializing as many `lsprotocol` objects on
every keystroke took seconds (before SC506 was grouped per `stop`, one early `stop` made 114,766).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from lsprotocol import types

from scenario_lang.diagnostics import Diagnostic, Severity
from scenario_lang.parse import bulk_allocation

from ..context import Context, uri_to_path
from ..document import Document
from ..handler import Handler
from ..positions import UTF32, PositionCodec

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


class DiagnosticEncoder:
    """Writes diagnostics as the JSON of `to_lsp`'s LSP diagnostics (what pygls would send for
    them), without building them: the part after the range is made once per distinct diagnostic
    text, and each document line's part is kept on its entry (`LineEntry.encoded`), as a template
    of its line number too, so that lines moved by an insertion are only formatted again."""

    TAILS_KEPT = 50_000

    def __init__(self, codec: PositionCodec) -> None:
        self.codec = codec
        # message -> (code, severity, notes, suggestion, replacement, tail, tail with `%` doubled)
        self._tails: dict[str, tuple[object, object, object, object, object, str, str]] = {}
        self._templates: dict[tuple[object, ...], str] = {}  # a diagnostic on one line, its columns

    def tail(self, d: Diagnostic, template: bool = False) -> str:
        """What follows the range: message, severity, code, source and data, and the closing brace
        (with `template`, `%` doubled for a `%`-template)."""
        found = self._tails.get(d.message)
        if (
            found is None
            or found[0] != d.code
            or found[1] is not d.severity
            or found[2] != d.notes
            or found[3] != d.suggestion
            or found[4] != d.replacement
        ):
            if len(self._tails) >= self.TAILS_KEPT:
                self._tails.clear()
            data: dict[str, object] = {"code": d.code}
            if d.replacement is not None:
                data["replacement"] = d.replacement
            text = (
                f',"message":{json.dumps(message_text(d))},"severity":{_SEVERITY[d.severity].value},'
                f'"code":{json.dumps(d.code)},"source":"{SOURCE}","data":{json.dumps(data)}}}'
            )
            found = (d.code, d.severity, d.notes, d.suggestion, d.replacement, text, text.replace("%", "%%"))
            self._tails[d.message] = found
        return found[6] if template else found[5]

    def on_line(self, d: Diagnostic, text: str) -> str | None:
        """A diagnostic on one line with `text` as a `%`-template of its line number (`n`, 0-based),
        None when its range depends on more than that line (a span over several lines)."""
        span = d.span
        if span.end_line != span.line:
            return None
        if text.isascii() or self.codec.encoding == UTF32:
            size = len(text)
            sc = min(max(span.column - 1, 0), size)
            ec = min(max(span.end_column - 1, 0), size)
        else:
            sc, ec = self.codec.units(text, span.column - 1), self.codec.units(text, span.end_column - 1)
        key = (d.message, d.code, d.severity, d.notes, d.suggestion, d.replacement, sc, ec)
        found = self._templates.get(key)
        if found is None:
            if len(self._templates) >= self.TAILS_KEPT:
                self._templates.clear()
            found = self._templates[key] = (
                f'{{"range":{{"start":{{"line":%(n)d,"character":{sc}}},'
                f'"end":{{"line":%(n)d,"character":{ec}}}}}' + self.tail(d, template=True)
            )
        return found

    def one(self, d: Diagnostic, line_text: Callable[[int], str], line: int | None = None) -> str:
        """One diagnostic (on `line`, when its span was parsed on another)."""
        start = d.span.line if line is None else line
        template = self.on_line(d, line_text(start))
        if template is not None:
            return template % {"n": start - 1}
        r = self.codec.span_range(d.span, line_text, line=line)
        return (
            f'{{"range":{{"start":{{"line":{r.start.line},"character":{r.start.character}}},'
            f'"end":{{"line":{r.end.line},"character":{r.end.character}}}}}' + self.tail(d)
        )

    def document(self, doc: Document) -> str:
        """The JSON array of every diagnostic of an open document, in `gscen check`'s order, at the
        lines they are on now."""
        with bulk_allocation():  # no generation scans while (re)encoding 100,000 of them
            return self._document(doc)

    def _document(self, doc: Document) -> str:
        parts: list[str] = []
        text = doc.line_text
        encoding = self.codec.encoding
        for n, e in enumerate(doc.entries, 1):
            ds = e.check_diags if e.check_diags is not None else e.parse_diags
            if not ds:
                continue
            kept = e.encoded
            if kept is not None and kept[0] is ds and kept[1] == encoding:
                if kept[3] == n:
                    parts.append(kept[4])
                    continue
                template = kept[2]
                if template is not None:
                    part = template % {"n": n - 1}
                    e.encoded = (ds, encoding, template, n, part)
                    parts.append(part)
                    continue
            if len(ds) == 1:
                template = self.on_line(ds[0], e.text)
            else:
                templates = [self.on_line(d, e.text) for d in ds]
                template = ",".join(templates) if all(templates) else None  # type: ignore[arg-type]
            if template is not None:
                part = template % {"n": n - 1}
            else:  # a span over several lines: as it is now
                template = None
                part = ",".join(self.one(d, text, n) for d in ds)
            e.encoded = (ds, encoding, template, n, part)
            parts.append(part)
        if doc.analysis is not None:
            parts.extend(self.one(d, text) for d in doc.analysis.loose)
        return "[" + ",".join(parts) + "]"

    def publish_notification(self, doc: Document) -> str:
        """The whole `textDocument/publishDiagnostics` message of an open document, as JSON text."""
        version = "" if doc.version is None else f',"version":{doc.version}'
        return (
            f'{{"jsonrpc":"2.0","method":"{types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS}",'
            f'"params":{{"uri":{json.dumps(doc.uri)}{version},"diagnostics":{self.document(doc)}}}}}'
        )


def document_diagnostics(doc: Document, codec: PositionCodec) -> list[types.Diagnostic]:
    """Every diagnostic of an open document as `lsprotocol` values (what `DiagnosticEncoder`
    writes as JSON)."""
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
                doc.replace_text(change.text)
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
