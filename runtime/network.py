"""One peer's network conditions and packet counts, and the draws they use (no pyipv8 import).

`NetworkConditions` is what the built-in callbacks `latency`, `loss`, `bandwidth`, `partition`, `heal`
and `reset_network` change in a peer; `netem.ConditionedEndpoint` reads it for every packet the peer
sends. `EndpointCounts` are that endpoint's counts, written to the peer's `network.json`.
`packet_draws` gives a packet's loss and jitter draws from (seed, sender, receiver, count) only.
Kept apart from netem.py so a peer without IPv8 never imports pyipv8.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Address = tuple[str, int]
Ranges = tuple[tuple[int, int], ...]

_TWO_32 = float(1 << 32)


@dataclass
class NetworkConditions:
    """One peer's sending conditions. `idle` is True when none is set (the endpoint's fast path)."""

    latency: float = 0.0  # seconds
    jitter: float = 0.0  # seconds, a uniform draw in [-jitter, +jitter] per packet
    loss: float = 0.0  # share of packets dropped, 0..1
    rate: float | None = None  # bytes per second; None: unlimited
    partition: tuple[Ranges, ...] | None = None  # the groups; peers in none form one more
    idle: bool = True

    def set_latency(self, delay: float, jitter: float = 0.0) -> None:
        if delay < 0 or jitter < 0:
            raise ValueError(f"latency {delay} s and jitter {jitter} s must be 0 or more")
        self.latency, self.jitter = delay, jitter
        self._update()

    def set_loss(self, share: float) -> None:
        if not 0 <= share <= 1:
            raise ValueError(f"loss {share} is not a share from 0 to 1")
        self.loss = share
        self._update()

    def set_bandwidth(self, bytes_per_second: float | None) -> None:
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError(f"bandwidth {bytes_per_second} bytes/s is not above zero")
        self.rate = bytes_per_second
        self._update()

    def set_partition(self, groups: Sequence[Ranges] | None) -> None:
        self.partition = tuple(groups) if groups else None
        self._update()

    def reset(self) -> None:
        """No latency, loss or bandwidth limit (a partition lasts until it is healed)."""
        self.latency = self.jitter = self.loss = 0.0
        self.rate = None
        self._update()

    def _update(self) -> None:
        self.idle = not (self.latency or self.jitter or self.loss or self.rate or self.partition)


@dataclass
class LinkCounts:
    """Packets one peer sent, in total or to one receiver."""

    sent: int = 0  # every send asked for, dropped or not
    delayed: int = 0
    dropped_loss: int = 0
    dropped_partition: int = 0
    dropped_queue: int = 0

    @property
    def dropped(self) -> int:
        return self.dropped_loss + self.dropped_partition + self.dropped_queue


@dataclass
class EndpointCounts:
    """The totals, and per receiver (a peer id, or the address for others)."""

    total: LinkCounts = field(default_factory=LinkCounts)
    links: dict[int | Address, LinkCounts] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def one(c: LinkCounts) -> dict[str, int]:
            return {
                "sent": c.sent,
                "delayed": c.delayed,
                "dropped": c.dropped,
                "dropped_loss": c.dropped_loss,
                "dropped_partition": c.dropped_partition,
                "dropped_queue": c.dropped_queue,
            }

        return {
            **one(self.total),
            "links": {
                str(k if isinstance(k, int) else f"{k[0]}:{k[1]}"): one(v) for k, v in self.links.items()
            },
        }


def packet_draws(seed: int, sender: int, receiver: int | Address, count: int) -> tuple[float, float]:
    """Two uniform numbers in [0, 1) for the `count`-th packet from `sender` to `receiver`: the loss
    draw and the jitter draw."""
    key = receiver if isinstance(receiver, int) else f"{receiver[0]}:{receiver[1]}"
    digest = hashlib.blake2b(
        f"{seed}\x1fnet\x1f{sender}\x1f{key}\x1f{count}".encode(), digest_size=8
    ).digest()
    low, high = struct.unpack("<II", digest)
    return low / _TWO_32, high / _TWO_32
