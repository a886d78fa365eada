"""Peer sets: which peers an event is for, held as merged inclusive ranges.

`PeerSet.everyone()` is every peer whatever their number; otherwise `include` lists ranges, and
`exclude` removes ranges (for `{!2}`). Sets are immutable, hashable and compact: an event for all 4,000
peers is one object, never 4,000 numbers. `parse_peer_selection` reads the command-line form
(`17`, `1-4,7`, `all`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator

from .nodes import frozen

Ranges = tuple[tuple[int, int], ...]


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sorted, non-overlapping, non-adjacent inclusive ranges (empty ranges dropped)."""
    out: list[list[int]] = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def _in(ranges: Ranges, n: int) -> bool:
    i = bisect.bisect_right(ranges, (n, float("inf"))) - 1
    return i >= 0 and ranges[i][0] <= n <= ranges[i][1]


@frozen
class PeerSet:
    """`include` None means every peer; `exclude` is removed from it."""

    include: Ranges | None
    exclude: Ranges

    @staticmethod
    def everyone() -> PeerSet:
        return _EVERYONE

    @staticmethod
    def of(ranges: Iterable[tuple[int, int]], negated: bool = False) -> PeerSet:
        merged = merge_ranges(ranges)
        if negated:
            return PeerSet(None, merged)
        return PeerSet(merged, ())

    @property
    def is_everyone(self) -> bool:
        return self.include is None and not self.exclude

    def __contains__(self, peer: object) -> bool:
        if not isinstance(peer, int):
            return False
        if self.include is not None and not _in(self.include, peer):
            return False
        return not (self.exclude and _in(self.exclude, peer))

    def concrete(self, instances: int) -> Ranges:
        """The ranges of selected peers within 1..instances."""
        base: Ranges = self.include if self.include is not None else ((1, instances),)
        clipped = [(max(lo, 1), min(hi, instances)) for lo, hi in base]
        if not self.exclude:
            return merge_ranges(clipped)
        out: list[tuple[int, int]] = []
        for lo, hi in merge_ranges(clipped):
            start = lo
            for elo, ehi in self.exclude:
                if ehi < start or elo > hi:
                    continue
                if elo > start:
                    out.append((start, elo - 1))
                start = max(start, ehi + 1)
            if start <= hi:
                out.append((start, hi))
        return tuple(out)

    def count(self, instances: int) -> int:
        return sum(hi - lo + 1 for lo, hi in self.concrete(instances))

    def peers(self, instances: int) -> Iterator[int]:
        for lo, hi in self.concrete(instances):
            yield from range(lo, hi + 1)

    def intersects(self, other: PeerSet, instances: int | None) -> bool:
        if instances is not None:
            a, b = self.concrete(instances), other.concrete(instances)
            return any(lo <= bhi and blo <= hi for lo, hi in a for blo, bhi in b)
        if self.include is None or other.include is None:
            return True
        return any(lo <= bhi and blo <= hi for lo, hi in self.include for blo, bhi in other.include)

    def describe(self, instances: int | None = None) -> str:
        """`1-3,5`; `all`; `all except 2` when the peer count is unknown."""
        if instances is not None:
            return format_ranges(self.concrete(instances)) or "none"
        if self.include is None:
            return "all" if not self.exclude else "all except " + format_ranges(self.exclude)
        return format_ranges(self.include)


_EVERYONE = PeerSet(None, ())


def format_ranges(ranges: Ranges) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


_SELECTION = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")


def parse_peer_selection(text: str) -> PeerSet:
    """Read `17`, `1-4,7`, `{1-4,!7}`-free forms from the command line, or `all`.

    Raises ValueError with a readable message on anything else (the CLI turns it into a usage error).
    """
    body = text.strip().removeprefix("{").removesuffix("}").strip()
    if body.lower() in ("all", "*", ""):
        return PeerSet.everyone()
    negated = body.startswith("!")
    if negated:
        body = body[1:]
    ranges: list[tuple[int, int]] = []
    for item in body.split(","):
        m = _SELECTION.fullmatch(item)
        if m is None:
            raise ValueError(f"`{item.strip()}` is not a peer number or range (write 17, 1-4,7 or all)")
        lo = int(m[1])
        hi = int(m[2]) if m[2] else lo
        if hi < lo:
            raise ValueError(f"`{item.strip()}` is a reversed range")
        ranges.append((lo, hi))
    return PeerSet.of(ranges, negated)
