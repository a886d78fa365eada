"""Every request gets a response: malformed params (InvalidParams), before `initialize`
(ServerNotInitialized), after `shutdown` (InvalidRequest); `exit` without `shutdown` ends with
status 1; a message that is not UTF-8 is reported to the client, never dropped in silence."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient as PlainClient
from pytest_lsp import LanguageClient

from .conftest import SERVER, SERVER_ENV, Session, error_of, make_capabilities


def hover_params(uri: str, line: int) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": 0}}


async def test_a_hover_at_line_minus_one_right_after_an_edit_is_invalid_params(
    client: LanguageClient, project: Path
) -> None:
    s = Session(client)
    uri = s.open(project / "exp.scenario")
    s.edit(uri, 0, 0, 0, "# a comment\n")
    error = await error_of(client, types.TEXT_DOCUMENT_HOVER, hover_params(uri, -1))
    assert error.code == types.ErrorCodes.InvalidParams
    # and the server goes on serving
    found = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(3, 1))
    )
    assert found is not None


async def test_a_hover_without_a_position_right_after_an_edit_is_invalid_params(
    client: LanguageClient, project: Path
) -> None:
    s = Session(client)
    uri = s.open(project / "exp.scenario")
    s.edit(uri, 0, 0, 0, "# a comment\n")
    error = await error_of(client, types.TEXT_DOCUMENT_HOVER, {"textDocument": {"uri": uri}})
    assert error.code == types.ErrorCodes.InvalidParams


async def test_a_message_that_is_not_utf8_is_reported_to_the_client(
    client: LanguageClient, project: Path
) -> None:
    uri = (project / "exp.scenario").as_uri()
    item = {"uri": uri, "languageId": "gumby-scenario", "version": 1, "text": "@0:1 echo XX\n"}
    message = {"jsonrpc": "2.0", "method": types.TEXT_DOCUMENT_DID_OPEN, "params": {"textDocument": item}}
    body = json.dumps(message).encode().replace(b"XX", b"\xff\xfe")
    logged = asyncio.ensure_future(client.wait_for_notification(types.WINDOW_LOG_MESSAGE))
    writer = client.protocol.writer
    assert writer is not None
    writer.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)  # (not JSON text: raw bytes)
    async with asyncio.timeout(30):
        params = await logged
    assert params.type == types.MessageType.Error
    assert types.TEXT_DOCUMENT_DID_OPEN in params.message and "UTF-8" in params.message


# --------------------------------------------------------------------------- the lifecycle


@pytest.fixture
async def raw_server() -> AsyncIterator[PlainClient]:
    """A server started but not initialized (each test drives the lifecycle itself)."""
    client = PlainClient("gscen-test", "1")
    await client.start_io(*SERVER, env=SERVER_ENV)
    try:
        yield client
    finally:
        server = client._server
        if server is not None and server.returncode is None:
            server.kill()
            await server.wait()


async def exit_status(client: PlainClient) -> int:
    client.protocol.notify(types.EXIT, None)
    server = client._server
    assert server is not None
    async with asyncio.timeout(30):
        return await server.wait()


async def initialize(client: PlainClient) -> None:
    await client.initialize_async(types.InitializeParams(capabilities=make_capabilities()))
    client.initialized(types.InitializedParams())


async def test_a_request_before_initialize_is_server_not_initialized(raw_server: PlainClient) -> None:
    error = await error_of(raw_server, types.TEXT_DOCUMENT_HOVER, hover_params("file:///x.scenario", 0))
    assert error.code == types.ErrorCodes.ServerNotInitialized


async def test_requests_after_shutdown_are_invalid_request_and_exit_is_status_0(
    raw_server: PlainClient, project: Path
) -> None:
    await initialize(raw_server)
    await raw_server.shutdown_async(None)
    uri = (project / "exp.scenario").as_uri()
    error = await error_of(raw_server, types.TEXT_DOCUMENT_HOVER, hover_params(uri, 0))
    assert error.code == types.ErrorCodes.InvalidRequest
    assert (
        await error_of(raw_server, types.TEXT_DOCUMENT_COMPLETION, hover_params(uri, 0))
    ).code == types.ErrorCodes.InvalidRequest
    assert await exit_status(raw_server) == 0


async def test_exit_without_shutdown_is_status_1(raw_server: PlainClient) -> None:
    await initialize(raw_server)
    assert await exit_status(raw_server) == 1
