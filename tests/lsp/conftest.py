"""The real server under pytest-lsp, and a small experiment on disk for each test."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.client import JsonRPCClient as BaseLanguageClient
from pygls.exceptions import JsonRpcException
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

SERVER = [sys.executable, "-m", "scenario_lang.lsp"]


def make_client() -> LanguageClient:
    """pytest-lsp's client that also records every published diagnostics notification (in order:
    waiting on notifications one at a time can miss one that follows closely) and accepts dynamic
    registrations, as editors do."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # type: ignore[attr-defined]
    client.published_event = asyncio.Event()  # type: ignore[attr-defined]
    client.registrations = []  # type: ignore[attr-defined]

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)  # type: ignore[attr-defined]
        client.published_event.set()  # type: ignore[attr-defined]

    def register(client: LanguageClient, params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    work_done = DEFAULT_CLIENT_FEATURES[types.PROGRESS]

    def progress(client: LanguageClient, params: types.ProgressParams) -> None:
        if isinstance(params.value, list):  # a partial result (pytest-lsp knows work-done progress only)
            client.partial_results.setdefault(params.token, []).extend(params.value)  # type: ignore[attr-defined]
            client.partial_event.set()  # type: ignore[attr-defined]
        else:
            work_done(client, params)

    client.partial_results = {}  # type: ignore[attr-defined]
    client.partial_event = asyncio.Event()  # type: ignore[attr-defined]
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    features[types.CLIENT_REGISTER_CAPABILITY] = register
    features[types.PROGRESS] = progress
    register_lsp_features(client, features)
    return client


# the server's check cache goes to a folder of the test run, not the user's
CACHE_HOME = tempfile.mkdtemp(prefix="gscen-lsp-test-cache-")
SERVER_ENV = {**os.environ, "XDG_CACHE_HOME": CACHE_HOME}
CONFIG = ClientServerConfig(server_command=SERVER, client_factory=make_client, server_env=SERVER_ENV)

MODULE = '''\
from enum import Enum
from typing import Literal

from scenario_lang import ExperimentModule, experiment_callback


class Color(Enum):
    RED = 1
    BLUE = 2


class Base(ExperimentModule):
    @experiment_callback
    def write_peer_id(self) -> None:
        """Write the id."""


class MyModule(Base):
    @experiment_callback
    def start_queries(self, key: str, count: int = 10, *, rate: float = 1.0) -> None:
        """Start queries."""

    @experiment_callback("alias_name")
    async def other(self, flag: bool, color: Color, mode: Literal["a", "b"]) -> None:
        pass
'''

SIBLING = '''\
from scenario_lang import ExperimentModule, experiment_callback


class Extra(ExperimentModule):
    @experiment_callback
    def ping(self, count: int) -> None:
        """Ping the others."""
'''

OK = """\
&module mymod.MyModule
@! set key abc
@0:1 write_peer_id {1}
@0:2 start_queries $key 5 rate=1e-3 {2-3}
@0:4 for i in 1 to 3 call start_queries k$i $i {$i}
@0:3 alias_name yes RED a
@0:9 stop
"""

CONF = """\
scenario_file = exp.scenario
instances_to_run = 4
"""


def make_capabilities(encodings: list[str] | None = None) -> types.ClientCapabilities:
    general = types.GeneralClientCapabilities(position_encodings=encodings) if encodings else None
    return types.ClientCapabilities(
        general=general,
        workspace=types.WorkspaceClientCapabilities(
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True)
        ),
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True),
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(
                    snippet_support=True,
                    documentation_format=[types.MarkupKind.Markdown, types.MarkupKind.PlainText],
                )
            ),
            hover=types.HoverClientCapabilities(
                content_format=[types.MarkupKind.Markdown, types.MarkupKind.PlainText]
            ),
        ),
    )


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient) -> Any:
    result = await lsp_client.initialize_session(types.InitializeParams(capabilities=make_capabilities()))
    lsp_client.initialize_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def client_utf8(lsp_client: LanguageClient) -> Any:
    result = await lsp_client.initialize_session(
        types.InitializeParams(capabilities=make_capabilities(["utf-8"]))
    )
    lsp_client.initialize_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def client_utf32(lsp_client: LanguageClient) -> Any:
    await lsp_client.initialize_session(types.InitializeParams(capabilities=make_capabilities(["utf-32"])))
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An experiment folder: a module, a sibling module, a `.conf` and a clean scenario."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'exp'\n")
    (tmp_path / "mymod.py").write_text(MODULE)
    (tmp_path / "extra.py").write_text(SIBLING)
    (tmp_path / "exp.conf").write_text(CONF)
    (tmp_path / "exp.scenario").write_text(OK)
    return tmp_path


