"""Reading the peers' files after a run: Gumby's `StatisticsParser` and the IPv8 message statistics.

`StatisticsParser(node_dir).yield_files(pattern)` yields `(peer id, file, peer folder)` for every
non-empty file whose name matches the fnmatch pattern below a peer folder: `node_dir/<id>/` (gscen's
and Gumby's local layout) and `node_dir/<host>/<node>/<id>/` (Gumby's DAS layout). Subclasses
override `run()`.

`read_ipv8_statistics(peer_dir)` reads `ipv8_statistics.txt` (one JSON line per sample, written by
`BaseIPv8Module`) into `MessageSample`s: per overlay (its class name when the line names it, else its
hex prefix) and message id, the cumulative messages and bytes sent and received at that time. A line
that is not JSON (a peer killed mid-write) is skipped. `message_totals(samples)` keeps the last sample
of each (overlay, message). Standard library only.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STATISTICS_FILE = "ipv8_statistics.txt"
_PEER = re.compile(r"[0-9]+")


class StatisticsParser:
    """Finds the peers' files of a run (see the module docstring)."""

    def __init__(self, node_directory: str | os.PathLike[str]) -> None:
        self.node_directory = os.fspath(node_directory)

    @staticmethod
    def _matching(folder: str, pattern: str) -> Iterator[str]:
        for root, _, files in os.walk(folder):
            for name in sorted(files):
                if fnmatch.fnmatch(name, pattern):
                    yield os.path.join(root, name)

    def _peer_dirs(self) -> Iterator[tuple[int, str]]:
        top = self.node_directory
        for head in sorted(os.listdir(top)):
            head_dir = os.path.join(top, head)
            if not os.path.isdir(head_dir) or _PEER.fullmatch(head):
                continue
            for node in sorted(os.listdir(head_dir)):
                node_dir = os.path.join(head_dir, node)
                if os.path.isdir(node_dir):
                    for peer in sorted(os.listdir(node_dir)):
                        peer_dir = os.path.join(node_dir, peer)
                        if _PEER.fullmatch(peer) and os.path.isdir(peer_dir):
                            yield int(peer), peer_dir
        for peer in sorted(os.listdir(top), key=lambda n: (len(n), n)):
            peer_dir = os.path.join(top, peer)
            if _PEER.fullmatch(peer) and os.path.isdir(peer_dir):
                yield int(peer), peer_dir

    def yield_files(self, file_pattern: str) -> Iterator[tuple[int, str, str]]:
        for peer, peer_dir in self._peer_dirs():
            for path in self._matching(peer_dir, file_pattern):
                if os.stat(path).st_size > 0:
                    yield peer, path, peer_dir

    def run(self) -> None:
        """Subclasses do their work here."""


@dataclass(frozen=True, slots=True)
class MessageSample:
    """Cumulative counts of one message type of one overlay at `time` seconds after the session start."""

    time: float
    overlay: str
    message: int
    sent: int
    received: int
    bytes_sent: int
    bytes_received: int


def read_ipv8_statistics(peer_dir: Path) -> list[MessageSample]:
    path = peer_dir / STATISTICS_FILE
    samples: list[MessageSample] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return samples
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            when = float(entry["time"])
            names = entry.get("names") or {}
            for prefix, by_message in entry["stats"].items():
                overlay = str(names.get(prefix, prefix))
                for message, stat in by_message.items():
                    samples.append(
                        MessageSample(
                            when,
                            overlay,
                            int(message),
                            int(stat.get("num_up", 0)),
                            int(stat.get("num_down", 0)),
                            int(stat.get("bytes_up", 0)),
                            int(stat.get("bytes_down", 0)),
                        )
                    )
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return samples


def message_totals(samples: list[MessageSample]) -> dict[tuple[str, int], MessageSample]:
    """The last sample of each (overlay, message id)."""
    last: dict[tuple[str, int], MessageSample] = {}
    for sample in samples:
        key = (sample.overlay, sample.message)
        if key not in last or last[key].time <= sample.time:
            last[key] = sample
    return last
