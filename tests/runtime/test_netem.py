"""The network-conditions endpoint over real pyipv8 UDP endpoints on 127.0.0.1: partitions and heal,
latency, jitter, loss, bandwidth, and drops that depend on the seed and the sends, not the timing."""

from __future__ import annotations

import asyncio
import statistics
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from ipv8.messaging.interfaces.endpoint import EndpointListener
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from scenario_lang.runtime.netem import ConditionedEndpoint, NetworkConditions, packet_draws

Address = tuple[str, int]


class Inbox(EndpointListener):
    """Every packet an endpoint receives: (arrival time, source, payload); `on_arrival` may answer."""

    def __init__(self, endpoint: ConditionedEndpoint) -> None:
        super().__init__(endpoint)
        self.packets: list[tuple[float, Address, bytes]] = []
        self.on_arrival: Callable[[Address, bytes], None] | None = None
        self.arrived = asyncio.Event()
        endpoint.add_listener(self)

    def on_packet(self, packet: tuple[Address, bytes]) -> None:
        source, data = packet
        self.packets.append((time.monotonic(), (source[0], source[1]), data))
        self.arrived.set()
        if self.on_arrival is not None:
            self.on_arrival(source, data)

    def numbers(self) -> list[int]:
        return [struct.unpack_from("<I", data)[0] for _t, _s, data in self.packets]


@asynccontextmanager
async def peers(count: int, seed: int = 1) -> AsyncIterator[list[tuple[ConditionedEndpoint, Inbox]]]:
    """`count` peers (ids 1..count), each a real UDP endpoint on 127.0.0.1 under a conditioned one."""
    inner = [UDPEndpoint(0, "127.0.0.1") for _ in range(count)]
    for endpoint in inner:
        await endpoint.open()
    addresses = {(e.get_address()[0], e.get_address()[1]): i + 1 for i, e in enumerate(inner)}
    made = []
    for i, endpoint in enumerate(inner):
        wrapped = ConditionedEndpoint(endpoint, i + 1, seed, NetworkConditions(), addresses)
        made.append((wrapped, Inbox(wrapped)))
    try:
        yield made
    finally:
        for endpoint in inner:
            endpoint.close()


def address(peer: tuple[ConditionedEndpoint, Inbox]) -> Address:
    host, port = peer[0].get_address()[:2]
    return host, port


async def send_numbered(
    sender: ConditionedEndpoint, to: Address, count: int, batch: int = 250, pause: float = 0.002
) -> None:
    """`count` packets numbered 0.., in batches with a pause between, so the receiver's socket
    buffer never overflows (the kernel would drop packets then, not the conditions)."""
    for start in range(0, count, batch):
        for n in range(start, min(start + batch, count)):
            sender.send(to, struct.pack("<I", n) + b"x" * 28)
        await asyncio.sleep(pause)


