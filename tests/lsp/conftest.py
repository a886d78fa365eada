"""The real server under pytest-lsp, and a small experiment on disk for each test."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import make_test_lsp_client

SERVER = [sys.executable, "-m", "scenario_lang.lsp"]


def make_client() -> LanguageClient:
    """pytest-lsp's client that also accepts (and records) dynamic registrations, as editors do."""
    client = make_test_lsp_client()
    client.registrations = []  # type: ignore[attr-defined]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    return client


CONFIG = ClientServerConfig(server_command=SERVER, client_factory=make_client)

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
                completion_item=types.ClientCompletionItemOptions(snippet_support=True)
            ),
        ),
    )


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient) -> Any:
    await lsp_client.initialize_session(types.InitializeParams(capabilities=make_capabilities()))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def client_utf8(lsp_client: LanguageClient) -> Any:
    await lsp_client.initialize_session(types.InitializeParams(capabilities=make_capabilities(["utf-8"])))
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
    """Drives one document: open, edit, and wait for the diagnostics of a given version."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.versions: dict[str, int] = {}

    def open(self, path: Path, text: str | None = None) -> str:
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

    async def diagnostics(
        self,
        uri: str,
        version: int | None = None,
        until: Callable[[list[types.Diagnostic]], bool] | None = None,
    ) -> list[types.Diagnostic]:
        """The next diagnostics published for `uri` (with `version`, when given) that satisfy `until`."""
        while True:
            params = await self.client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            if params.uri != uri:
                continue
            if version is not None and params.version != version:
                continue
            found = list(params.diagnostics)
            if until is None or until(found):
                return found


def codes(diagnostics: list[types.Diagnostic]) -> list[tuple[str, int, int, int]]:
    """(code, line, start character, end character) of each diagnostic, 0-based."""
    return [
        (str(d.code), d.range.start.line, d.range.start.character, d.range.end.character) for d in diagnostics
    ]
