"""`request-id:<n>`: a peer asks the sync server for its id (real TCP on 127.0.0.1).

Launchers that place peers themselves (SLURM: node rank + index on the node) need it, because the
nodes of the local test cluster all share one address, so address order cannot tell them apart.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from scenario_lang.runtime.sync import PeerProtocolError, SyncServer, SyncServerConfig, new_token
from scenario_lang.runtime.sync_client import SyncClient, SyncClientConfig

LIMIT = 10.0


async def _peer(port: int, token: str, wanted: int | None, publish_host: bool = False) -> dict[str, Any]:
    config = SyncClientConfig("127.0.0.1", port, token=token, requested_id=wanted, publish_host=publish_host)
    async with SyncClient(config) as client:
        my_id = await client.connect()
        all_vars = await client.ready({})
        await client.wait_go()
        return {"id": my_id, "all_vars": all_vars}


async def _run(wanted: list[int | None], publish_host: bool = False) -> list[dict[str, Any]]:
    token = new_token()
    config = SyncServerConfig(instances=len(wanted), token=token, start_delay=0.01)
    async with asyncio.timeout(LIMIT), SyncServer(config) as server:
        results = []
        # Peers join one after the other, so accept order is list order.
        tasks = []
        for w in wanted:
            tasks.append(asyncio.create_task(_peer(server.port, token, w, publish_host)))
            while server.joined < len(tasks):
                await asyncio.sleep(0.005)
        results = [await t for t in tasks]
        await server.wait_go()
    return results


async def test_requested_ids_are_granted_whatever_the_join_order() -> None:
    wanted: list[int | None] = [4, 3, 2, 1]
    results = await _run(wanted)
    assert [r["id"] for r in results] == [4, 3, 2, 1]


async def test_peers_that_ask_for_nothing_get_the_remaining_ids_in_accept_order() -> None:
    results = await _run([None, 2, None, 5, None])
    assert [r["id"] for r in results] == [1, 2, 3, 5, 4]
    assert sorted(results[0]["all_vars"].clients) == [1, 2, 3, 4, 5]


async def test_a_gumby_client_without_request_joins_peers_that_requested() -> None:
    config = SyncServerConfig(instances=2, require_token=False, start_delay=0.01)
    async with asyncio.timeout(LIMIT), SyncServer(config) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"time:%f\r\n" % time.time())
        while server.joined < 1:
            await asyncio.sleep(0.005)
        asker = SyncClient(SyncClientConfig("127.0.0.1", server.port, requested_id=1))
        async with asker:
            assert await asker.connect() == 1
            assert (await reader.readline()).strip() == b"id:2"
        writer.close()


@pytest.mark.parametrize(("wanted", "why"), [(0, r"'0', not one of 1\.\.2"), (3, r"'3', not one of 1\.\.2")])
async def test_an_id_outside_the_run_aborts_the_sync_naming_the_peer(wanted: int, why: str) -> None:
    token = new_token()
    config = SyncServerConfig(instances=2, token=token)
    async with asyncio.timeout(LIMIT), SyncServer(config) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"token:%s\r\nrequest-id:%d\r\ntime:%f\r\n" % (token.encode(), wanted, time.time()))
        with pytest.raises(PeerProtocolError, match=why):
            await server.wait_go()
        writer.close()


async def test_an_id_asked_for_twice_aborts_the_sync_naming_who_has_it() -> None:
    token = new_token()
    config = SyncServerConfig(instances=3, token=token)
    async with asyncio.timeout(LIMIT), SyncServer(config) as server:
        writers = []
        for _ in range(2):
            _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"token:%s\r\nrequest-id:2\r\ntime:%f\r\n" % (token.encode(), time.time()))
            writers.append(writer)
            await asyncio.sleep(0.05)
        with pytest.raises(PeerProtocolError, match=r"asked for id 2, which connection from 127\.0\.0\.1"):
            await server.wait_go()
        for writer in writers:
            writer.close()


async def test_a_connection_that_leaves_before_joining_gives_its_id_back() -> None:
    config = SyncServerConfig(instances=1, require_token=False, start_delay=0.01)
    async with asyncio.timeout(LIMIT), SyncServer(config) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"request-id:1\r\n")
        await writer.drain()
        writer.close()
        await asyncio.sleep(0.05)
        async with SyncClient(SyncClientConfig("127.0.0.1", server.port, requested_id=1)) as client:
            assert await client.connect() == 1


async def test_a_peer_can_publish_its_own_address() -> None:
    token = new_token()
    config = SyncServerConfig(instances=1, token=token, start_delay=0.01)
    async with asyncio.timeout(LIMIT), SyncServer(config) as server:
        client = SyncClient(SyncClientConfig("127.0.0.1", server.port, token=token, publish_host=True))
        async with client:
            await client.connect()
            assert client.local_host == "127.0.0.1"
            all_vars = await client.ready({})
    assert all_vars.address_of(1) == ("127.0.0.1", 12001)


async def test_a_published_address_the_server_sees_anyway_keeps_the_document_compact() -> None:
    results = await _run([None, None], publish_host=True)
    all_vars = results[0]["all_vars"]
    assert all_vars.clients[2]["host"] == "127.0.0.1"
    assert b'"clients":{"1":{},"2":{}}' in all_vars.raw


async def test_a_published_address_other_than_the_servers_view_is_kept() -> None:
    token = new_token()
    config = SyncServerConfig(instances=1, token=token, start_delay=0.01)
    async with (
        asyncio.timeout(LIMIT),
        SyncServer(config) as server,
        SyncClient(SyncClientConfig("127.0.0.1", server.port, token=token)) as client,
    ):
        await client.connect()
        all_vars = await client.ready({"host": "10.1.2.3"})
    assert all_vars.address_of(1) == ("10.1.2.3", 12001)


def test_a_requested_id_below_one_is_refused_by_the_config() -> None:
    with pytest.raises(ValueError, match="requested_id"):
        SyncClientConfig("127.0.0.1", 1, requested_id=0)
