"""The plan file: the format `gscen run` ships to peers, written and read here, with the standard
library only (json, mmap, struct), so a peer process loads no parser and builds no front-end objects.

Layout: `MAGIC`, a one-line JSON header (version, instances, source, count, modules, peer sets as
include/exclude ranges, callback names, source paths), padding to 8 bytes, then columns of `count`
entries: times (float64, NaN for `@!`), payload offsets (`count + 1` uint64), peer-set ids (uint32,
padded to 8 bytes), then each event's JSON payload `[callback, args, kwargs, path id, line, texts?]`.
Little-endian throughout.

`encode_plan_file(...)` -> the bytes (plan.py's `write_plan_file` gathers them from a `Plan` and writes
them atomically). `PlanFileReader(path)` maps a file and reads the header: modules, source paths, peer
sets, callback names. `timeline(peer)` selects that peer's events in execution order (immediate
first, then by time, ties in program order, as the plan stores them) and returns a `PeerTimeline`:
`time(k)` (seconds after the start, None for `@!`) and `event(k)`, decoded from its JSON payload only
when asked. plan.py's `read_plan_file` builds a whole `Plan` with it. A file that is not a plan file,
is damaged or has another version raises `PlanFileError`.
"""

from __future__ import annotations

import bisect
import json
import math
import mmap
import os
import struct
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any

__all__ = [
    "MAGIC",
    "PLAN_VERSION",
    "EventRecord",
    "ModuleSpec",
    "PeerTimeline",
    "PlanFileError",
    "PlanFileReader",
    "encode_plan_file",
]

MAGIC = b"GSCENPLAN\n"
PLAN_VERSION = 1


def encode_plan_file(
    header: Mapping[str, Any], times: Sequence[float], set_ids: Sequence[int], payloads: Sequence[bytes]
) -> bytes:
    """The plan file's bytes: `header` (its `count` is set here), then the columns and the payloads."""
    n = len(times)
    head = MAGIC + json.dumps({**header, "count": n}, separators=(",", ":")).encode() + b"\n"
    head += b" " * (-len(head) % 8)
    offsets = [0]
    for p in payloads:
        offsets.append(offsets[-1] + len(p))
    ids = struct.pack(f"<{n}I", *set_ids)
    return b"".join(
        (
            head,
            struct.pack(f"<{n}d", *times),
            struct.pack(f"<{n + 1}Q", *offsets),
            ids + b"\0" * (-len(ids) % 8),
            *payloads,
        )
    )


class PlanFileError(Exception):
    """The file is not a plan file this reader understands."""


@dataclass(frozen=True, slots=True)
class ModuleSpec:
    """A module class the peer instantiates: `dotted` as written, defined in `path` as `class_name`."""

    dotted: str
    path: str
    class_name: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One decoded event: `time` None is immediate; args/kwargs are the plan's (JSON) values."""

    time: float | None
    callback: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    path: str
    line: int
    texts: tuple[tuple[str, ...], dict[str, str]] | None = None  # the arguments as written, if converted


def _in_ranges(ranges: list[list[int]], peer: int) -> bool:
    return any(lo <= peer <= hi for lo, hi in ranges)


class PeerTimeline:
    """A peer's events in execution order: `time(k)` (None: immediate) and `event(k)` decoded on demand."""

    def __init__(self, plan: PlanFileReader, indices: array[int] | range) -> None:
        self._plan = plan
        self._indices = indices
        self._times = plan._times

    def __len__(self) -> int:
        return len(self._indices)

    def time(self, k: int) -> float | None:
        """The k-th event's time in seconds after the start; None for an immediate (`@!`) event."""
        t = self._times[self._indices[k]]
        return None if t != t else t

    def offset(self, k: int) -> float:
        """The k-th event's time in seconds after the start; immediate events count as 0."""
        t = self._times[self._indices[k]]
        return 0.0 if t != t else t

    def event(self, k: int) -> EventRecord:
        return self._plan.event(self._indices[k])

    def positions_of(self, callbacks: Iterable[str]) -> list[int]:
        """The positions k of this timeline's events that call one of `callbacks`, ascending.

        Found in the payloads' bytes, each of which begins `["<callback>",`, without decoding any:
        a plan of 100,000 events where only a few call them is searched in a few milliseconds. A
        match inside an argument (a list holding that string) is no payload's start and is passed by.
        """
        plan = self._plan
        base, offsets, data = plan._payload_start, plan._offsets, plan._map
        found: set[int] = set()
        for name in callbacks:
            prefix = b"[" + json.dumps(name).encode() + b","
            at = data.find(prefix, base)
            while at >= 0:
                i = bisect.bisect_left(offsets, at - base, 0, len(offsets) - 1)
                if i < len(offsets) - 1 and offsets[i] == at - base:
                    found.add(i)
                at = data.find(prefix, at + 1)
        indices = self._indices
        out = []
        for i in sorted(found):
            k = bisect.bisect_left(indices, i)
            if k < len(indices) and indices[k] == i:
                out.append(k)
        return out

    def callback_names(self) -> set[str]:
        """The distinct callback names of these events (decodes every event: for checks, not the hot path)."""
        return {self.event(k).callback for k in range(len(self))}


