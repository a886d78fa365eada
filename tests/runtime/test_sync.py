"""The sync server and client over real TCP on 127.0.0.1: handshake, timing, messages, failures."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from scenario_lang.runtime.sync import (
    PeerDisconnectedError,
    PeerProtocolError,
    SyncClosedError,
    SyncConnectError,
    SyncRefusedError,
    SyncServer,
    SyncServerConfig,
    SyncTimeoutError,
    assign_ids,
    expand_compact,
    is_loopback,
    new_token,
)
from scenario_lang.runtime.sync_client import AllVars, SyncClient, SyncClientConfig
from scenario_lang.runtime.sync_protocol import host_sort_key

LIMIT = 10.0  # every test is bounded; none should come near this


# --------------------------------------------------------------------------- helpers
class RawPeer:
    """A Gumby-style client: plain protocol lines over a TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1", local: str | None = None) -> RawPeer:
        local_addr = (local, 0) if local else None
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24, local_addr=local_addr)
        return cls(reader, writer)

    def send(self, *lines: bytes) -> None:
        self.writer.write(b"".join(line + b"\r\n" for line in lines))

    async def line(self) -> bytes:
        """The next line, stripped; b'' at end of stream."""
        return (await self.reader.readline()).strip()

    async def join(self, offset: float = 0.0, token: str | None = None) -> int:
        if token is not None:
            self.send(b"token:" + token.encode())
        self.send(b"time:%f" % (time.time() + offset))
        line = await self.line()
        assert line.startswith(b"id:"), line
        return int(line[3:])

    async def closed(self) -> bool:
        """True once the server closed the connection (all pending lines skipped)."""
        while await self.reader.read(65536):
            pass
        return True

    def close(self) -> None:
        self.writer.close()


def server_config(instances: int, **overrides: Any) -> SyncServerConfig:
    values: dict[str, Any] = {"instances": instances, "start_delay": 0.05, "require_token": False}
    values.update(overrides)
    return SyncServerConfig(**values)


@asynccontextmanager
async def running(config: SyncServerConfig) -> AsyncIterator[SyncServer]:
    async with asyncio.timeout(LIMIT), SyncServer(config) as server:
        yield server


async def full_peer(
    port: int, token: str | None = None, vars: dict[str, str] | None = None
) -> dict[str, Any]:
    """A gscen peer through SyncClient: connect, ready, go; returns what it saw."""
    async with SyncClient(SyncClientConfig("127.0.0.1", port, token=token)) as client:
        my_id = await client.connect()
        all_vars = await client.ready(vars or {})
        start = await client.wait_go()
        return {"id": my_id, "all_vars": all_vars, "start": start}


async def raw_through_go(peer: RawPeer, *sets: bytes) -> tuple[bytes, float]:
    """After the id: set lines, ready, all-vars, ack, go. Returns (all-vars line, go value)."""
    peer.send(*sets, b"ready")
    all_vars = await peer.line()
    peer.send(b"vars_received")
    go = await peer.line()
    assert go.startswith(b"go:"), go
    return all_vars, float(go[3:])


# --------------------------------------------------------------------------- the handshake
async def test_every_peer_gets_a_unique_id_and_the_same_all_vars_bytes() -> None:
    n = 12
    token = new_token()
    async with running(server_config(n, token=token, require_token=True)) as server:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(full_peer(server.port, token)) for _ in range(n)]
        results = [t.result() for t in tasks]
        assert sorted(r["id"] for r in results) == list(range(1, n + 1))
        raws = {r["all_vars"].raw for r in results}
        assert len(raws) == 1  # gscen peers all asked for the compact form: one line for everyone
        assert all(r["all_vars"].clients == results[0]["all_vars"].clients for r in results)
        document = json.loads(server.all_vars_line or b"")
        assert set(document["clients"]) == {str(i) for i in range(1, n + 1)}
        assert 0 <= document["server"]["global_random"] < 2**32
        await server.wait_done()


