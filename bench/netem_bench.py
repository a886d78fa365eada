"""Cost per packet of the network-conditions endpoint with no condition set, against plain IPv8.

One process, two real pyipv8 UDP endpoints on 127.0.0.1: the sender sends N packets of 64 bytes to
the receiver, in batches of 100, the loop turning between until the receiver has read them (so the
kernel drops nothing), and the run ends when all N arrived. `--mode plain` sends through
pyipv8's `UDPEndpoint`, `--mode conditioned` through `ConditionedEndpoint` wrapping it (no
condition: the fast path). Prints the packets received and the seconds the send loop took, per
packet. Compare whole processes, A/B in turn:

    python bench/netem_bench.py --mode conditioned -n 200000
    python bench/netem_bench.py --mode plain -n 200000

(CPU seconds of the two, difference / N = the wrapper's cost per packet; target: at most 20 µs.)
With `--mode loss`, a 5% loss and 1 ms latency are set (the slow path, for reference).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

from ipv8.messaging.interfaces.endpoint import EndpointListener
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from scenario_lang.runtime.netem import ConditionedEndpoint, NetworkConditions


class Counter(EndpointListener):  # type: ignore[misc,unused-ignore]
    def __init__(self, endpoint: Any, expected: int) -> None:
        super().__init__(endpoint)
        self.count = 0
        self.expected = expected
        self.done = asyncio.Event()

    def on_packet(self, packet: Any) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()


async def main(mode: str, n: int) -> None:
    sender_udp = UDPEndpoint(0, "127.0.0.1")
    receiver = UDPEndpoint(0, "127.0.0.1")
    await sender_udp.open()
    await receiver.open()
    target = receiver.get_address()
    sender: Any = sender_udp
    expected = n
    if mode != "plain":
        conditions = NetworkConditions()
        if mode == "loss":
            conditions.set_loss(0.05)
            conditions.set_latency(0.001)
        sender = ConditionedEndpoint(sender_udp, 1, 42, conditions, {(target[0], target[1]): 2})
    counter = Counter(receiver, expected)
    receiver.add_listener(counter)
    packet = b"p" * 64
    sending = 0.0
    for start in range(0, n, 100):
        t0 = time.perf_counter()
        for _ in range(min(100, n - start)):
            sender.send(target, packet)
        sending += time.perf_counter() - t0
        # the loop reads one datagram per turn: let the receiver catch up before the next batch
        behind = start + 100 - (sender.counts.total.dropped if mode != "plain" else 0)
        for _ in range(1000):
            if counter.count >= behind - (200 if mode == "loss" else 0):
                break
            await asyncio.sleep(0)
    if mode == "loss":
        counter.expected = n - sender.counts.total.dropped
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(counter.done.wait(), 30)
    print(f"{mode}: {counter.count} of {n} received; send loop {sending * 1e6 / n:.2f} µs per packet")
    sender_udp.close()
    receiver.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("plain", "conditioned", "loss"), default="conditioned")
    parser.add_argument("-n", type=int, default=200_000)
    args = parser.parse_args()
    asyncio.run(main(args.mode, args.n))
