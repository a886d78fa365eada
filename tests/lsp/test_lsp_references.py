"""References with tens of thousands of results do not hold the event loop: a hover sent after them
is answered first, partial results are streamed to a client that offers a token, the answer is cut
(with a message) for one that does not, and `$/cancelRequest` stops them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from .conftest import Session, request_raw, send_raw

CALLS = 30_000  # `echo` calls: several chunks of lines to scan


async def opened_large(client: LanguageClient, project: Path, calls: int = CALLS) -> tuple[Session, str]:
    path = project / "large.scenario"
    path.write_text("".join(f"@0:{1 + i % 50} echo x{i}\n" for i in range(calls)))
    s = Session(client)
    uri = s.open(path)
    await s.diagnostics(uri, version=1)
    return s, uri


def references_params(uri: str, token: str | None = None) -> types.ReferenceParams:
    return types.ReferenceParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=0, character=6),  # on `echo`
        context=types.ReferenceContext(include_declaration=True),
        partial_result_token=token,
    )


async def test_a_hover_after_references_with_many_results_is_answered_first(
    client: LanguageClient, project: Path
) -> None:
    s, uri = await opened_large(client, project)
    s.edit(uri, 0, 0, 0, "@0:1 echo first\n")
    order: list[str] = []

    async def answer(name: str, request: Any) -> Any:
        result = await request
        order.append(name)
        return result

    hover = types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(5, 1)
    )
    shown = asyncio.ensure_future(client.wait_for_notification(types.WINDOW_SHOW_MESSAGE))
    found, _hover = await asyncio.gather(
        answer("references", client.text_document_references_async(references_params(uri))),
        answer("hover", client.text_document_hover_async(hover)),
    )
    assert order == ["hover", "references"]
    assert 0 < len(found or []) < CALLS  # cut, and said so:
    message = await shown
    assert f"{CALLS + 1:,} references to `echo`" in message.message


async def test_references_are_streamed_as_partial_results_when_the_client_offers_a_token(
    client: LanguageClient, project: Path
) -> None:
    _s, uri = await opened_large(client, project)
    result = await client.text_document_references_async(references_params(uri, token="refs"))
    assert list(result or []) == []  # everything came as partial results
    streamed = client.partial_results["refs"]  # type: ignore[attr-defined]
    assert len(streamed) == CALLS
    assert [r["range"]["start"]["line"] for r in streamed] == list(range(CALLS))


async def test_references_stop_on_cancel_request(client: LanguageClient, project: Path) -> None:
    """Cancelled once their first partial result came (so while they run), they stop: the answer
    is RequestCancelled and not every reference was sent."""
    calls = 60_000
    _s, uri = await opened_large(client, project, calls)
    params = client.protocol._converter.unstructure(references_params(uri, token="cancel-me"))
    event: asyncio.Event = client.partial_event  # type: ignore[attr-defined]
    event.clear()
    msg_id, answer = request_raw(client, types.TEXT_DOCUMENT_REFERENCES, params)
    first = asyncio.ensure_future(event.wait())
    done, _pending = await asyncio.wait({answer, first}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    assert first in done, "references answered before sending any partial result"
    send_raw(client, {"jsonrpc": "2.0", "method": types.CANCEL_REQUEST, "params": {"id": msg_id}})
    try:
        async with asyncio.timeout(30):
            await answer
    except JsonRpcException as exc:
        assert exc.code == types.LSPErrorCodes.RequestCancelled
    else:
        raise AssertionError("references answered in full after $/cancelRequest")
    assert len(client.partial_results["cancel-me"]) < calls  # type: ignore[attr-defined]
