"""What every feature handler gets: the document store, the negotiated position codec, and logging
to the client. Built once by `server.py`; features never reach the pygls server directly."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types

from .document import Document
from .positions import PositionCodec
from .store import DocumentStore

logger = logging.getLogger(__name__)


def uri_to_path(uri: str) -> str:
    """The file system path of a `file:` URI (other schemes keep their path part)."""
    parsed = urlparse(uri)
    path = unquote(parsed.path)
    if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":
        path = path[1:]
    return os.path.normpath(path) if path else uri


def path_to_uri(path: str) -> str:
    return Path(os.path.abspath(path)).as_uri()


@dataclass
class Context:
    store: DocumentStore
    codec_of: Callable[[], PositionCodec]
    log_to_client: Callable[[str, types.MessageType], None]
    # a notification written as JSON text already; False when it could not be sent that way
    send_json: Callable[[str], bool] = lambda _body: False
    show_to_client: Callable[[str, types.MessageType], None] = lambda _message, _kind: None

    @property
    def codec(self) -> PositionCodec:
        return self.codec_of()

    def document(self, uri: str) -> Document | None:
        return self.store.get(uri)

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        logger.info("%s", message)
        self.log_to_client(message, kind)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """A message the user sees (`window/showMessage`)."""
        logger.info("%s", message)
        self.show_to_client(message, kind)

    def progress(self, token: int | str, value_json: str) -> bool:
        """Report a partial result (`$/progress` with `token`), `value_json` being its JSON text."""
        body = (
            f'{{"jsonrpc":"2.0","method":"{types.PROGRESS}","params":{{"token":{json.dumps(token)},'
            f'"value":{value_json}}}}}'
        )
        return self.send_json(body)