class PlanFileReader:
    """A plan file opened for reading: the header now, the events when asked (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            with open(self.path, "rb") as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise PlanFileError(f"cannot read the plan file {self.path}: {exc}") from None
        if self._map[: len(MAGIC)] != MAGIC:
            self._map.close()
            raise PlanFileError(f"{self.path} is not a gscen plan file")
        end = self._map.find(b"\n", len(MAGIC))
        try:
            header = json.loads(self._map[len(MAGIC) : end])
            version = self.version = int(header["version"])
            n = self.count = int(header["count"])
            self.instances = int(header["instances"])
            self.source = str(header["source"])
            self.paths: list[str] = list(header["paths"])
            self.modules = tuple(ModuleSpec(m["dotted"], m["path"], m["class"]) for m in header["modules"])
            self._peer_sets: list[list[list[list[int]]]] = header["peer_sets"]
            names = header.get("callbacks")
            self.callbacks: tuple[str, ...] | None = None if names is None else tuple(map(str, names))
        except (ValueError, KeyError, TypeError) as exc:
            self._map.close()
            raise PlanFileError(f"{self.path}: the plan header is damaged ({exc})") from None
        if version != PLAN_VERSION:
            self._map.close()
            raise PlanFileError(
                f"{self.path}: plan file version {version} is not supported (need {PLAN_VERSION})"
            )
        pos = end + 1
        pos += -pos % 8
        buf = self._view = memoryview(self._map)
        self._times = buf[pos : pos + 8 * n].cast("d")
        pos += 8 * n
        self._offsets = buf[pos : pos + 8 * (n + 1)].cast("Q")
        pos += 8 * (n + 1)
        self._set_ids = buf[pos : pos + 4 * n].cast("I")
        pos += 4 * n
        pos += -pos % 8
        self._payload_start = pos

    @property
    def peer_sets(self) -> list[tuple[list[tuple[int, int]], list[tuple[int, int]]]]:
        """Each peer set as (include ranges, exclude ranges), inclusive; an empty include holds nobody."""
        return [([(lo, hi) for lo, hi in inc], [(lo, hi) for lo, hi in exc]) for inc, exc in self._peer_sets]

    def set_id(self, i: int) -> int:
        """The peer set of event `i` (an index into `peer_sets`)."""
        return int(self._set_ids[i])

    def includes(self, set_id: int, peer: int) -> bool:
        """Whether peer set `set_id` holds `peer` (an empty include list holds nobody)."""
        include, exclude = self._peer_sets[set_id]
        return _in_ranges(include, peer) and not _in_ranges(exclude, peer)

    def timeline(self, peer: int) -> PeerTimeline:
        """This peer's events, in execution order."""
        wanted = [self.includes(i, peer) for i in range(len(self._peer_sets))]
        if all(wanted):
            return PeerTimeline(self, range(self.count))
        # One C-level pass: the set id of each event -> wanted?, then keep the positions that are.
        mask = map(wanted.__getitem__, self._set_ids)
        return PeerTimeline(self, array("I", compress(range(self.count), mask)))

    def event(self, i: int) -> EventRecord:
        base = self._payload_start
        raw = self._map[base + self._offsets[i] : base + self._offsets[i + 1]]
        callback, args, kwargs, path_id, line, *texts = json.loads(raw)
        t = self._times[i]
        written = (tuple(texts[0][0]), texts[0][1]) if texts else None
        return EventRecord(
            None if math.isnan(t) else t, callback, tuple(args), kwargs, self.paths[path_id], line, written
        )

    def close(self) -> None:
        for view in (self._times, self._offsets, self._set_ids, self._view):
            view.release()
        self._map.close()

    def __enter__(self) -> PlanFileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