async def test_all_vars_is_compact_with_default_port_and_host() -> None:
    async with running(server_config(2, global_random=7)) as server:
        a, b = await RawPeer.open(server.port), await RawPeer.open(server.port)
        ids = await asyncio.gather(a.join(), b.join())
        lines = await asyncio.gather(raw_through_go(a), raw_through_go(b))
        line = lines[0][0]
        assert line == lines[1][0]
        assert b" " not in line
        document = json.loads(line)
        assert document["server"] == {"global_random": 7}
        for peer_id in ids:
            entry = document["clients"][str(peer_id)]
            assert entry == {"time_offset": 0, "port": 12000 + peer_id, "host": "127.0.0.1"}


async def test_compact_all_vars_expands_to_exactly_gumbys_document_key_order_included() -> None:
    # Half the peers ask for the compact form, half are Gumby clients; peers set vars (also port,
    # host and time_offset), measured clock offsets are not 0, and one peer comes from another address.
    n = 8
    config = server_config(n, local_peers_share_clock=False, global_random=5)
    async with running(config) as server:
        peers = [await RawPeer.open(server.port, local="127.0.0.2" if i == 5 else None) for i in range(n)]
        for i, peer in enumerate(peers):
            if i % 2:
                peer.send(b"accept:compact-vars")
        await asyncio.gather(*(p.join(offset=3.0 if i in (1, 2) else 0.0) for i, p in enumerate(peers)))
        sets = [
            (),
            (b"set:key:v1",),
            (b"set:port:9", b"set:key:v:with:colons"),
            (b"set:host:example.org",),
            (b"set:time_offset:x", b"set:a:1"),
            (b"set:public_key:" + b"A" * 40,),
            (),
            (b"set:b:2",),
        ]
        lines = await asyncio.gather(*(raw_through_go(p, *sets[i]) for i, p in enumerate(peers)))
    gumby_lines = {line for i, (line, _) in enumerate(lines) if i % 2 == 0}
    compact_lines = {line for i, (line, _) in enumerate(lines) if i % 2}
    assert len(gumby_lines) == 1 and len(compact_lines) == 1
    gumby = json.loads(gumby_lines.pop())
    compact_line = compact_lines.pop()
    compact = json.loads(compact_line)
    assert "gscen" not in gumby and compact["gscen"]["form"] == 1
    expanded = expand_compact(compact)
    assert json.dumps(expanded) == json.dumps(gumby["clients"])  # equal, and in the same key order
    assert compact["server"] == gumby["server"] == {"global_random": 5}
    assert server.all_vars_line is not None and json.loads(server.all_vars_line) == gumby
    assert AllVars.parse(compact_line).clients == AllVars.parse(json.dumps(gumby).encode()).clients
    assert sum(1 for e in gumby["clients"].values() if e["time_offset"] not in (0, "x")) == 2
    assert "127.0.0.2" in {e["host"] for e in gumby["clients"].values()}


async def test_compact_all_vars_is_about_ten_bytes_per_peer() -> None:
    n = 50
    async with running(server_config(n, all_vars_form="compact")) as server:
        peers = [await RawPeer.open(server.port) for _ in range(n)]
        await asyncio.gather(*(p.join() for p in peers))
        lines = await asyncio.gather(*(raw_through_go(p) for p in peers))
        sizes = server.all_vars_sizes
    assert set(sizes) == {"compact"} and len({line for line, _ in lines}) == 1
    assert sizes["compact"] < 10 * n + 100
    gumby = server.all_vars_line or b""
    assert len(gumby) > 50 * n  # Gumby's form of the same document, built on request


async def test_gumby_form_can_be_forced_on_gscen_peers_and_they_read_it() -> None:
    async with running(server_config(3, all_vars_form="gumby")) as server:
        results = await asyncio.gather(*(full_peer(server.port, vars={"k": "v"}) for _ in range(3)))
        assert set(server.all_vars_sizes) == {"gumby"}
    for r in results:
        assert b"gscen" not in r["all_vars"].raw
        for peer_id, entry in r["all_vars"].clients.items():
            assert entry == {"time_offset": 0, "k": "v", "port": 12000 + peer_id, "host": "127.0.0.1"}