async def wait_quiet(inbox: Inbox, quiet: float = 0.2, limit: float = 10.0) -> None:
    """Until no packet arrived for `quiet` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        inbox.arrived.clear()
        try:
            await asyncio.wait_for(inbox.arrived.wait(), quiet)
        except TimeoutError:
            return


async def test_partition_stops_delivery_between_groups_and_heal_restores_it() -> None:
    async with peers(4) as ps:
        one, two, three, four = ps
        partition = (((1, 2),), ((3, 3),))  # 1-2 | 3 | 4 (in no group: a group of its own)
        for endpoint, _inbox in ps:
            endpoint.conditions.set_partition(partition)
        for sender in ps:
            for receiver in ps:
                if receiver is not sender:
                    await send_numbered(sender[0], address(receiver), 20)
        await wait_quiet(four[1])
        got = {i + 1: len(p[1].packets) for i, p in enumerate(ps)}
        assert got == {1: 20, 2: 20, 3: 0, 4: 0}  # only 1 <-> 2 share a group
        assert one[0].counts.total.dropped_partition == 40 and three[0].counts.total.dropped_partition == 60
        for endpoint, _inbox in ps:
            endpoint.conditions.set_partition(None)  # heal
        for sender in (one, two, four):
            await send_numbered(sender[0], address(three), 20)
        await wait_quiet(three[1])
        assert len(three[1].packets) == 60


async def test_latency_of_50_ms_makes_a_ping_pong_round_trip_of_100_ms() -> None:
    async with peers(2) as ps:
        (a, a_in), (b, b_in) = ps
        a.conditions.set_latency(0.050)
        b.conditions.set_latency(0.050)
        b_in.on_arrival = lambda source, data: b.send(source, data)  # pong
        rtts = []
        for n in range(30):
            a_in.arrived.clear()
            sent = time.monotonic()
            a.send(address(ps[1]), struct.pack("<I", n))
            await asyncio.wait_for(a_in.arrived.wait(), 2)
            rtts.append(a_in.packets[-1][0] - sent)
        median = statistics.median(rtts)
        assert 0.090 <= median <= 0.110, rtts
        assert a.counts.total.delayed == 30 and b.counts.total.delayed == 30


async def test_jitter_spreads_the_delay_within_its_bounds() -> None:
    async with peers(2) as ps:
        (a, _), (_b, b_in) = ps
        a.conditions.set_latency(0.040, jitter=0.020)
        sent = {}
        for n in range(100):
            sent[n] = time.monotonic()
            a.send(address(ps[1]), struct.pack("<I", n))
            await asyncio.sleep(0.001)
        await wait_quiet(b_in)
        delays = [t - sent[struct.unpack_from("<I", d)[0]] for t, _s, d in b_in.packets]
        assert len(delays) == 100
        assert min(delays) >= 0.019 and max(delays) <= 0.070
        assert statistics.pstdev(delays) > 0.005  # spread, not one fixed delay


async def test_loss_of_20_percent_over_5000_messages_drops_17_to_23_percent() -> None:
    async with peers(2) as ps:
        (a, _), (_b, b_in) = ps
        a.conditions.set_loss(0.20)
        await send_numbered(a, address(ps[1]), 5000)
        await wait_quiet(b_in)
        dropped = a.counts.total.dropped_loss
        assert 0.17 <= dropped / 5000 <= 0.23
        assert len(b_in.packets) == 5000 - dropped  # every other packet arrived: the kernel dropped none


async def drops(seed: int, batch: int, pause: float) -> set[int]:
    async with peers(2, seed) as ps:
        (a, _), (_b, b_in) = ps
        a.conditions.set_loss(0.10)
        a.conditions.set_latency(0.005, jitter=0.004)
        await send_numbered(a, address(ps[1]), 2000, batch, pause)
        await wait_quiet(b_in)
        received = set(b_in.numbers())
        assert len(received) == 2000 - a.counts.total.dropped_loss
        return set(range(2000)) - received


async def test_the_same_seed_drops_the_same_sends_whatever_the_timing() -> None:
    first = await drops(7, batch=250, pause=0.002)
    again = await drops(7, batch=40, pause=0.010)  # other pacing, other timer interleavings
    other = await drops(8, batch=250, pause=0.002)
    assert first == again
    assert first != other and 100 < len(first) < 300


def test_draws_depend_on_seed_sender_receiver_and_count_only() -> None:
    assert packet_draws(1, 1, 2, 0) == packet_draws(1, 1, 2, 0)
    draws = {
        packet_draws(1, 1, 2, 0),
        packet_draws(2, 1, 2, 0),
        packet_draws(1, 2, 1, 0),
        packet_draws(1, 1, 2, 1),
    }
    assert len(draws) == 4
    assert all(0 <= u < 1 for pair in draws for u in pair)


async def test_bandwidth_limit_spaces_packets_at_the_rate() -> None:
    async with peers(2) as ps:
        (a, _), (_b, b_in) = ps
        a.conditions.set_bandwidth(100_000)  # 100 kbps: 100,000 bytes per second
        start = time.monotonic()
        for n in range(50):
            a.send(address(ps[1]), struct.pack("<I", n) + b"x" * 996)  # 1,000 bytes each
        await wait_quiet(b_in)
        assert len(b_in.packets) == 50
        took = b_in.packets[-1][0] - start
        assert 0.45 <= took <= 0.56, took  # 50,000 bytes at 100,000 bytes/s
        assert b_in.numbers() == list(range(50))  # in order


async def test_a_full_bandwidth_queue_drops_and_reset_lifts_every_condition() -> None:
    async with peers(2) as ps:
        (a, _), (_b, b_in) = ps
        a.conditions.set_bandwidth(10_000)
        for n in range(20):  # 20,000 bytes at 10,000 bytes/s: the queue holds about 1 s of them
            a.send(address(ps[1]), struct.pack("<I", n) + b"x" * 996)
        assert a.counts.total.dropped_queue >= 8
        a.conditions.set_latency(0.2)
        a.conditions.reset()
        assert a.conditions.idle
        before = time.monotonic()
        a.send(address(ps[1]), struct.pack("<I", 99))
        await wait_quiet(b_in, quiet=0.3)
        assert 99 in b_in.numbers()
        assert next(t for t, _s, d in b_in.packets if struct.unpack_from("<I", d)[0] == 99) - before < 0.05


def test_conditions_refuse_values_out_of_range() -> None:
    conditions = NetworkConditions()
    for bad in (
        lambda: conditions.set_latency(-0.1),
        lambda: conditions.set_loss(1.5),
        lambda: conditions.set_bandwidth(0),
    ):
        with pytest.raises(ValueError):
            bad()
    assert conditions.idle


async def test_byte_counters_reach_through_pyipv8s_statistics_endpoint() -> None:
    from ipv8.messaging.interfaces.statistics_endpoint import StatisticsEndpoint

    async with peers(2) as ps:
        (a, _), (_b, b_in) = ps
        outer = StatisticsEndpoint(a)  # as IPv8(enable_statistics=True) wraps the endpoint it is given
        outer.send(address(ps[1]), b"x" * 40)
        await wait_quiet(b_in)
        assert outer.bytes_up == 40 and len(b_in.packets) == 1
