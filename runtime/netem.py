"""Network conditions without root: an IPv8 endpoint wrapper between the overlays and the UDP socket.

Takes a pyipv8 3.x `Endpoint` (the peer's UDP endpoint), this peer's id, the run's seed, and a
`NetworkConditions` the built-in callbacks change (`latency`, `loss`, `bandwidth`, `partition`,
`heal`, `reset_network`); returns `ConditionedEndpoint`, an `Endpoint` the overlays send through.
Conditions act on the packets this peer **sends** (each peer applies its own), so:

- latency: a packet leaves `latency` seconds later, plus a uniform draw in [-jitter, +jitter]
  (never below 0), on the loop's timer (`call_later`: packets with equal delays keep their order);
- loss: a packet is dropped when its draw falls below the loss share;
- bandwidth: packets leave one after another at `rate` bytes per second (the link is busy for
  `len / rate` after each); one whose wait would pass `MAX_QUEUE_SECONDS` is dropped, as a full
  queue drops (tc's queues are bounded too);
- partition: a packet to a peer of another group is dropped (peers in no group form one more group;
  both sides drop their own sends, so no packet crosses either way).

Draws are reproducible: the loss and jitter draws of a packet come from (seed, sender, receiver, the
number of packets this sender sent that receiver before it), never from a clock, so the same sends
give the same drops whatever the timing. Every send counts on its link, conditions or not, so
turning a condition on at another instant does not shift later draws. A receiver is known by the
address it published (`set_peer_addresses`); a packet to another address counts on a link named by
that address.

Received packets pass through unchanged. Counts (`counts`): packets sent, delayed, dropped (by loss,
partition, or a full bandwidth queue). With no condition set, a send costs one dictionary update
more than the plain endpoint (see bench/netem_bench.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, cast

from ipv8.messaging.interfaces.endpoint import Endpoint, EndpointListener

from .network import Address, EndpointCounts, LinkCounts, NetworkConditions, Ranges, packet_draws

__all__ = ["MAX_QUEUE_SECONDS", "ConditionedEndpoint", "NetworkConditions", "packet_draws"]

MAX_QUEUE_SECONDS = 1.0  # the longest a packet waits behind the bandwidth limit before it is dropped


def _group_of(groups: tuple[Ranges, ...], peer: int) -> int:
    for index, ranges in enumerate(groups):
        if any(lo <= peer <= hi for lo, hi in ranges):
            return index
    return len(groups)  # the peers in no group form one more


class ConditionedEndpoint(EndpointListener, Endpoint):  # type: ignore[misc,unused-ignore]
    """An `Endpoint` that sends through `endpoint` under `conditions` (see the module docstring).

    It listens to the inner endpoint and hands what arrives to its own listeners, so overlays
    register with it as with any endpoint. Attributes it does not define (`bytes_up`, a UDP
    endpoint's port) are the inner endpoint's.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        my_id: int,
        seed: int,
        conditions: NetworkConditions | None = None,
        peer_addresses: Mapping[Address, int] | None = None,
    ) -> None:
        Endpoint.__init__(self, endpoint.prefixlen)
        EndpointListener.__init__(self, endpoint)
        self.endpoint = endpoint
        self.my_id = my_id
        self.seed = seed
        self.conditions = conditions if conditions is not None else NetworkConditions()
        self.counts = EndpointCounts()
        self._peers: dict[Address, int] = {}
        self._groups: tuple[Ranges, ...] | None = None  # the partition the group cache below is for
        self._group_cache: dict[int, int] = {}
        self._busy_until = 0.0  # when the bandwidth-limited link is free again (loop time)
        self._loop: asyncio.AbstractEventLoop | None = None
        if peer_addresses:
            self.set_peer_addresses(peer_addresses)
        endpoint.add_listener(self)

    def set_peer_addresses(self, addresses: Mapping[Address, int]) -> None:
        """The address each peer of the run published -> its id (for draws, counts and partitions)."""
        self._peers = {(str(host), int(port)): peer for (host, port), peer in addresses.items()}

    # ---- sending
    def send(self, socket_address: Address, packet: bytes) -> None:
        receiver: int | Address = self._peers.get(socket_address, socket_address)
        links = self.counts.links
        link = links.get(receiver)
        if link is None:
            link = links[receiver] = LinkCounts()
        count = link.sent
        link.sent = count + 1
        self.counts.total.sent += 1
        c = self.conditions
        if c.idle:
            self.endpoint.send(socket_address, packet)
            return
        if c.partition is not None and isinstance(receiver, int):
            if self._groups is not c.partition:
                self._groups, self._group_cache = c.partition, {}
            mine = self._group_cache.get(self.my_id)
            if mine is None:
                mine = self._group_cache[self.my_id] = _group_of(c.partition, self.my_id)
            theirs = self._group_cache.get(receiver)
            if theirs is None:
                theirs = self._group_cache[receiver] = _group_of(c.partition, receiver)
            if mine != theirs:
                link.dropped_partition += 1
                self.counts.total.dropped_partition += 1
                return
        delay = c.latency
        if c.loss or c.jitter:
            u_loss, u_jitter = packet_draws(self.seed, self.my_id, receiver, count)
            if u_loss < c.loss:
                link.dropped_loss += 1
                self.counts.total.dropped_loss += 1
                return
            if c.jitter:
                delay = max(0.0, delay + c.jitter * (2.0 * u_jitter - 1.0))
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if c.rate:
            now = loop.time()
            start = max(now, self._busy_until)
            if start - now > MAX_QUEUE_SECONDS:
                link.dropped_queue += 1
                self.counts.total.dropped_queue += 1
                return
            self._busy_until = start + len(packet) / c.rate
            delay += self._busy_until - now
        if delay <= 0:
            self.endpoint.send(socket_address, packet)
            return
        link.delayed += 1
        self.counts.total.delayed += 1
        loop.call_later(delay, self._send_now, socket_address, packet)

    def _send_now(self, socket_address: Address, packet: bytes) -> None:
        if self.endpoint.is_open():  # closed meanwhile: the packet is lost with the socket
            self.endpoint.send(socket_address, packet)

    # ---- receiving: what arrives goes to this endpoint's listeners as it is
    def on_packet(self, packet: tuple[Address, bytes]) -> None:
        self.notify_listeners(packet)

    # ---- the rest of the Endpoint interface is the inner endpoint's
    def assert_open(self) -> None:
        self.endpoint.assert_open()

    def is_open(self) -> bool:
        return bool(self.endpoint.is_open())

    def get_address(self) -> Address:
        return cast(Address, self.endpoint.get_address())

    async def open(self) -> bool:
        return bool(await self.endpoint.open())

    def close(self) -> Awaitable[Any] | None:
        return cast("Awaitable[Any] | None", self.endpoint.close())

    def reset_byte_counters(self) -> None:
        self.endpoint.reset_byte_counters()

    # Real attributes, not only `__getattr__`: pyipv8's StatisticsEndpoint, wrapped around this one,
    # forwards with `object.__getattribute__`, which never reaches `__getattr__`.
    @property
    def bytes_up(self) -> int:
        return int(getattr(self.endpoint, "bytes_up", 0))

    @property
    def bytes_down(self) -> int:
        return int(getattr(self.endpoint, "bytes_down", 0))

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes this class does not have (bytes_up, _port, ...)
        if name == "endpoint":
            raise AttributeError(name)
        return getattr(self.endpoint, name)
