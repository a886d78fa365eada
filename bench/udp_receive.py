"""Cost of receiving a datagram on the peer's IPv8 UDP endpoint (runtime/ipv8/endpoint.py).

One process: a plain UDP socket sends N datagrams of 200 bytes to an `EarlyUDPEndpoint` on 127.0.0.1
in batches of 100, the loop turning until the endpoint's listener has them all (the kernel drops
nothing). `--buffer B` reads each datagram into B bytes instead of the endpoint's own buffer
(asyncio's default is 262144). Compare whole processes, A/B in turn:

    python bench/udp_receive.py -n 200000
    python bench/udp_receive.py -n 200000 --buffer 262144

(CPU seconds of the two, difference / N = what the buffer size costs per datagram.)
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from typing import Any

from ipv8.messaging.interfaces.endpoint import EndpointListener
from scenario_lang.runtime.ipv8.endpoint import EarlyUDPEndpoint


class Counter(EndpointListener):  # type: ignore[misc,unused-ignore]
    def __init__(self, endpoint: Any) -> None:
        super().__init__(endpoint)
        self.count = 0

    def on_packet(self, packet: Any) -> None:
        self.count += 1


async def main(n: int, buffer: int | None) -> None:
    endpoint = EarlyUDPEndpoint("127.0.0.1", 0)
    await endpoint.open()
    if buffer is not None:
        endpoint._transport.max_size = buffer
    counter = Counter(endpoint)
    endpoint.add_listener(counter)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", endpoint.bound_port)
    packet = b"p" * 200
    began = time.process_time()
    for start in range(0, n, 100):
        for _ in range(min(100, n - start)):
            sender.sendto(packet, target)
        while counter.count < min(start + 100, n):
            await asyncio.sleep(0)
    spent = time.process_time() - began
    per = spent * 1e6 / n
    print(f"{counter.count} of {n} received; {per:.2f} µs of CPU per datagram (sent and received)")
    sender.close()
    endpoint.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=200_000)
    parser.add_argument("--buffer", type=int, help="bytes read per datagram (default: the endpoint's)")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.buffer))
