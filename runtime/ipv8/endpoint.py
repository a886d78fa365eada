"""The UDP socket of a peer's IPv8 instance: bound early, so the port it publishes is the one it has.

Takes the host to bind, a wanted port (0: any free port) and whether the port is a must; returns an
`EarlyUDPEndpoint`, a pyipv8 `UDPEndpoint` whose socket is already bound when it is created (in
`on_id_received`, before the peer sends its vars) and which `open()` then hands to asyncio.

pyipv8's own `UDPEndpoint.open()` silently moves to the next port when one is taken. A port taken
from the run's base is handled the same way (the peer publishes the port it actually got); a port
the experiment asked for explicitly (`ipv8_port`) that is taken is a `PortInUseError` instead, since
the other peers would otherwise be told a wrong address.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint

from ..udp_ports import bind_udp

DATAGRAM_BUFFER = 65_536
"""Bytes read per datagram: every UDP payload fits (IPv4 at most 65,507, IPv6 without jumbograms
65,527). asyncio's default of 256 KiB is above glibc's threshold for mapping memory: each datagram
received then costs an mmap, an mremap and an munmap (a TLB flush on every core the peer's threads
last ran on); 64 KiB comes from the heap."""


class EarlyUDPEndpoint(UDPEndpoint):
    """A pyipv8 UDP endpoint over a socket bound at construction (see the module docstring)."""

    def __init__(self, host: str = "0.0.0.0", port: int = 0, *, exact: bool = False) -> None:
        self._socket: socket.socket | None = bind_udp(host, port, exact=exact)
        super().__init__(port=self._socket.getsockname()[1], ip=host)

    @property
    def bound_port(self) -> int:
        return int(self._port)

    async def open(self) -> bool:
        if self.is_open():
            return True
        if self._socket is None:
            raise OSError(f"the UDP socket of port {self._port} was closed")
        loop = asyncio.get_running_loop()
        sock, self._socket = self._socket, None
        self._transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)
        if hasattr(self._transport, "max_size"):  # asyncio's selector transport (see the docstring)
            self._transport.max_size = DATAGRAM_BUFFER
        self._running = True
        return True

    def close(self) -> Any:
        """Close the endpoint, or only the early socket when it never opened."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        return super().close()
