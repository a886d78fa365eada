"""Plots of a run: resource series, annotations and fired events -> PNG files (replaces Gumby's R scripts).

Inputs are small typed values, so any stage can feed them:

* `TimeSeries` (from `resource_log`): `ResourceLog.cpu_series()` / `memory_series()`, per process or
  per peer (session);
* `Annotation`: (seconds since the experiment start, message, peer), read by `read_annotations` from a
  peer's `annotations.csv` (`<seconds>,<message>` lines) or from a merged file with a header naming a
  `peer` column (e.g. `peer,time,message`);
* `PeerEvents`: per peer, its `FiredEvent`s (planned and actual seconds since the start, callback name,
  whether it failed).

Outputs (each function returns the path it wrote, written atomically: never a truncated PNG):

* `plot_cpu` / `plot_memory` (or both at once with `plot_resources`): CPU seconds per second and RSS
  in MiB over time, one line per series; above `max_lines` series the figure shows the median and the
  min-max and quartile bands instead, so 100+ peers stay readable;
* fault bands (`FaultBand`, from the plan's partitions and the process faults carried out): shaded
  spans on the CPU and memory plots where a partition, a crash or a pause held;
* `plot_event_timeline` (the front end's `scenario_lang.timeline_png`, which `gscen plan --png` draws
  with too): one row per peer with a mark per event, coloured by callback (above `max_rows` peers: a
  heat map of events per peer and time bin), and below it the lateness (actual - planned) over time.

`plot_output_folder` draws all of them for a run's output folder (the resource log, the merged
annotations and each peer's events.csv, read with `peer_events_of`); `gscen run` and the
`graph_process_guard_data.sh` shim call it.

Annotations are drawn as vertical dashed lines, merged when several peers annotate the same message at
about the same time. matplotlib (Agg backend) is imported only inside the functions, so importing this
module is cheap.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scenario_lang.timeline_png import (
    WIDTH,
    Annotation,
    FiredEvent,
    PeerEvents,
    draw_annotations,
    new_figure,
    plot_event_timeline,
    save_png,
)

from .ipv8_statistics import message_label, run_message_series
from .resource_log import Grouping, ResourceLog, TimeSeries, read_resource_log
from .statistics import iter_peer_dirs
from .summary import read_peer_events

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclass(frozen=True, slots=True)
class FaultBand:
    """A span where a fault held, in seconds since the start: `kind` `partition`, `crashed` or
    `paused`; `label` says who (`1-5 | 6-10`, `peer 3`); `end` may be `math.inf` (still held)."""

    kind: str
    start: float
    end: float
    label: str


__all__ = [
    "Annotation",
    "FaultBand",
    "FiredEvent",
    "PeerEvents",
    "draw_fault_bands",
    "peer_events_of",
    "plot_cpu",
    "plot_event_timeline",
    "plot_memory",
    "plot_output_folder",
    "plot_resources",
    "read_annotations",
]


# --------------------------------------------------------------------------------------------- inputs
def read_annotations(path: Path, peer: str | None = None) -> list[Annotation]:
    """Read an `annotations.csv`.

    A peer's file has `<seconds>,<message>` lines (the message may hold commas); `peer` labels them.
    A merged file starts with a header naming its columns, one of them `peer`, one `time` (or
    `seconds`), and the message in `message` (or the last column). Lines in another format (Gumby's
    `print_dict_changes` lines share the file) are skipped. Raises OSError when the file can't be read.
    """
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        lines = f.read().splitlines()
    if not lines:
        return []
    first = [c.strip().lower() for c in next(csv.reader([lines[0]]))]
    if "peer" in first:
        return _read_merged(first, lines[1:])
    result: list[Annotation] = []
    for line in lines:
        seconds, sep, message = line.partition(",")
        value = _float(seconds)
        if sep and value is not None:
            result.append(Annotation(value, message, peer))
    return result


def _read_merged(header: list[str], lines: list[str]) -> list[Annotation]:
    peer_col = header.index("peer")
    time_col = next((header.index(n) for n in ("time", "seconds") if n in header), None)
    if time_col is None:
        return []
    message_col = header.index("message") if "message" in header else len(header) - 1
    result: list[Annotation] = []
    for row in csv.reader(lines):
        if len(row) < len(header):
            continue
        # A message with unquoted commas spills into extra columns: join them back.
        extra = len(row) - len(header)
        message = ",".join(row[message_col : message_col + extra + 1])
        value = _float(row[time_col if time_col < message_col else time_col + extra])
        peer_value = row[peer_col if peer_col < message_col else peer_col + extra]
        if value is not None:
            result.append(Annotation(value, message, peer_value))
    return result


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------- resources
def plot_resources(
    log: ResourceLog,
    out_dir: Path,
    *,
    by: Grouping = "session",
    labels: dict[int, str] | None = None,
    annotations: Sequence[Annotation] = (),
    start: float | None = None,
    max_lines: int = 12,
    bands: Sequence[FaultBand] = (),
) -> tuple[Path, Path]:
    """Write `cpu.png` and `memory.png` for a resource log into `out_dir`; return their paths.

    `by="session"` draws one series per guarded command (name them with `labels`: shell pid ->
    label, e.g. "peer 3"); `by="process"` one per process. See `plot_cpu` for `start`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    unit = "peer" if by == "session" else "process"
    cpu = plot_cpu(
        log.cpu_series(by, labels),
        out_dir / "cpu.png",
        annotations=annotations,
        start=start,
        max_lines=max_lines,
        unit=unit,
        bands=bands,
    )
    memory = plot_memory(
        log.memory_series(by, labels),
        out_dir / "memory.png",
        annotations=annotations,
        start=start,
        max_lines=max_lines,
        unit=unit,
        bands=bands,
    )
    return cpu, memory


