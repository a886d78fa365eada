"""The run's seed -> every random choice gscen makes, reproducibly.

Takes the seed (the `.conf`'s `seed`, `gscen run --seed`, or one `pick_seed` chose and the run
records) and labels saying what the number is for; returns numbers that depend on nothing else:
not on timing, process ids or the order in which peers ask. `derive` hashes the seed with the labels
(BLAKE2b, 64 bits), so two purposes never share a stream, and `seeded_random` makes a
`random.Random` from that. The peers get the seed in their environment (`SEED_VARIABLE`).
Standard library only.
"""

from __future__ import annotations

import hashlib
import random
import secrets

SEED_VARIABLE = "GSCEN_SEED"
SEED_BITS = 63  # fits a signed 64-bit integer, so JSON readers and other languages keep it exact


def pick_seed() -> int:
    """A fresh seed for a run that was given none (recorded, so it can be repeated)."""
    return secrets.randbits(SEED_BITS)


def derive(seed: int, *labels: int | str) -> int:
    """A 64-bit number for (seed, labels): the same arguments give the same number everywhere."""
    h = hashlib.blake2b(str(seed).encode(), digest_size=8)
    for label in labels:
        # the type is part of the input: peer 1 and the label "1" are different purposes
        h.update(f"\x1f{type(label).__name__}:{label}".encode())
    return int.from_bytes(h.digest(), "little")


def derive_bytes(seed: int, *labels: int | str, size: int = 64) -> bytes:
    """`size` bytes (at most 64) for (seed, labels), e.g. a key pair's secret."""
    h = hashlib.blake2b(str(seed).encode(), digest_size=size)
    for label in labels:
        h.update(f"\x1f{type(label).__name__}:{label}".encode())
    return h.digest()


def seeded_random(seed: int, *labels: int | str) -> random.Random:
    """A `random.Random` of its own for (seed, labels)."""
    return random.Random(derive(seed, *labels))