def test_unknown_all_vars_form_is_refused_by_the_config() -> None:
    with pytest.raises(ValueError, match="all_vars_form must be one of auto, compact, gumby"):
        SyncServerConfig(instances=1, require_token=False, all_vars_form="tiny")  # type: ignore[arg-type]


async def test_set_vars_appear_in_all_vars_and_may_replace_port_and_host() -> None:
    async with running(server_config(2)) as server:
        a, b = await RawPeer.open(server.port), await RawPeer.open(server.port)
        id_a, id_b = await asyncio.gather(a.join(), b.join())
        (line, _), _ = await asyncio.gather(
            raw_through_go(a, b"set:key:with:colons", b"set:port:4242", b"set:host:node7"),
            raw_through_go(b, b"set:role:seeder"),
        )
        clients = json.loads(line)["clients"]
        assert clients[str(id_a)] == {"time_offset": 0, "key": "with:colons", "port": "4242", "host": "node7"}
        assert clients[str(id_b)]["role"] == "seeder"
        assert clients[str(id_b)]["port"] == 12000 + id_b


async def test_go_is_the_same_instant_in_each_peers_clock() -> None:
    async with running(server_config(3, start_delay=0.5, local_peers_share_clock=False)) as server:
        peers = [await RawPeer.open(server.port) for _ in range(3)]
        offsets = [0.0, 100.0, -50.0]
        await asyncio.gather(*(p.join(offset) for p, offset in zip(peers, offsets, strict=True)))
        results = await asyncio.gather(*(raw_through_go(p) for p in peers))
        received = time.time()
        start = await server.wait_go()
        gos = [go for _, go in results]
        assert gos[0] == pytest.approx(start, abs=1e-5)
        assert gos[1] - gos[0] == pytest.approx(100.0, abs=0.2)
        assert gos[2] - gos[0] == pytest.approx(-50.0, abs=0.2)
        assert 0.1 < start - received <= 0.5  # start_delay after the last vars_received


async def test_clock_offsets_under_half_a_second_count_as_zero() -> None:
    async with running(server_config(3, local_peers_share_clock=False)) as server:
        peers = [await RawPeer.open(server.port) for _ in range(3)]
        offsets = [0.3, -0.3, 2.0]
        ids = await asyncio.gather(*(p.join(offset) for p, offset in zip(peers, offsets, strict=True)))
        results = await asyncio.gather(*(raw_through_go(p) for p in peers))
        clients = json.loads(results[0][0])["clients"]
        assert clients[str(ids[0])]["time_offset"] == 0
        assert clients[str(ids[1])]["time_offset"] == 0
        assert clients[str(ids[2])]["time_offset"] == pytest.approx(2.0, abs=0.2)
        assert results[0][1] == results[1][1]


async def test_peers_on_the_servers_machine_get_offset_zero_whatever_they_send() -> None:
    # Their clock is the server's: a measured offset would only be the server's own delay.
    async with running(server_config(2)) as server:
        peers = [await RawPeer.open(server.port) for _ in range(2)]
        await asyncio.gather(peers[0].join(0.0), peers[1].join(30.0))
        results = await asyncio.gather(*(raw_through_go(p) for p in peers))
        clients = json.loads(results[0][0])["clients"]
        assert [clients[k]["time_offset"] for k in ("1", "2")] == [0, 0]
        assert results[0][1] == results[1][1]


async def test_ids_go_out_at_once_without_waiting_for_ready() -> None:
    # Gumby handed out one id per `ready`; here every peer has its id before anyone is ready.
    async with running(server_config(5)) as server:
        peers = [await RawPeer.open(server.port) for _ in range(5)]
        ids = await asyncio.gather(*(p.join() for p in peers))
        assert sorted(ids) == [1, 2, 3, 4, 5]
        await asyncio.gather(*(raw_through_go(p) for p in peers))


