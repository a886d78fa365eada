"""Reading the peers' files after a run: Gumby's `StatisticsParser` and the IPv8 message statistics.

`StatisticsParser(node_dir).yield_files(pattern)` yields `(peer id, file, peer folder)` for every
non-empty file whose name matches the fnmatch pattern below a peer folder: `node_dir/<id>/` (gscen's
and Gumby's local layout) and `node_dir/<host>/<node>/<id>/` (Gumby's DAS layout). Subclasses
override `run()`.

`read_ipv8_statistics(peer_dir)` reads `ipv8_statistics.txt` (one JSON line per sample, written by
`BaseIPv8Module`) into `MessageSample`s: per overlay (its class name when the line names it, else its
hex prefix) and message id, the cumulative messages and bytes sent and received at that time. A line
that is not JSON (a peer killed mid-write) is skipped. `message_totals(samples)` keeps the last sample
of each (overlay, message). For a whole run (`output_dir/<id>/`): `run_message_totals` sums the
peers' last samples per (overlay, message) into `MessageTotal`s (summary.json, the summary table) and
`run_message_series` the peers' cumulative counts over time (the plot `ipv8_messages.png`).
Standard library only.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .statistics import iter_peer_dirs

STATISTICS_FILE = "ipv8_statistics.txt"


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

    def yield_files(self, file_pattern: str) -> Iterator[tuple[int, str, str]]:
        for peer in iter_peer_dirs(self.node_directory):
            for path in self._matching(str(peer.path), file_pattern):
                if os.stat(path).st_size > 0:
                    yield peer.peer_id, path, str(peer.path)

    def run(self) -> None:
        """Subclasses do their work here."""


@dataclass(frozen=True, slots=True)
class MessageSample:
    """Cumulative counts of one message type of one overlay at `time` seconds after the start."""

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


# pyipv8's own message ids (peer discovery), named in tables and plots
MESSAGE_NAMES = {
    246: "introduction-request",
    245: "introduction-response",
    250: "puncture-request",
    249: "puncture",
    234: "introduction-request (v2)",
    233: "introduction-response (v2)",
    232: "puncture-request (v2)",
    231: "puncture (v2)",
}


def message_label(message: int) -> str:
    return MESSAGE_NAMES.get(message, f"message {message}")


@dataclass(frozen=True, slots=True)
class MessageTotal:
    """One message type of one overlay over the whole run: counts summed over `peers` peers."""

    overlay: str
    message: int
    name: str
    peers: int
    sent: int
    received: int
    bytes_sent: int
    bytes_received: int


def run_message_totals(output_dir: Path) -> list[MessageTotal]:
    """Every peer's final counts per (overlay, message), summed; sorted by overlay then message id."""
    sums: dict[tuple[str, int], list[int]] = {}
    for peer in iter_peer_dirs(output_dir):
        for key, last in message_totals(read_ipv8_statistics(peer.path)).items():
            row = sums.setdefault(key, [0, 0, 0, 0, 0])
            row[0] += 1
            row[1] += last.sent
            row[2] += last.received
            row[3] += last.bytes_sent
            row[4] += last.bytes_received
    return [
        MessageTotal(overlay, message, message_label(message), *row)
        for (overlay, message), row in sorted(sums.items())
    ]


def run_message_series(output_dir: Path) -> dict[tuple[str, int], list[tuple[float, int, int]]]:
    """Per (overlay, message): (whole second, messages sent, received) summed over the peers, each
    peer's latest cumulative count carried forward to the seconds after it."""
    per_peer: list[dict[tuple[str, int], dict[int, tuple[int, int]]]] = []
    seconds: set[int] = set()
    for peer in iter_peer_dirs(output_dir):
        series: dict[tuple[str, int], dict[int, tuple[int, int]]] = {}
        for sample in read_ipv8_statistics(peer.path):
            second = int(sample.time + 0.5)
            seconds.add(second)
            series.setdefault((sample.overlay, sample.message), {})[second] = (sample.sent, sample.received)
        if series:
            per_peer.append(series)
    result: dict[tuple[str, int], list[tuple[float, int, int]]] = {}
    ordered = sorted(seconds)
    for key in sorted({k for series in per_peer for k in series}):
        rows: list[tuple[float, int, int]] = []
        carried = [(0, 0)] * len(per_peer)
        for second in ordered:
            for i, series in enumerate(per_peer):
                value = series.get(key, {}).get(second)
                if value is not None:
                    carried[i] = value
            rows.append((float(second), sum(c[0] for c in carried), sum(c[1] for c in carried)))
        result[key] = rows
    return result
