"""The language server: pygls wiring, the `gscen lsp` command, and nothing else.

Takes LSP messages on stdio (or TCP) and answers them from one `DocumentStore`. Every LSP method
is wired here, once, to the feature module that answers it (`lsp/features/<name>.py`); a request
on a document waits for the check of the edits sent before it. The protocol (`protocol.py`)
answers the messages pygls cannot hand to a feature, and keeps no text documents of its own:
pygls' `TextDocument` re-splits the whole text on every edit, the store applies edits to its own
line list. A handler that fails logs the error to the client (`window/logMessage`) and answers
nothing; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
import sys
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import click
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from scenario_lang.diagnostics import Diagnostic
from scenario_lang.parse import split_lines
from scenario_lang.project import CheckOptions

from .context import Context, path_to_uri, uri_to_path
from .document import Document
from .features import (
    code_actions,
    completion,
    definition,
    diagnostics,
    folding,
    formatting,
    hover,
    inlay_hints,
    references,
    semantic_tokens,
    symbols,
)
from .handler import Handler
from .positions import PositionCodec
from .protocol import GscenProtocol
from .store import DocumentStore

logger = logging.getLogger(__name__)

# notifications are handled synchronously, in the order they arrive
NOTIFICATIONS = frozenset(
    {
        types.TEXT_DOCUMENT_DID_OPEN,
        types.TEXT_DOCUMENT_DID_CHANGE,
        types.TEXT_DOCUMENT_DID_SAVE,
        types.TEXT_DOCUMENT_DID_CLOSE,
        types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
    }
)

FEATURE_MODULES = (
    diagnostics,
    completion,
    hover,
    definition,
    references,
    symbols,
    folding,
    semantic_tokens,
    formatting,
    code_actions,
    inlay_hints,
)


def _version() -> str:
    try:
        return version("gscen")
    except PackageNotFoundError:
        return "dev"


class GscenServer(LanguageServer):
    protocol: GscenProtocol

    def __init__(self) -> None:
        super().__init__(
            "gscen",
            _version(),
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=GscenProtocol,
        )
        self.store = DocumentStore(
            publish=self._publish,
            publish_other=self._publish_other,
            clear=self._clear,
            report=lambda message: self.log(message, types.MessageType.Error),
            publish_context=self._publish_context,
        )
        self.context = Context(self.store, self.codec, self.log, self._send_json, self.show)
        self._codec: PositionCodec | None = None
        self._encoder: diagnostics.DiagnosticEncoder | None = None
        self._writes: set[asyncio.Future[Any]] = set()
        self.exit_code = 0  # 1 when the client sent `exit` without `shutdown`, as the LSP asks
        self._wire()

    # ---- plumbing shared by features
    def codec(self) -> PositionCodec:
        if self._codec is None:
            try:
                encoding = self.workspace.position_encoding
            except RuntimeError:
                encoding = None
            self._codec = PositionCodec(str(encoding) if encoding else None)
        return self._codec

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # no client yet (or gone): the log file still has it
            logger.warning("could not send to the client: %s", message)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:  # no client yet (or gone): the log file still has it
            logger.warning("could not show to the client: %s", message)

    def _publish(self, doc: Document) -> None:
        codec = self.codec()
        if self._encoder is None or self._encoder.codec is not codec:
            self._encoder = diagnostics.DiagnosticEncoder(codec)
        started = time.perf_counter()
        body = self._encoder.publish_notification(doc)
        encoded = time.perf_counter()
        if not self._send_json(body):  # (blocks while the client is slower to read than we write)
            # pygls without the transport this relies on: its own way (slower for many diagnostics)
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=doc.uri, diagnostics=diagnostics.document_diagnostics(doc, codec), version=doc.version
                )
            )
        logger.info(
            "published diagnostics of %s version %s (%d characters): encoded in %.1f ms, "
            "%.1f ms after the edit; sent in %.1f ms",
            doc.uri,
            doc.version,
            len(body),
            (encoded - started) * 1000,
            (encoded - doc.changed_at) * 1000 if doc.changed_at is not None else float("nan"),
            (time.perf_counter() - encoded) * 1000,
        )

    def _send_json(self, body: str) -> bool:
        """Send a message already written as JSON text (ASCII: `json.dumps` escapes the rest), as
        pygls' own `_send_data` frames what it serializes. False when the protocol has no such
        transport (another pygls): nothing was sent."""
        protocol = self.protocol
        writer = getattr(protocol, "writer", None)
        charset = getattr(protocol, "CHARSET", None)
        content_type = getattr(protocol, "CONTENT_TYPE", None)
        if writer is None or not hasattr(writer, "write") or charset is None or content_type is None:
            return False
        if getattr(protocol, "_include_headers", True):
            header = f"Content-Length: {len(body)}\r\nContent-Type: {content_type}; charset={charset}\r\n\r\n"
            body = header + body
        written = writer.write(body.encode(charset))
        if inspect.isawaitable(written):  # a websocket's writer
            pending = asyncio.ensure_future(written)
            self._writes.add(pending)
            pending.add_done_callback(self._writes.discard)
        return True

    def _publish_context(self, doc: Document, found: list[Diagnostic]) -> None:
        """An open included document's diagnostics as the files including it report them."""
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=doc.uri,
                diagnostics=diagnostics.file_diagnostics(found, doc.line_text, self.codec()),
                version=doc.version,
            )
        )

    def _clear(self, uri: str) -> None:
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def _publish_other(self, path: str, found: list[Diagnostic]) -> None:
        lines: tuple[str, ...] = ()
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = split_lines(f.read())
        except OSError:
            pass

        def line_text(n: int) -> str:
            return lines[n - 1] if 1 <= n <= len(lines) else ""

        items = diagnostics.file_diagnostics(found, line_text, self.codec())
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=path_to_uri(path), diagnostics=items)
        )

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls' hook for a message it could not read (and other errors): a message that is not
        UTF-8 or not JSON is dropped, so tell the client what was dropped (and answer it, when it
        was a request), rather than only the log."""
        if isinstance(error, UnicodeDecodeError | json.JSONDecodeError):
            self.protocol.report_unreadable(error)
            return
        super().report_server_error(error, source)

    # ---- wiring
    def _wire(self) -> None:
        for module in FEATURE_MODULES:
            for handler in module.handlers(self.context):
                self.feature(handler.method, handler.options)(self._guard(handler))

        @self.feature(types.INITIALIZE)
        def initialize(params: types.InitializeParams) -> None:
            self._codec = None
            folders = [f.uri for f in params.workspace_folders or []] or [params.root_uri or ""]
            self.store.roots = [uri_to_path(u) for u in folders if u.startswith("file:")]
            if not self.store.roots and params.root_path:
                self.store.roots = [params.root_path]
            opts = params.initialization_options
            if isinstance(opts, dict):
                conf = opts.get("conf")
                instances = opts.get("instances")
                self.store.options = CheckOptions(
                    conf=str(conf) if conf else None,
                    instances=int(instances) if isinstance(instances, int | str) and instances else None,
                )

        @self.feature(types.INITIALIZED)
        def initialized(params: types.InitializedParams) -> None:
            caps = self.client_capabilities
            dynamic = (
                caps.workspace is not None
                and caps.workspace.did_change_watched_files is not None
                and caps.workspace.did_change_watched_files.dynamic_registration
            )
            if dynamic:
                self.client_register_capability(diagnostics.watcher_registration())

        @self.feature(types.SHUTDOWN)
        def shutdown(params: None) -> None:
            self.store.shutdown()

        @self.feature(types.EXIT)
        def exit_(params: None) -> None:
            # (pygls then raises SystemExit with this code, which its `start_io` swallows)
            self.exit_code = 0 if self.store.closed else 1

    def _guard(self, handler: Handler) -> Any:
        """Run a handler; on an exception, log it to the client and answer nothing."""
        function = handler.function
        method = handler.method
        # GSCEN_LSP_FAIL_FOR_TESTS=method,...: make those handlers raise, to test the error path
        if method in os.environ.get("GSCEN_LSP_FAIL_FOR_TESTS", "").split(","):
            real = function

            def function(params: Any) -> Any:
                real(params)
                raise RuntimeError(f"injected failure in {method}")

        def report(exc: BaseException) -> None:
            logger.exception("%s failed", method)
            detail = "".join(traceback.format_exception(exc)[-3:])
            self.log(
                f"gscen: {method} failed: {type(exc).__name__}: {exc}\n{detail}", types.MessageType.Error
            )

        if method not in NOTIFICATIONS:
            # a request: answer once the document has been parsed and checked once
            store = self.store

            @functools.wraps(function)
            async def guarded_request(params: Any) -> Any:
                try:
                    document = getattr(params, "text_document", None)
                    if document is not None:
                        await store.wait_current(document.uri)
                    result = function(params)
                    if inspect.isawaitable(result):
                        result = await result
                    return result
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    report(exc)
                    return None

            return guarded_request

        @functools.wraps(function)
        def guarded(params: Any) -> Any:
            try:
                return function(params)
            except Exception as exc:
                report(exc)
                return None

        return guarded


def _configure_logging(verbose: int, log_file: str | None) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler: logging.Handler = (
        logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pygls logs every message at INFO; keep it quiet unless asked twice
    logging.getLogger("pygls").setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT, e.g. 127.0.0.1:2087", param_hint="--tcp")
    return host or "127.0.0.1", int(port)


@click.command("lsp")
@click.option("--stdio", "stdio", is_flag=True, help="Talk LSP on stdin/stdout (the default).")
@click.option("--tcp", "tcp", metavar="HOST:PORT", help="Listen for one client on a TCP address instead.")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=str), help="Write the log here.")
@click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug, pygls included).")
def lsp_command(stdio: bool, tcp: str | None, log_file: str | None, verbose: int) -> None:
    """Start the language server (stdio, or --tcp HOST:PORT)."""
    _configure_logging(verbose, log_file or os.environ.get("GSCEN_LSP_LOG"))
    server = GscenServer()
    logger.info("gscen lsp %s starting (%s)", _version(), f"tcp {tcp}" if tcp and not stdio else "stdio")
    if tcp and not stdio:
        host, port = _host_port(tcp)
        server.start_tcp(host, port)
    else:
        server.start_io()
    if server.exit_code:
        sys.exit(server.exit_code)


def main() -> None:
    lsp_command.main(prog_name="gscen lsp")