async def test_two_hundred_peers_complete_with_distinct_ids() -> None:
    n = 200
    async with running(server_config(n)) as server:
        peers = await asyncio.gather(*(RawPeer.open(server.port) for _ in range(n)))
        ids = await asyncio.gather(*(p.join() for p in peers))
        assert sorted(ids) == list(range(1, n + 1))
        results = await asyncio.gather(*(raw_through_go(p) for p in peers))
        assert len({line for line, _ in results}) == 1
        assert len({go for _, go in results}) == 1
        for peer in peers:
            peer.close()
        await server.wait_done()


async def test_sync_client_publishes_vars_and_reports_start_in_local_clock() -> None:
    async with running(server_config(2)) as server:
        results = await asyncio.gather(
            full_peer(server.port, vars={"address": "10.0.0.1:9000"}), full_peer(server.port)
        )
        all_vars: AllVars = results[0]["all_vars"]
        assert all_vars.peer_ids == (1, 2)
        published = [i for i in all_vars.peer_ids if all_vars.clients[i].get("address") == "10.0.0.1:9000"]
        assert published == [results[0]["id"]]
        assert all_vars.address_of(2) == ("127.0.0.1", 12002)
        assert results[0]["start"] == pytest.approx(await server.wait_go(), abs=1e-5)


# --------------------------------------------------------------------------- ids
def test_ids_are_dealt_round_robin_over_sorted_hosts_skipping_exhausted_ones() -> None:
    # Gumby's skip bug: a lower host with fewer peers made the counter skip ids.
    hosts = ["10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.2", "10.0.0.1", "10.0.0.2"]
    assert assign_ids(hosts) == [2, 1, 4, 5, 3, 6]
    assert sorted(assign_ids(["b"] * 3 + ["a"] + ["::1"] * 2)) == [1, 2, 3, 4, 5, 6]


def test_hosts_sort_ipv4_numerically_then_ipv6_then_names() -> None:
    hosts = ["node-b", "::1", "10.0.0.10", "10.0.0.9", "fe80::1%eth0", "::ffff:10.0.0.8", "node-a"]
    assert sorted(hosts, key=host_sort_key) == [
        "::ffff:10.0.0.8",
        "10.0.0.9",
        "10.0.0.10",
        "::1",
        "fe80::1%eth0",
        "node-a",
        "node-b",
    ]


def _second_loopback_address() -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _second_loopback_address(), reason="127.0.0.2 is not a local address here")
async def test_ids_alternate_between_source_addresses() -> None:
    async with running(server_config(4)) as server:
        # accept order: .2, .1, .1, .1 -> host 127.0.0.1 sorts first: ids 1, 3, 4; 127.0.0.2: id 2
        peers = [await RawPeer.open(server.port, local="127.0.0.2")]
        peers += [await RawPeer.open(server.port, local="127.0.0.1") for _ in range(3)]
        ids = await asyncio.gather(*(p.join() for p in peers))
        assert ids == [2, 1, 3, 4]
        line, _ = (await asyncio.gather(*(raw_through_go(p) for p in peers)))[0]
        assert json.loads(line)["clients"]["2"]["host"] == "127.0.0.2"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
async def test_ipv6_peers_get_ids_and_bracketless_hosts() -> None:
    async with running(server_config(2, host="::1")) as server:
        peers = [await RawPeer.open(server.port, host="::1") for _ in range(2)]
        assert sorted(await asyncio.gather(*(p.join() for p in peers))) == [1, 2]
        line, _ = (await asyncio.gather(*(raw_through_go(p) for p in peers)))[0]
        assert json.loads(line)["clients"]["1"]["host"] == "::1"