class Session:
    """Drives documents: open, edit, and wait for the diagnostics published after an action."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.versions: dict[str, int] = {}
        self.seen = 0

    @property
    def published(self) -> list[types.PublishDiagnosticsParams]:
        return self.client.published  # type: ignore[attr-defined,no-any-return]

    def mark(self) -> None:
        """Forget what was published so far: the next wait sees only later notifications."""
        self.seen = len(self.published)

    def open(self, path: Path, text: str | None = None) -> str:
        self.mark()
        uri = path.as_uri()
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri,
                    language_id="gumby-scenario",
                    version=1,
                    text=path.read_text() if text is None else text,
                )
            )
        )
        return uri

    def edit(self, uri: str, line: int, start: int, end: int, text: str, end_line: int | None = None) -> int:
        self.mark()
        self.versions[uri] += 1
        rng = types.Range(
            start=types.Position(line=line, character=start),
            end=types.Position(line=line if end_line is None else end_line, character=end),
        )
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=text)],
            )
        )
        return self.versions[uri]

    def files_changed(self, *paths: Path, kind: types.FileChangeType = types.FileChangeType.Changed) -> None:
        """Tell the server files changed on disk, as an editor's file watcher does."""
        self.mark()
        self.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=p.as_uri(), type=kind) for p in paths]
            )
        )

    async def diagnostics(
        self,
        uri: str,
        version: int | None = None,
        until: Callable[[list[types.Diagnostic]], bool] | None = None,
    ) -> list[types.Diagnostic]:
        """The first diagnostics published for `uri` since the last action (with `version`, when
        given) that satisfy `until`."""
        event: asyncio.Event = self.client.published_event  # type: ignore[attr-defined]
        while True:
            while self.seen < len(self.published):
                params = self.published[self.seen]
                self.seen += 1
                if params.uri != uri or (version is not None and params.version != version):
                    continue
                found = list(params.diagnostics)
                if until is None or until(found):
                    return found
            event.clear()
            await event.wait()


def codes(diagnostics: list[types.Diagnostic]) -> list[tuple[str, int, int, int]]:
    """(code, line, start character, end character) of each diagnostic, 0-based."""
    return [
        (str(d.code), d.range.start.line, d.range.start.character, d.range.end.character) for d in diagnostics
    ]


# --------------------------------------------------------------------------- raw messages


def send_raw(client: BaseLanguageClient, message: dict[str, Any]) -> None:
    """Write a message as it is (no client-side shape check), framed as the protocol asks."""
    body = json.dumps(message).encode()
    writer = client.protocol.writer
    assert writer is not None
    writer.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


def request_raw(client: BaseLanguageClient, method: str, params: Any) -> tuple[str, asyncio.Future[Any]]:
    """Send a request as it is; its id and its answer."""
    msg_id = str(uuid.uuid4())
    answer: concurrent.futures.Future[Any] = concurrent.futures.Future()
    client.protocol._request_futures[msg_id] = answer  # (where the client looks for the response)
    send_raw(client, {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return msg_id, asyncio.wrap_future(answer)


async def error_of(client: BaseLanguageClient, method: str, params: Any) -> JsonRpcException:
    """The error the server answers a raw request with (params sent as they are)."""
    _msg_id, answer = request_raw(client, method, params)
    with pytest.raises(JsonRpcException) as info:
        async with asyncio.timeout(30):  # (no answer at all is the failure this guards against)
            await answer
    return info.value
