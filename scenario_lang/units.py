"""Quantities as scenario authors write them: text -> a number in base units, or ValueError.

- durations -> seconds: `100ms`, `1.5s`, `250us` (a unit is required: a bare `100` could mean any);
- ratios -> a fraction of 1: `5%` or `0.05`;
- rates -> bytes per second, with tc's units: `bit`, `kbit`, `mbit`, `gbit` in bits and `bps`,
  `kbps`, `mbps`, `gbps` in bytes per second (k = 1000, as tc's decimal units). Units are
  lower-case as in tc: `Mbps` is refused, since people write it for megabits and tc reads `mbps`
  as megabytes.

Signs are read (`-50ms` is -0.05 s): whether a value is in range is the checker's call, so it can
say what is wrong rather than that the text does not read. The error messages of `ValueError` are
the help the checker shows. Standard library only: the runtime reads the same text with it.
"""

from __future__ import annotations

import math
import re

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"({_NUMBER})\s*([A-Za-z%µ]*)")

DURATION_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
RATE_UNITS = {
    "bit": 1 / 8,
    "kbit": 1e3 / 8,
    "mbit": 1e6 / 8,
    "gbit": 1e9 / 8,
    "bps": 1.0,
    "kbps": 1e3,
    "mbps": 1e6,
    "gbps": 1e9,
}
DURATION_HELP = "write a duration with its unit: `100ms`, `1.5s`, `250us`"
RATIO_HELP = "write a percentage or a fraction: `5%` or `0.05`"
RATE_HELP = (
    "write a rate with tc's units: `kbit`, `mbit`, `gbit` (bits/s) or `kbps`, `mbps`, `gbps` (bytes/s)"
)


def _split(text: str, what: str, help_text: str) -> tuple[float, str]:
    m = _QUANTITY.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"`{text}` is not {what}: {help_text}")
    value = float(m[1])
    if not math.isfinite(value):
        raise ValueError(f"`{text}` is not a finite number")
    return value, m[2]


def parse_duration(text: str) -> float:
    """`100ms` -> 0.1 (seconds)."""
    value, unit = _split(text, "a duration", DURATION_HELP)
    if not unit:
        raise ValueError(f"`{text}` has no unit: {DURATION_HELP}")
    factor = DURATION_UNITS.get(unit)
    if factor is None:
        raise ValueError(f"`{unit}` is not a unit of time: {DURATION_HELP}")
    return value * factor


def parse_ratio(text: str) -> float:
    """`5%` -> 0.05; `0.05` -> 0.05."""
    value, unit = _split(text, "a percentage or a fraction", RATIO_HELP)
    if unit == "%":
        return value / 100
    if unit:
        raise ValueError(f"`{unit}` is not `%`: {RATIO_HELP}")
    return value


def parse_rate(text: str) -> float:
    """`1mbit` -> 125000.0 (bytes per second)."""
    value, unit = _split(text, "a rate", RATE_HELP)
    if not unit:
        raise ValueError(f"`{text}` has no unit: {RATE_HELP}")
    factor = RATE_UNITS.get(unit)
    if factor is None:
        lowered = unit.lower()
        if lowered in RATE_UNITS:
            prefix = lowered[:-3]
            raise ValueError(
                f"`{unit}`: tc's units are lower-case: `{prefix}bit` is bits "
                f"and `{prefix}bps` bytes per second"
            )
        raise ValueError(f"`{unit}` is not a unit of rate: {RATE_HELP}")
    return value * factor


def parse_peer_groups(text: str) -> tuple[tuple[int, int], ...]:
    """`1-5,7` -> ((1, 5), (7, 7)): a peer list as a partition group, without braces. Ranges as
    written (a reversed one is kept, for the checker to point at)."""
    items = text.split(",")
    out: list[tuple[int, int]] = []
    for item in items:
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if m is None:
            raise ValueError(f"`{text}` is not a peer list: write peers as `1-5` or `1,3,6-9` (no braces)")
        lo = int(m[1])
        out.append((lo, int(m[2]) if m[2] else lo))
    return tuple(out)