# --------------------------------------------------------------------------- messages
async def test_message_is_forwarded_with_the_senders_id() -> None:
    async with running(server_config(2)) as server:
        a, b = await RawPeer.open(server.port), await RawPeer.open(server.port)
        id_a, id_b = await asyncio.gather(a.join(), b.join())
        await asyncio.gather(raw_through_go(a), raw_through_go(b))
        a.send(b"msg:%d:greeting:hello: world" % id_b)
        assert await b.line() == b"msg:%d:greeting:hello: world" % id_a


async def test_unknown_msg_target_keeps_sender_connected() -> None:
    async with running(server_config(2)) as server:
        a, b = await RawPeer.open(server.port), await RawPeer.open(server.port)
        _, id_b = await asyncio.gather(a.join(), b.join())
        await asyncio.gather(raw_through_go(a), raw_through_go(b))
        a.send(b"msg:99:type:payload")
        error = await a.line()
        assert error.startswith(b"error:") and b"99" in error
        a.send(b"msg:%d:type:still here" % id_b)
        assert (await b.line()).endswith(b":type:still here")


async def test_bad_lines_after_go_get_an_error_line_and_the_connection_stays() -> None:
    async with running(server_config(2)) as server:
        a, b = await RawPeer.open(server.port), await RawPeer.open(server.port)
        _, id_b = await asyncio.gather(a.join(), b.join())
        await asyncio.gather(raw_through_go(a), raw_through_go(b))
        for bad in (b"ready", b"msg:nope:t:p", b"msg:2"):
            a.send(bad)
            assert (await a.line()).startswith(b"error:")
        a.send(b"msg:%d:t:p" % id_b)
        assert (await b.line()).endswith(b":t:p")


async def test_sync_client_delivers_messages_queued_before_a_handler_is_set() -> None:
    async with running(server_config(2)) as server:
        got: list[tuple[int, bytes, bytes]] = []
        errors: list[str] = []
        done = asyncio.Event()

        async def sender() -> None:
            async with SyncClient(SyncClientConfig("127.0.0.1", server.port), on_error=errors.append) as c:
                await c.connect()
                await c.ready()
                await c.wait_go()
                other = next(i for i in c.all_vars.peer_ids if i != c.my_id)
                c.send_message(other, b"hello", b"one")
                c.send_message(42, b"hello", b"lost")
                c.send_message(other, b"hello", b"two")
                await done.wait()

        async def receiver() -> None:
            async with SyncClient(SyncClientConfig("127.0.0.1", server.port)) as c:
                await c.connect()
                await c.ready()
                await c.wait_go()
                while len(c._pending) < 2:  # no handler yet: the client keeps them
                    await asyncio.sleep(0.005)
                c.set_message_handler(lambda sender, kind, payload: got.append((sender, kind, payload)))
                done.set()

        async with asyncio.TaskGroup() as group:
            group.create_task(sender())
            group.create_task(receiver())
        assert [(kind, payload) for _, kind, payload in got] == [(b"hello", b"one"), (b"hello", b"two")]
        assert len(errors) == 1 and "42" in errors[0]


# --------------------------------------------------------------------------- tokens
async def test_connection_without_token_is_refused_and_the_sync_goes_on() -> None:
    token = new_token()
    async with running(server_config(1, token=token, require_token=True)) as server:
        stray = await RawPeer.open(server.port)
        stray.send(b"time:%f" % time.time())
        refusal = await stray.line()
        assert refusal.startswith(b"error:") and b"token" in refusal
        assert await stray.closed()
        result = await full_peer(server.port, token)
        assert result["id"] == 1


async def test_wrong_token_is_refused_with_a_clear_error() -> None:
    async with running(server_config(1, token=new_token(), require_token=True, connect_timeout=5)) as server:
        with pytest.raises(SyncRefusedError, match="wrong token"):
            await full_peer(server.port, token=new_token())


