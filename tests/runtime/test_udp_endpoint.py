"""The peer's IPv8 UDP endpoint (runtime/ipv8/endpoint.py), over real UDP on 127.0.0.1: every datagram
arrives whole, and reading one allocates a buffer the heap serves (not asyncio's 256 KiB, which glibc
maps and unmaps for each datagram)."""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
from typing import Any

from ipv8.messaging.interfaces.endpoint import EndpointListener
from scenario_lang.runtime.ipv8.endpoint import DATAGRAM_BUFFER, EarlyUDPEndpoint

GLIBC_MMAP_THRESHOLD = 128 * 1024
"""glibc's initial threshold above which malloc maps memory of its own."""


class Inbox(EndpointListener):  # type: ignore[misc,unused-ignore]
    def __init__(self, endpoint: Any) -> None:
        super().__init__(endpoint)
        self.packets: list[bytes] = []
        self.arrived = asyncio.Event()

    def on_packet(self, packet: Any) -> None:
        self.packets.append(packet[1])
        self.arrived.set()


async def receive(payload: bytes) -> tuple[bytes, int]:
    """Send `payload` to a fresh endpoint; what arrived and the most memory Python held meanwhile."""
    endpoint = EarlyUDPEndpoint("127.0.0.1", 0)
    await endpoint.open()
    inbox = Inbox(endpoint)
    endpoint.add_listener(inbox)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 18)
    try:
        tracemalloc.start()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        sender.sendto(payload, ("127.0.0.1", endpoint.bound_port))
        await asyncio.wait_for(inbox.arrived.wait(), 5)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
        sender.close()
        endpoint.close()
    return inbox.packets[0], peak


async def test_the_largest_udp_datagram_arrives_whole() -> None:
    payload = bytes(range(256)) * 255 + bytes(227)  # 65,507 bytes: the most IPv4 UDP carries
    arrived, _ = await receive(payload)
    assert arrived == payload


async def test_reading_a_datagram_allocates_a_buffer_below_the_mmap_threshold() -> None:
    _, peak = await receive(b"x" * 200)
    assert DATAGRAM_BUFFER <= peak < GLIBC_MMAP_THRESHOLD
