"""A run's outcome: the output folder and the pipeline's results -> `summary.json` and a rich table.

Takes what the run pipeline knows at the end (results.py: the steps and their outcomes, the guard's
per-process reports, which guarded process was which peer, the start instant) and what the peers wrote
into their folders (`OUTPUT_DIR/<id>/`: the events they fired with planned and actual times, failures with
`scenario:line`); returns a `RunSummary`, written as `summary.json` and rendered as a table per peer
(exit status, events fired/failed, lateness p50/p99/max, peak memory), then, for IPv8 runs, the
messages and bytes per overlay and message type summed over the peers (`ipv8_statistics`), then the
errors.

Reading a peer's folder is tolerant: a peer that died early has no files, and the summary says so
instead of failing. Also merges the peers' `annotations.csv` into one file with a `peer` column.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .held_events import HELD_STATUS
from .ipv8_statistics import MessageTotal
from .output_files import write_atomically
from .statistics import iter_peer_dirs

__all__ = [
    "EVENTS_FILE_NAMES",
    "PeerEvent",
    "PeerSummary",
    "ProcessSummary",
    "RunError",
    "RunSummary",
    "StepSummary",
    "lateness_stats",
    "merge_annotations",
    "read_peer_events",
    "summary_table",
    "write_summary",
]

logger = logging.getLogger(__name__)

SUMMARY_VERSION = 1
EVENTS_FILE_NAMES = ("events.csv", "events.jsonl")
"""The per-peer events log, in the forms this module reads (the first one found wins)."""
RESULT_FILE_NAME = "result.json"
MERGED_ANNOTATIONS = "annotations.csv"


@dataclass(frozen=True, slots=True)
class PeerEvent:
    """One event of one peer: planned/actual seconds since the start (`actual` None: it never ran)."""

    planned: float | None
    actual: float | None
    callback: str
    failed: bool = False
    path: str | None = None
    line: int | None = None
    error: str | None = None
    held: bool = False  # status `held`: a scenario pause held it, so it ran late on purpose


@dataclass(frozen=True, slots=True)
class RunError:
    """An error worth showing after the table: where (`path:line` of the scenario, if known), what."""

    message: str
    peer: int | None = None
    path: str | None = None
    line: int | None = None
    callback: str | None = None

    @property
    def where(self) -> str:
        if self.path and self.line:
            return f"{self.path}:{self.line}"
        return self.path or ""


@dataclass(frozen=True, slots=True)
class PeerSummary:
    """One peer: its process's exit status, its events, its lateness (ms) and peak memory (MiB).

    `peak_rss_mib`: the peak resident set of the peer's own address space (its result.json, else the
    guard's samples); pages it shares with the fork server it was forked from count in full.
    `peak_pss_mib`: the largest proportional set the guard read (shared pages divided among the
    processes sharing them; summed over peers it is the memory they took), else the peer's own at
    its end; None where it could not be read. procfs.py says how each is measured.
    """

    peer: int
    exit_code: int | None
    stopped_by_guard: bool
    events_planned: int | None
    events_fired: int
    events_failed: int
    lateness_ms: Mapping[str, float | None]
    peak_rss_mib: float | None
    cpu_seconds: float | None
    stdout: str | None = None
    stderr: str | None = None
    faults: tuple[str, ...] = ()  # the process faults it went through (`crash`, `restart`, ...)
    events_prevented: int = 0  # planned events a crash held off (not counted as planned)
    packets_delayed: int | None = None  # by its network conditions (None: no IPv8 endpoint)
    packets_dropped: int | None = None
    peak_pss_mib: float | None = None
    events_owed: int | None = None  # events planned before its end (run_end.py)
    events_unfired: int = 0  # of those, how many did not run
    unfired: tuple[str, ...] = ()  # the first ones, as `file:line `callback` @t s`
    ended_late: bool = False  # it did not exit within STOP_GRACE of its `stop`
    # fired events planned while a scenario pause held it (late on purpose, not in `lateness_ms`)
    events_held: int = 0

    @property
    def failed_end(self) -> bool:
        return self.events_unfired > 0 or self.ended_late


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """What became of one fault on one peer (`summary.json`'s `faults`)."""

    peer: int
    action: str
    planned: float  # seconds after the start
    actual: float | None  # when the guard acted; None when it could not
    source: str
    outcome: str  # "done", or why not


@dataclass(frozen=True, slots=True)
class ProcessSummary:
    """A guarded command that is not a gscen peer (e.g. Gumby's first tutorial's busy loops).

    `peak_rss_mib` / `peak_pss_mib`: the largest sums of RSS / PSS over its live processes at one
    reading by the guard (see `PeerSummary`).
    """

    index: int
    command: str
    exit_code: int | None
    stopped_by_guard: bool
    peak_rss_mib: float
    cpu_seconds: float
    stdout: str | None = None
    stderr: str | None = None
    peak_pss_mib: float | None = None


@dataclass(frozen=True, slots=True)
class StepSummary:
    """One step of the pipeline: `status` is ok, failed, skipped, interrupted or not-run."""

    name: str
    command: str
    status: str
    exit_code: int | None = None
    seconds: float | None = None
    log: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Everything `summary.json` holds."""

    experiment: str | None
    conf: str
    scenario: str | None
    output_dir: str
    status: str
    exit_code: int
    message: str | None
    started_at: float
    ended_at: float
    start_instant: float | None
    instances: int | None
    steps: tuple[StepSummary, ...] = ()
    peers: tuple[PeerSummary, ...] = ()
    processes: tuple[ProcessSummary, ...] = ()
    errors: tuple[RunError, ...] = ()
    plots: tuple[str, ...] = ()
    ipv8_messages: tuple[MessageTotal, ...] = ()  # per overlay and message type, summed over the peers
    runner_cpu_seconds: float | None = None  # the `gscen run` process itself (sync server, guard, results)
    faults: tuple[FaultRecord, ...] = ()  # the process faults the scenario asked for, as carried out
    seed: int | None = None  # the run's seed: `gscen run --seed` repeats the run's random choices
    version: int = field(default=SUMMARY_VERSION)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------- reading
def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _source(text: Any) -> tuple[str | None, int | None]:
    """`scenario:line` -> (path, line); anything else -> (text or None, None)."""
    if not text:
        return None, None
    path, sep, line = str(text).rpartition(":")
    if sep and line.isdigit():
        return path, int(line)
    return str(text), None


def _event_from_mapping(row: Mapping[str, Any]) -> PeerEvent | None:
    callback = row.get("callback") or row.get("name")
    if not callback:
        return None
    path, line = _source(row.get("source"))
    if path is None and row.get("path"):
        path = str(row["path"])
        raw_line = row.get("line")
        line = int(raw_line) if isinstance(raw_line, int | str) and str(raw_line).isdigit() else None
    error = row.get("error") or None
    status = str(row.get("status") or "")
    return PeerEvent(
        planned=_float(row.get("planned")),
        actual=_float(row.get("actual")),
        callback=str(callback),
        failed=status == "failed" or _bool(row.get("failed", False)),
        path=path,
        line=line,
        error=str(error) if error else None,
        held=status == HELD_STATUS,
    )


def read_peer_events(peer_dir: Path) -> list[PeerEvent] | None:
    """The scenario events a peer logged (one row per callback call), or None without an events log.

    Reads the peer's `events.csv` (header `planned,actual,lateness,duration,callback,target,source,
    status,error`; see `scheduler.EventLog`): times in seconds after the start, `source` is
    `scenario:line`, `status` ok/failed/cancelled/held. Rows without a source (lifecycle hooks, messages)
    are not scenario events and are left out. `events.jsonl` with the same fields is read too.
    """
    for name in EVENTS_FILE_NAMES:
        path = peer_dir / name
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        rows: list[Mapping[str, Any]] = []
        if name.endswith(".jsonl"):
            for raw in text.splitlines():
                try:
                    row = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
        else:
            rows.extend(csv.DictReader(text.splitlines()))
        events = []
        for row in rows:
            if not (row.get("source") or row.get("path")):
                continue
            event = _event_from_mapping(row)
            if event is not None:
                events.append(event)
        return events
    return None


def read_peer_result(peer_dir: Path) -> dict[str, Any]:
    """The peer's `result.json` as a dict (empty when missing or unreadable)."""
    try:
        data = json.loads((peer_dir / RESULT_FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lateness_stats(lateness_ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 and max of lateness values in ms (None when there are none); nearest-rank percentiles."""
    if not lateness_ms:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(lateness_ms)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {"p50": rank(50), "p99": rank(99), "max": ordered[-1]}


def peer_errors(peer: int, events: Iterable[PeerEvent], result: Mapping[str, Any]) -> list[RunError]:
    """What went wrong in a peer: its fatal error, then its failed calls with `scenario:line`.

    The failures come from `result.json`'s `errors` (`{source, callback, target, error}`) when the peer
    wrote them, else from the failed rows of its events log.
    """
    out: list[RunError] = []
    fatal = result.get("error")
    if fatal:
        out.append(RunError(str(fatal), peer))
    listed = result.get("errors")
    if isinstance(listed, list) and listed:
        for item in listed:
            if isinstance(item, Mapping):
                path, line = _source(item.get("source"))
                callback = item.get("callback")
                out.append(RunError(str(item.get("error") or "failed"), peer, path, line,
                                    str(callback) if callback else None))  # fmt: skip
            elif isinstance(item, str):
                out.append(RunError(item, peer))
    else:
        for event in events:
            if event.failed:
                message = event.error or f"`{event.callback}` failed"
                out.append(RunError(message, peer, event.path, event.line, event.callback))
    unique: list[RunError] = []
    for error in out:
        if error not in unique:
            unique.append(error)
    return unique


def merge_annotations(output_dir: Path) -> Path | None:
    """Merge every peer's `annotations.csv` into `OUTPUT_DIR/annotations.csv` (`peer,time,message`).

    A peer's file has `<seconds>,<message>` lines; other lines are skipped. Returns the merged file, or
    None when no peer annotated anything (then no file is written). Written atomically: raises OSError
    when it cannot be written, and then leaves no partial file.
    """
    rows: list[tuple[int, float, str]] = []
    for peer in iter_peer_dirs(output_dir):
        path = peer.path / MERGED_ANNOTATIONS
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            seconds, sep, message = line.partition(",")
            value = _float(seconds.strip())
            if sep and value is not None:
                rows.append((peer.peer_id, value, message))
    if not rows:
        return None
    rows.sort(key=lambda r: (r[1], r[0]))
    target = output_dir / MERGED_ANNOTATIONS
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["peer", "time", "message"])
    for peer_id, when, message in rows:
        writer.writerow([peer_id, f"{when:.6f}".rstrip("0").rstrip("."), message])
    write_atomically(target, text.getvalue())
    return target


def write_summary(summary: RunSummary, path: Path) -> Path:
    """Write `summary.json` (atomically: raises OSError when it cannot, and leaves no partial file)."""
    write_atomically(path, json.dumps(summary.to_json(), indent=2) + "\n")
    return path


# --------------------------------------------------------------------------------------------- rendering
def _bad_exit(p: PeerSummary) -> bool:
    """Exited non-zero on its own: not stopped by the guard, not a crash the scenario asked for."""
    return p.exit_code not in (0, None) and not p.stopped_by_guard and "crash" not in p.faults


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _mib(value: float | None) -> str:
    return "-" if not value else f"{value:.1f}"


def summary_table(summary: RunSummary, max_rows: int = 60) -> Any:
    """The end-of-run report as rich renderables: a table per peer (or per process), then the errors.

    Above `max_rows` peers, the table shows the peers that failed or were slowest first, then a line
    saying how many were left out. Every user string is rich `Text`, never markup.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    if summary.peers:
        table = Table(title=Text(f"peers of {summary.experiment or 'the experiment'}"), title_justify="left")
        network = any(p.packets_delayed is not None for p in summary.peers)
        columns = ("peer", "exit", "fired", "failed", "late p50 ms", "p99 ms", "max ms", "peak RSS MiB")
        for name in (*columns, "peak PSS MiB", *(("delayed", "dropped") if network else ())):
            table.add_column(name, justify="right")
        peers = list(summary.peers)
        hidden = 0
        if len(peers) > max_rows:
            peers.sort(
                key=lambda p: (
                    not (p.events_failed or p.failed_end or _bad_exit(p)),
                    -(p.lateness_ms.get("max") or 0.0),
                )
            )
            hidden = len(peers) - max_rows
            peers = sorted(peers[:max_rows], key=lambda p: p.peer)
        for p in peers:
            bad_exit = _bad_exit(p) or p.failed_end
            status = "?" if p.exit_code is None else str(p.exit_code)
            if p.faults:
                status += f" ({', '.join(p.faults)})"
            elif p.stopped_by_guard:
                status += " (stopped)"
            fired = str(p.events_fired)
            if p.events_planned is not None:
                fired += f"/{p.events_planned}"
            if p.events_unfired:
                fired += f" ({p.events_unfired} missed)"
            if p.events_held:
                fired += f" ({p.events_held} held)"
            table.add_row(
                str(p.peer),
                Text(status, style="red" if bad_exit else ""),
                fired,
                Text(str(p.events_failed), style="red" if p.events_failed else ""),
                _ms(p.lateness_ms.get("p50")),
                _ms(p.lateness_ms.get("p99")),
                _ms(p.lateness_ms.get("max")),
                _mib(p.peak_rss_mib),
                _mib(p.peak_pss_mib),
                *([_count(p.packets_delayed), _count(p.packets_dropped)] if network else []),
            )
        parts.append(table)
        if hidden:
            parts.append(Text(f"... and {hidden} more peers (all in summary.json)", style="dim"))
    if summary.faults:
        table = Table(title=Text("process faults the scenario asked for"), title_justify="left")
        for name, justify in (
            ("planned s", "right"),
            ("at s", "right"),
            ("peer", "right"),
            ("fault", "left"),
            ("outcome", "left"),
            ("source", "left"),
        ):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for f in summary.faults[:max_rows]:
            table.add_row(
                f"{f.planned:.3f}",
                "-" if f.actual is None else f"{f.actual:.3f}",
                str(f.peer),
                Text(f.action),
                Text(f.outcome, style="" if f.outcome == "done" else "yellow"),
                Text(f.source),
            )
        parts.append(table)
    if summary.processes:
        table = Table(title=Text("guarded processes"), title_justify="left")
        for name, justify in (
            ("#", "right"),
            ("exit", "right"),
            ("CPU s", "right"),
            ("peak RSS MiB", "right"),
            ("peak PSS MiB", "right"),
            ("command", "left"),
        ):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for proc in summary.processes[:max_rows]:
            status = "?" if proc.exit_code is None else str(proc.exit_code)
            if proc.stopped_by_guard:
                status += " (stopped)"
            bad = proc.exit_code not in (0, None) and not proc.stopped_by_guard
            table.add_row(
                f"{proc.index:05d}",
                Text(status, style="red" if bad else ""),
                f"{proc.cpu_seconds:.2f}",
                _mib(proc.peak_rss_mib),
                _mib(proc.peak_pss_mib),
                Text(proc.command),
            )
        parts.append(table)
    if summary.ipv8_messages:
        table = Table(title=Text("IPv8 messages (all peers)"), title_justify="left")
        for name, justify in (
            ("overlay", "left"),
            ("message", "left"),
            ("peers", "right"),
            ("sent", "right"),
            ("received", "right"),
            ("KiB sent", "right"),
            ("KiB received", "right"),
        ):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for m in summary.ipv8_messages[:max_rows]:
            table.add_row(
                Text(m.overlay),
                Text(m.name),
                str(m.peers),
                str(m.sent),
                str(m.received),
                f"{m.bytes_sent / 1024:.1f}",
                f"{m.bytes_received / 1024:.1f}",
            )
        total = summary.ipv8_messages
        table.add_row(
            Text("total", style="bold"),
            "",
            "",
            str(sum(m.sent for m in total)),
            str(sum(m.received for m in total)),
            f"{sum(m.bytes_sent for m in total) / 1024:.1f}",
            f"{sum(m.bytes_received for m in total) / 1024:.1f}",
        )
        parts.append(table)
    if summary.errors:
        errors = Text()
        errors.append(
            f"{len(summary.errors)} error{'s' if len(summary.errors) != 1 else ''}:\n", style="bold red"
        )
        for error in summary.errors[:50]:
            if error.where:
                errors.append(error.where, style="bold")
                errors.append(": ")
            if error.peer is not None:
                errors.append(f"peer {error.peer}: ")
            errors.append(error.message)
            errors.append("\n")
        if len(summary.errors) > 50:
            errors.append(f"... and {len(summary.errors) - 50} more in summary.json\n", style="dim")
        parts.append(errors)
    return Group(*parts)