async def test_gumby_style_client_without_token_completes_the_handshake() -> None:
    async with running(server_config(1, token=new_token(), require_token=False)) as server:
        peer = await RawPeer.open(server.port)
        peer.writer.write(b"time:%f\r\n" % time.time())
        assert await peer.line() == b"id:1"
        peer.writer.write(b"set:public_key:abc\r\nready\r\n")
        document = json.loads(await peer.line())
        assert document["clients"]["1"]["public_key"] == "abc"
        peer.writer.write(b"vars_received\r\n")
        assert (await peer.line()).startswith(b"go:")
        peer.close()
        await server.wait_done()


# --------------------------------------------------------------------------- failures
async def test_garbage_line_before_go_aborts_the_sync_naming_the_peer() -> None:
    async with running(server_config(2)) as server:
        bad, good = await RawPeer.open(server.port), await RawPeer.open(server.port)
        bad_id, _ = await asyncio.gather(bad.join(), good.join())
        bad.send(b"hello there")
        with pytest.raises(PeerProtocolError) as caught:
            await server.wait_go()
        assert caught.value.peer_id == bad_id
        assert "hello there" in str(caught.value) and f"peer {bad_id}" in str(caught.value)
        assert (await good.line()).startswith(b"error:sync aborted: peer")
        assert await good.closed()


async def test_peer_disconnecting_before_go_aborts_the_sync_naming_it() -> None:
    async with running(server_config(3)) as server:
        peers = [await RawPeer.open(server.port) for _ in range(3)]
        ids = await asyncio.gather(*(p.join() for p in peers))
        peers[1].close()
        with pytest.raises(PeerDisconnectedError) as caught:
            await server.wait_done()
        assert caught.value.peer_id == ids[1]
        assert "disconnected" in str(caught.value) and caught.value.address.startswith("127.0.0.1:")
        for peer in (peers[0], peers[2]):
            assert b"disconnected" in await peer.line()


async def test_sync_clients_see_the_abort_reason() -> None:
    async with running(server_config(2)) as server:
        quitter = await RawPeer.open(server.port)
        client_task = asyncio.create_task(full_peer(server.port))
        await quitter.join()
        quitter.close()
        with pytest.raises(SyncRefusedError, match="disconnected"):
            await client_task
        with pytest.raises(PeerDisconnectedError):
            await server.wait_go()


async def test_missing_peer_times_out_with_how_many_joined() -> None:
    async with running(server_config(3, connect_timeout=0.3)) as server:
        peers = [await RawPeer.open(server.port) for _ in range(2)]
        for peer in peers:
            peer.send(b"time:%f" % time.time())
        with pytest.raises(SyncTimeoutError, match="only 2 of 3 peers joined") as caught:
            await server.wait_go()
        assert caught.value.phase == "connect"
        assert (await peers[0].line()).startswith(b"error:sync aborted")


async def test_peer_that_never_sends_ready_is_named_by_the_timeout() -> None:
    async with running(server_config(2, ready_timeout=1.0)) as server:
        slow, fast = await RawPeer.open(server.port), await RawPeer.open(server.port)
        slow_id, _ = await asyncio.gather(slow.join(), fast.join())
        fast.send(b"ready")
        with pytest.raises(SyncTimeoutError, match="never sent ready") as caught:
            await server.wait_go()
        assert caught.value.missing == (slow_id,)
        assert caught.value.phase == "ready"


async def test_peer_that_never_acknowledges_is_named_by_the_go_timeout() -> None:
    async with running(server_config(2, go_timeout=1.0)) as server:
        slow, fast = await RawPeer.open(server.port), await RawPeer.open(server.port)
        slow_id, _ = await asyncio.gather(slow.join(), fast.join())
        slow.send(b"ready")
        fast.send(b"ready")
        await asyncio.gather(slow.line(), fast.line())
        fast.send(b"vars_received")
        with pytest.raises(SyncTimeoutError, match="vars_received") as caught:
            await server.wait_go()
        assert caught.value.missing == (slow_id,)


async def test_timeout_names_refused_connections() -> None:
    config = server_config(1, token=new_token(), require_token=True, connect_timeout=0.3)
    async with running(config) as server:
        stray = await RawPeer.open(server.port)
        stray.send(b"token:nope", b"time:1")
        await stray.closed()
        with pytest.raises(SyncTimeoutError, match=r"1 connections refused.*wrong token"):
            await server.wait_go()


