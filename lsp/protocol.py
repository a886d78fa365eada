"""The JSON-RPC side of the server: pygls' `LanguageServerProtocol` answering every request.

Takes the messages pygls reads; hands the well-formed ones to pygls (and so to the features) and
answers the others itself: malformed params are InvalidParams (pygls would log them and answer
nothing), a request before `initialize` ServerNotInitialized, after `shutdown` InvalidRequest
(pygls drops both); a message that is not UTF-8 or not JSON is reported to the client. It keeps no
text documents (the store keeps the text, edited in place).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from lsprotocol.types import ResponseError
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol, lsp_method

logger = logging.getLogger(__name__)

PARSE_ERROR = int(types.ErrorCodes.ParseError)  # -32700
INVALID_REQUEST = int(types.ErrorCodes.InvalidRequest)  # -32600
INVALID_PARAMS = int(types.ErrorCodes.InvalidParams)  # -32602
SERVER_NOT_INITIALIZED = int(types.ErrorCodes.ServerNotInitialized)  # -32002
_FIELD = {name: re.compile(rf'"{name}"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)') for name in ("method", "id")}


@dataclass(frozen=True)
class Malformed:
    """A message whose params do not have the shape its method asks for (a position's line of
    -1, a missing position): what `structure_message` makes of it instead of raising."""

    data: dict[str, Any]
    error: str


def _request_id(data: Mapping[str, Any]) -> int | str | None:
    msg_id = data.get("id")
    return msg_id if isinstance(msg_id, int | str) and not isinstance(msg_id, bool) else None


class GscenProtocol(LanguageServerProtocol):
    """pygls' protocol without its text documents (the store keeps the text, edited in place),
    answering every request: malformed params with InvalidParams (pygls would log them and answer
    nothing), a request before `initialize` with ServerNotInitialized, one after `shutdown`
    with InvalidRequest (pygls drops both)."""

    initialize_seen = False

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "jsonrpc" in data and isinstance(data.get("method"), str):
                cause = exc.__cause__
                return Malformed(data, str(cause) if cause is not None else str(exc))
            raise

    def handle_message(self, message: Any) -> None:
        if isinstance(message, Malformed):
            self._malformed(message)
            return
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None) if method is not None else None
        if method == types.INITIALIZE:
            self.initialize_seen = True
        elif method is not None and method != types.EXIT:
            refusal = None
            if not self.initialize_seen:
                refusal = ResponseError(
                    code=SERVER_NOT_INITIALIZED, message=f"{method}: the server is not initialized"
                )
            elif self._shutdown:
                refusal = ResponseError(code=INVALID_REQUEST, message=f"{method}: the server is shut down")
            if refusal is not None:
                if msg_id is not None:
                    self._send_response(msg_id, error=refusal)
                else:  # a notification: dropped, as the LSP asks
                    logger.info("dropped %s: %s", method, refusal.message)
                return
        super().handle_message(message)

    def _malformed(self, message: Malformed) -> None:
        method = message.data.get("method")
        msg_id = _request_id(message.data)
        text = f"{method}: invalid params: {message.error}"
        logger.warning("%s", text)
        if msg_id is not None:
            self._send_response(msg_id, error=ResponseError(code=INVALID_PARAMS, message=text))
        else:
            self.notify(
                types.WINDOW_LOG_MESSAGE,
                types.LogMessageParams(type=types.MessageType.Error, message=f"gscen: dropped {text}"),
            )

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    def report_unreadable(self, error: UnicodeDecodeError | json.JSONDecodeError) -> None:
        """A message pygls could not read (not UTF-8, not JSON) was dropped: tell the client which
        (its method and id, found in the raw text), and answer it with ParseError when it was a
        request."""
        if isinstance(error, UnicodeDecodeError):
            body = bytes(error.object).decode("utf-8", errors="replace")
            why = f"it is not valid UTF-8 (byte 0x{error.object[error.start]:02x} at offset {error.start})"
        else:
            body = error.doc
            why = f"it is not valid JSON ({error.msg} at offset {error.pos})"
        found = {name: m[1] for name, pattern in _FIELD.items() if (m := pattern.search(body))}
        method = found.get("method", "").strip('"') or "a message"
        msg_id = found.get("id")
        what = f"{method}" + (f" (request id {msg_id})" if msg_id is not None else "")
        logger.error("dropped %s: %s", what, why)
        self.notify(
            types.WINDOW_LOG_MESSAGE,
            types.LogMessageParams(type=types.MessageType.Error, message=f"gscen: dropped {what}: {why}"),
        )
        if msg_id is not None:
            request_id: int | str = json.loads(msg_id)
            self._send_response(
                request_id, error=ResponseError(code=PARSE_ERROR, message=f"{what} dropped: {why}")
            )