def plot_cpu(
    series: Sequence[TimeSeries],
    path: Path,
    *,
    annotations: Sequence[Annotation] = (),
    start: float | None = None,
    max_lines: int = 12,
    unit: str = "process",
    title: str = "CPU usage",
    bands: Sequence[FaultBand] = (),
) -> Path:
    """CPU seconds per second over time, per series.

    `start` is the experiment start (epoch seconds, the clock of the series); the x axis is seconds
    since it, the clock of annotations. Without it, the x axis starts at the first sample.
    """
    return _plot_series(
        series, path, annotations, start, max_lines, unit, title, "CPU (seconds per second)", bands
    )


def plot_memory(
    series: Sequence[TimeSeries],
    path: Path,
    *,
    annotations: Sequence[Annotation] = (),
    start: float | None = None,
    max_lines: int = 12,
    unit: str = "process",
    title: str = "Memory (RSS)",
    bands: Sequence[FaultBand] = (),
) -> Path:
    """Resident memory in MiB over time, per series (see `plot_cpu` for `start`)."""
    return _plot_series(series, path, annotations, start, max_lines, unit, title, "RSS (MiB)", bands)


def _plot_series(
    series: Sequence[TimeSeries],
    path: Path,
    annotations: Sequence[Annotation],
    start: float | None,
    max_lines: int,
    unit: str,
    title: str,
    ylabel: str,
    bands: Sequence[FaultBand] = (),
) -> Path:
    import numpy as np

    fig = new_figure(WIDTH, 5.5)
    ax = fig.subplots()
    present = [s for s in series if s.times]
    if start is None:
        start = min((s.times[0] for s in present), default=0.0)
    if not present:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
    elif len(present) <= max_lines:
        for s in present:
            ax.plot(np.asarray(s.times) - start, s.values, linewidth=1.2, label=s.label)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, title=unit)
    else:
        grid = np.asarray(sorted({t for s in present for t in s.times}))
        index = {t: i for i, t in enumerate(grid.tolist())}
        values = np.full((len(present), len(grid)), np.nan)
        for row, s in enumerate(present):
            values[row, [index[t] for t in s.times]] = s.values
        x = grid - start
        counts = np.sum(~np.isnan(values), axis=0)
        keep = counts > 0
        x, values = x[keep], values[:, keep]
        lo, q1, median, q3, hi = np.nanpercentile(values, [0, 25, 50, 75, 100], axis=0)
        ax.fill_between(x, lo, hi, color="tab:blue", alpha=0.15, linewidth=0, label="min-max")
        ax.fill_between(x, q1, q3, color="tab:blue", alpha=0.35, linewidth=0, label="25-75 %")
        ax.plot(x, median, color="tab:blue", linewidth=1.5, label="median")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        title = f"{title}: {_plural(len(present), unit)}"
    ax.set_title(title)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    draw_annotations([ax], annotations)
    draw_fault_bands(ax, bands)
    save_png(fig, path)
    return path