async def test_extra_peer_after_all_joined_is_refused_without_breaking_the_run() -> None:
    async with running(server_config(1)) as server:
        first = await RawPeer.open(server.port)
        await first.join()
        extra = await RawPeer.open(server.port)
        extra.send(b"time:%f" % time.time())
        assert b"already joined" in await extra.line()
        await raw_through_go(first)
        await server.wait_go()


async def test_over_long_line_before_go_aborts_naming_the_peer() -> None:
    async with running(server_config(2)) as server:
        big, other = await RawPeer.open(server.port), await RawPeer.open(server.port)
        big_id, _ = await asyncio.gather(big.join(), other.join())
        big.writer.write(b"set:k:" + b"x" * (1 << 22) + b"\r\n")
        with pytest.raises(PeerProtocolError, match="longer than") as caught:
            await server.wait_go()
        assert caught.value.peer_id == big_id


# --------------------------------------------------------------------------- lifecycle and client
async def test_server_refuses_use_after_close() -> None:
    server = SyncServer(server_config(1))
    await server.start()
    await server.aclose()
    with pytest.raises(SyncClosedError):
        await server.start()
    with pytest.raises(SyncClosedError):
        await server.wait_go()
    with pytest.raises(SyncClosedError):
        await server.wait_done()


async def test_closing_the_server_before_go_tells_peers() -> None:
    async with asyncio.timeout(LIMIT):
        server = SyncServer(server_config(2))
        await server.start()
        peer = await RawPeer.open(server.port)
        peer.send(b"time:%f" % time.time())
        await server.aclose()
        assert b"closed" in await peer.line()


def test_config_requires_a_token_when_one_is_required() -> None:
    with pytest.raises(ValueError, match="token"):
        SyncServerConfig(instances=2)
    with pytest.raises(ValueError, match="token"):
        SyncServerConfig(instances=2, token="has space")


async def test_client_retries_until_the_server_listens() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    port = holder.getsockname()[1]
    retried = asyncio.Event()

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "retrying" in record.getMessage():
                retried.set()

    spy = Spy(level=logging.DEBUG)
    client_log = logging.getLogger("scenario_lang.runtime.sync_client")
    client_log.addHandler(spy)
    old_level = client_log.level
    client_log.setLevel(logging.DEBUG)
    try:
        async with asyncio.timeout(LIMIT):
            peer = asyncio.create_task(full_peer(port))
            await retried.wait()
            holder.close()
            async with SyncServer(server_config(1, port=port)) as server:
                assert (await peer)["id"] == 1
                await server.wait_done()
    finally:
        client_log.removeHandler(spy)
        client_log.setLevel(old_level)
        holder.close()


async def test_client_gives_up_at_the_connect_deadline() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        async with (
            asyncio.timeout(LIMIT),
            SyncClient(SyncClientConfig("127.0.0.1", port, connect_timeout=0.3)) as c,
        ):
            with pytest.raises(SyncConnectError, match=f"127.0.0.1:{port}"):
                await c.connect()
    finally:
        holder.close()


async def test_client_refuses_use_after_close_and_out_of_order_calls() -> None:
    async with running(server_config(1)) as server:
        client = SyncClient(SyncClientConfig("127.0.0.1", server.port))
        async with client:
            with pytest.raises(RuntimeError, match="connect"):
                await client.ready()
        with pytest.raises(SyncClosedError):
            await client.connect()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("::1%lo", True),
        ("::ffff:127.0.0.1", False),
        ("10.0.0.1", False),
        ("example.org", False),
    ],
)
def test_one_loopback_test_for_the_server_and_the_peers(host: str, loopback: bool) -> None:
    # The server (is this client on my machine?) and the peer (is the server on mine?) ask the same.
    assert is_loopback(host) is loopback
