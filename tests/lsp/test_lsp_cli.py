"""`gscen lsp` as editors start it: stdio (with or without `--stdio`), TCP, and bad options."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from click.testing import CliRunner
from lsprotocol import types
from pygls.lsp.client import LanguageClient as PlainClient
from pytest_lsp import ClientServerConfig, LanguageClient
from scenario_lang.lsp.server import lsp_command

from .conftest import SERVER_ENV, Session, make_capabilities, make_client

GSCEN = shutil.which("gscen") or "gscen"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[GSCEN, "lsp", "--stdio"], client_factory=make_client, server_env=SERVER_ENV
    )
)
async def gscen_client(lsp_client: LanguageClient) -> Any:
    await lsp_client.initialize_session(types.InitializeParams(capabilities=make_capabilities()))
    yield
    await lsp_client.shutdown_session()


async def test_gscen_lsp_stdio_serves_diagnostics(gscen_client: LanguageClient, project: Path) -> None:
    path = project / "exp.scenario"
    s = Session(gscen_client)
    uri = s.open(path, path.read_text().replace("write_peer_id", "write_peer_idd"))
    assert [d.code for d in await s.diagnostics(uri, version=1)] == ["SC301"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _connect(client: PlainClient, port: int, server: asyncio.subprocess.Process) -> None:
    """Connect once the server listens (it was just started): retry until it accepts or exits."""
    async with asyncio.timeout(30):
        while True:
            try:
                await client.start_tcp("127.0.0.1", port)
                return
            except OSError:
                if server.returncode is not None:
                    raise
                await asyncio.sleep(0.05)


async def test_gscen_lsp_tcp_serves_diagnostics(project: Path) -> None:
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scenario_lang.lsp",
        "--tcp",
        f"127.0.0.1:{port}",
        stderr=asyncio.subprocess.PIPE,
    )
    client = PlainClient("test", "1")
    published: asyncio.Queue[types.PublishDiagnosticsParams] = asyncio.Queue()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        published.put_nowait(params)

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def on_register(params: types.RegistrationParams) -> None:
        return None

    try:
        await _connect(client, port, server)
        await client.initialize_async(types.InitializeParams(capabilities=make_capabilities()))
        client.initialized(types.InitializedParams())
        path = project / "exp.scenario"
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=path.as_uri(), language_id="scenario", version=1, text="@0:1 nope\n"
                )
            )
        )
        params = await asyncio.wait_for(published.get(), 30)
        assert [d.code for d in params.diagnostics] == ["SC301"]
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    finally:
        if server.returncode is None:
            server.terminate()
        await server.wait()


@pytest.mark.parametrize("value", ["2087", "host:port", "127.0.0.1:"])
def test_bad_tcp_address_is_a_usage_error(value: str) -> None:
    result = CliRunner().invoke(lsp_command, ["--tcp", value])
    assert result.exit_code == 2
    assert "HOST:PORT" in result.output


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[GSCEN, "lsp"], client_factory=make_client, server_env=SERVER_ENV
    )
)
async def two_peer_client(lsp_client: LanguageClient) -> Any:
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=make_capabilities(), initialization_options={"instances": 2})
    )
    yield
    await lsp_client.shutdown_session()


async def test_initialization_options_set_the_peer_count_like_instances(
    two_peer_client: LanguageClient, tmp_path: Path
) -> None:
    s = Session(two_peer_client)
    uri = s.open(tmp_path / "alone.scenario", "@0:1 echo hi {3}\n")
    found = await s.diagnostics(uri, version=1)
    assert [d.code for d in found] == ["SC501"]
    assert "1..2" in found[0].message