_BAND_COLOURS = {"partition": "tab:purple", "crashed": "tab:red", "paused": "tab:orange"}


def draw_fault_bands(ax: Axes, bands: Sequence[FaultBand]) -> None:
    """Shade where each fault held, labelled at the top (a band still open at the end reaches the
    right edge of the plot)."""
    if not bands:
        return
    lo, hi = ax.get_xlim()
    hi = max(hi, *(b.start for b in bands))
    transform = ax.get_xaxis_transform()
    for i, band in enumerate(sorted(bands, key=lambda b: (b.start, b.kind, b.label))):
        end = min(band.end, hi)
        colour = _BAND_COLOURS.get(band.kind, "tab:gray")
        ax.axvspan(band.start, end, color=colour, alpha=0.12, linewidth=0, zorder=0.5)
        ax.text(
            band.start,
            0.98 - 0.05 * (i % 4),
            f"{band.kind}: {band.label}",
            transform=transform,
            fontsize=7,
            color=colour,
            va="top",
            clip_on=True,
        )
    ax.set_xlim(min(lo, *(b.start for b in bands)), hi)


# --------------------------------------------------------------------------------------------- shared
def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}es" if unit.endswith("s") else f"{n} {unit}s"


def plot_ipv8_messages(output_dir: Path, path: Path) -> Path | None:
    """`ipv8_messages.png`: IPv8 messages sent (solid) and received (dashed) per overlay and message
    type over time, summed over the peers (their ipv8_statistics.txt); None when no peer wrote one."""
    series = run_message_series(output_dir)
    if not series:
        return None
    fig = new_figure(WIDTH, 4.5)
    ax = fig.add_subplot()
    colors = [f"C{i % 10}" for i in range(len(series))]
    for color, ((overlay, message), rows) in zip(colors, series.items(), strict=True):
        times = [r[0] for r in rows]
        label = f"{overlay}: {message_label(message)}"[:50]
        ax.plot(times, [r[1] for r in rows], color=color, drawstyle="steps-post", label=f"{label} sent")
        ax.plot(
            times,
            [r[2] for r in rows],
            color=color,
            drawstyle="steps-post",
            linestyle="--",
            label=f"{label} received",
        )
    ax.set_xlabel("seconds since the start")
    ax.set_ylabel("messages (all peers, cumulative)")
    ax.set_title("IPv8 messages per overlay and message type")
    ax.legend(fontsize="x-small", loc="upper left")
    save_png(fig, path)
    return path


# --------------------------------------------------------------------------------------------- a run's folder
def peer_events_of(output_dir: Path) -> list[PeerEvents]:
    """The events each peer logged in `output_dir/<id>/events.csv` (peers without events left out)."""
    out = []
    for peer in iter_peer_dirs(output_dir):
        events = read_peer_events(peer.path)
        if not events:
            continue
        fired = [
            FiredEvent(
                e.planned if e.planned is not None else (e.actual or 0.0), e.actual, e.callback, e.failed
            )
            for e in events
        ]
        out.append(PeerEvents(peer.peer_id, fired))
    return out


def plot_output_folder(
    output_dir: Path,
    labels: Mapping[int, str] | None = None,
    start: float | None = None,
    peer_events: Sequence[PeerEvents] | None = None,
    bands: Sequence[FaultBand] = (),
) -> list[Path]:
    """Write the plots of an output folder (cpu.png, memory.png, events.png when peers logged events,
    ipv8_messages.png when IPv8 peers wrote statistics); return the files written. Missing inputs
    mean fewer plots, never an error."""
    written: list[Path] = []
    annotations: list[Annotation] = []
    merged = output_dir / "annotations.csv"
    try:
        annotations = read_annotations(merged) if merged.is_file() else []
    except OSError:
        annotations = []
    log_path = output_dir / "resource_usage.log"
    if log_path.is_file():
        log = read_resource_log(log_path)
        if log.processes:
            written.extend(
                plot_resources(
                    log,
                    output_dir,
                    by="session",
                    labels=dict(labels or {}),
                    annotations=annotations,
                    start=start,
                    bands=bands,
                )
            )
    if peer_events is None:
        peer_events = peer_events_of(output_dir)
    if peer_events:
        written.append(plot_event_timeline(peer_events, output_dir / "events.png", annotations=annotations))
    messages = plot_ipv8_messages(output_dir, output_dir / "ipv8_messages.png")
    if messages is not None:
        written.append(messages)
    return written
